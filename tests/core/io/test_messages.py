"""Messages about hostile cells stay short and say what is really wrong: a 3 MB cell is quoted
by its first characters, and a carriage return outside quotes is named as such (it was
reported as a file with a single column)."""

from __future__ import annotations

import pandas as pd
import pytest

from medinn_core.cli import main
from medinn_core.errors import MAX_QUOTED, DataError, list_examples
from medinn_core.io import load_table
from medinn_core.schema import infer_schema
from medinn_core.validate import validate

HUGE = "ZQX" + "y" * 3_000_000


def test_a_long_value_is_quoted_by_its_first_characters():
    shown = list_examples([HUGE, "short", 7])
    assert shown.startswith(repr(HUGE[:MAX_QUOTED]) + "… (3,000,003 characters), 'short', 7")


def test_a_huge_cell_gives_a_short_warning():
    df = pd.DataFrame({"age": [str(40 + i) for i in range(40)], "y": [0, 1] * 20})
    df.loc[5, "age"] = HUGE
    schema = infer_schema(df.astype({"age": "str"}), "y")
    (warning,) = [w for w in validate(df, schema).warnings if w.code == "not_numeric"]
    assert "ZQXyyy" in warning.message and len(warning.message) < 500


def test_a_huge_cell_gives_one_short_error_line(tmp_path, capsys):
    rows = [f"{i},{40 + i}" for i in range(30)] + [f"30,{HUGE}"]
    path = tmp_path / "dose.csv"
    path.write_text("x,dose\n" + "\n".join(rows) + "\n")
    code = main(
        [
            "train",
            str(path),
            "--target",
            "dose",
            "--task",
            "regression",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert "ZQXyyy" in line and "3,000,003 characters" in line and len(line) < 1000


CARRIAGE = {
    "old_mac.csv": (b"age,note,y\r1,a,0\r2,c,1\r", r"carriage return only \(old Mac"),
    "bare_cr.csv": (
        b"age,note,y\n1,a,0\n2,c\rd,1\n",
        r"carriage return .* not in quotes, on line 3",
    ),
    "after_quote.csv": (
        b'age,note,y\n1,"a"\rb,0\n2,c,1\n',
        r"carriage return .* not in quotes, on line 2",
    ),
}


@pytest.mark.parametrize("name", sorted(CARRIAGE))
def test_a_carriage_return_outside_quotes_is_named(name):
    content, message = CARRIAGE[name]
    with pytest.raises(DataError, match=rf"'{name}' .*{message}") as caught:
        load_table(content, name=name)
    assert "single column" not in str(caught.value)


def test_a_carriage_return_in_quotes_is_a_value():
    df, _ = load_table(b'age,note,y\n1,"a\rb",0\n2,"c",1\n', name="quoted.csv")
    assert df["note"].tolist() == ["a\rb", "c"]
