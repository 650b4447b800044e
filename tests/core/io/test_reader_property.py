"""Property: whatever bytes arrive, the reader returns a clean frame or raises DataError naming
the file, nothing else, and within a bounded time (Hypothesis' deadline)."""

import codecs

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medinn_core.errors import DataError
from medinn_core.io import MISSING_MARKERS, load_table

NAME = "fuzz.csv"
DEADLINE_MS = 2000
# Cells a clinical export holds, and the ones that break readers.
_ODD_CELLS = (
    *MISSING_MARKERS, "inf", "-inf", "1e309", "Infinity", "0", "-0", "007", "1,5", "1.234,5",
    "1,234", "1,234.5", "12 500", "2021-03-04", "04/03/2021", '=HYPERLINK("x")', "+cmd",
    "@SUM(A1)", '"', '""', '"a,b"', '"a\nb"', "Zürich", "Besançon", "\t", " ", "\x00", "\x1a",
)  # fmt: skip
_CELLS = st.one_of(
    st.sampled_from(_ODD_CELLS),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6),
)
_NAMES = st.one_of(st.sampled_from(["age", "age", "", " ", "1", "target", "x y"]), _CELLS)
_DELIMITER = st.sampled_from([",", ";", "\t", "|", ":", " "])
_NEWLINE = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def near_csv(draw) -> str:
    """A header and rows, mostly with one delimiter, sometimes with another or a ragged row."""
    delimiter, newline = draw(_DELIMITER), draw(_NEWLINE)
    width = draw(st.integers(1, 6))
    lines = [delimiter.join(draw(st.lists(_NAMES, min_size=width, max_size=width)))]
    for _ in range(draw(st.integers(0, 12))):
        cells = draw(st.lists(_CELLS, min_size=max(1, width - 1), max_size=width + 1))
        lines.append(draw(st.sampled_from([delimiter] * 4 + [",", ";"])).join(cells))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


_ENCODED = st.builds(
    lambda text, encoding, bom: bom + text.encode(encoding, errors="replace"),
    near_csv(),
    st.sampled_from(["utf-8", "cp1252", "utf-16-le", "utf-16-be", "latin-1"]),
    st.sampled_from([b"", b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE]),
)
_MAGIC = st.sampled_from(
    [b"", b"%PDF-1.4", b"PK\x03\x04", b"PAR1", b"\x1f\x8b", b"\xd0\xcf\x11\xe0", codecs.BOM_UTF8,
     codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE]
)  # fmt: skip


def frame_or_data_error(source, name: str = NAME) -> None:
    try:
        df, info = load_table(source, name=name)
    except DataError as exc:
        assert f"'{name}'" in str(exc), str(exc)
        assert "\n" not in str(exc)
        return
    assert isinstance(df, pd.DataFrame) and len(df) >= 1
    names = list(df.columns)
    assert all(isinstance(c, str) and c and c == c.strip() for c in names)
    assert len(set(names)) == len(names)
    assert isinstance(df.index, pd.RangeIndex)
    assert (info.n_rows, info.n_columns) == df.shape
    for column in names:
        kind = str(df[column].dtype)
        assert kind in ("str", "int64", "float64"), (column, kind)
        if kind == "str":
            values = set(df[column].dropna())
            assert not values & set(MISSING_MARKERS)
            assert all(v == v.strip() for v in values)


@settings(max_examples=150, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow])
@given(_MAGIC, st.binary(max_size=3000))
def test_random_bytes(magic, content):
    frame_or_data_error(magic + content)


@settings(max_examples=200, deadline=DEADLINE_MS, suppress_health_check=[HealthCheck.too_slow])
@given(_ENCODED)
def test_near_csv_text(content):
    frame_or_data_error(content)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=60,
    deadline=DEADLINE_MS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.one_of(_ENCODED, _MAGIC.flatmap(lambda m: st.binary(max_size=500).map(m.__add__))))
def test_files_on_disk_read_as_their_bytes(folder, content):
    path = folder / NAME
    path.write_bytes(content)
    frame_or_data_error(path)
    try:
        from_path = load_table(path)[0]
    except DataError as exc:
        with pytest.raises(DataError, match=str(exc)[:20].replace("(", r"\(")):
            load_table(content, name=NAME)
    else:
        pd.testing.assert_frame_equal(from_path, load_table(content, name=NAME)[0])
