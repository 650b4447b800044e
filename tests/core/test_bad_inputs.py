"""The bad-input corpus (tests/data/bad) through the core API: each file is caught at its stage
with a message that names the file or the column and says what to do, or is read correctly."""

import re
import time
import tracemalloc

import pandas as pd
import pytest

from medinn_core.errors import DataError, SchemaError
from medinn_core.io import escape_formulas, fingerprint, load_table, read_table
from medinn_core.predict import require_columns, score_frame
from medinn_core.schema import Kind, infer_schema
from medinn_core.validate import validate

from ..data.bad import make_bad
from ..data.bad.make_bad import CASES, FORMULAS

FIX = re.compile(
    r"\b(Upload|Save|Export|Remove|Rename|Give|Add|Keep|Split|Decompress|Unzip|Write|Check|"
    r"Choose|Merge|Include|Exclude|Correct|Group|Fix|Mark|Use)\b",
    re.IGNORECASE,
)


def cases(stage: str, *outcomes: str) -> list:
    chosen = [c for c in CASES if c.stage == stage and c.outcome in outcomes]
    return [pytest.param(c, id=c.name) for c in chosen]


def checks_before_training(df, case) -> tuple[list[str], list[str]]:
    """Errors and warnings of what the app and the CLI run before training on ``case.target``."""
    try:
        schema = infer_schema(df, case.target)
    except SchemaError as exc:
        return [str(exc)], []
    for name in case.include:
        schema = schema.with_column(name, kind=Kind.NUMERIC, excluded=False)
    report = validate(df, schema)
    return [i.message for i in report.errors], [i.message for i in report.warnings]


# -- the corpus itself --------------------------------------------------------------------------
def test_the_corpus_covers_issue_6():
    names = [c.name for c in CASES]
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert {c.stage for c in CASES} == {"read", "train", "predict"}
    for case in CASES:
        assert case.outcome in ("error", "warning", "ok"), case.name
        re.compile(case.match)
        if case.outcome != "ok":  # the message names the file or a column, or the whole table
            assert "'" in case.match or "table" in case.match, case.name


def test_the_corpus_is_generated_the_same_every_time(bad_files):
    for case in CASES:
        if case.build is not None:
            assert case.build() == bad_files[case.name].read_bytes(), case.name
    huge = bad_files["huge_2gb.csv"]
    assert huge.stat().st_size == make_bad.SPARSE_BYTES
    assert huge.stat().st_blocks * 512 < 1_000_000  # sparse: no 2 GB on disk


# -- read ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("read", "error"))
def test_unreadable_files_are_refused_with_the_file_and_the_fix(case, bad_files):
    path = bad_files[case.name]
    with pytest.raises(DataError) as info:
        load_table(path)
    message = str(info.value)
    assert re.search(case.match, message), message
    assert FIX.search(message), message
    assert "\n" not in message
    if case.build is not None:  # the same from an upload's bytes
        with pytest.raises(DataError) as again:
            read_table(path.read_bytes(), name=case.name)
        assert str(again.value) == message


def test_a_2gb_file_is_refused_by_its_size_before_it_is_read(bad_files):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DataError, match=r"'huge_2gb\.csv' is 2098\.1 MB.*max_bytes"):
            load_table(bad_files["huge_2gb.csv"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1
    assert peak < 5_000_000  # not even the first megabyte was read
    with pytest.raises(DataError, match=r"more than the limit of 100\.0 MB"):
        load_table(bad_files["huge_2gb.csv"], max_bytes=100 * 1024 * 1024)


def test_every_read_case_is_named_in_the_catalogue():
    read_cases = {c.name for c in CASES if c.stage == "read"}
    for expected in ("empty.csv", "header_only.csv", "binary_junk.csv", "report.pdf.csv",
                     "wrong_delimiter.csv", "mixed_delimiters.csv", "ragged_rows.csv",
                     "duplicate_headers.csv", "blank_header.csv", "wide_10000_columns.csv",
                     "huge_2gb.csv", "utf16.csv", "latin1_accents.csv"):  # fmt: skip
        assert expected in read_cases


@pytest.mark.parametrize("case", cases("read", "ok"))
def test_readable_files_are_read_with_a_note(case, bad_files):
    df, info = load_table(bad_files[case.name])
    assert any(re.search(case.match, note) for note in info.notes), info.notes
    assert len(df) == 60


@pytest.mark.parametrize("name", ["utf16.csv", "utf16_no_bom.csv", "latin1_accents.csv"])
def test_accents_survive_every_encoding(name, bad_files):
    df = read_table(bad_files[name])
    utf8 = make_bad._latin1("utf-8")()
    assert fingerprint(df) == fingerprint(read_table(utf8, name="utf8.csv"))
    assert set(df["site"]) == {"Zürich", "Málaga", "Besançon", "Åre"}


def test_decimal_commas_read_as_the_same_numbers(bad_files):
    df = read_table(bad_files["decimal_commas.csv"])
    with_points = read_table(make_bad._csv(make_bad._cohort(60), ";"), name="points.csv")
    assert fingerprint(df) == fingerprint(with_points)
    assert str(df["creatinine"].dtype) == "float64"


def test_thousands_separators_read_as_whole_numbers(bad_files):
    df = read_table(bad_files["thousands_separators.csv"])
    assert df["platelets"].tolist() == [150_000 + 997 * i for i in range(60)]
    assert str(df["platelets"].dtype) == "int64"


@pytest.mark.parametrize(
    ("text", "expected", "meaning"),
    [
        ("x;y\n1,234;a\n-2;b\n", [1.234, -2.0], "decimal commas"),  # ';': the file says so
        ('x,y\n"1,234",a\n"-12,000",b\n', [1234, -12000], "thousands separators"),  # ','
        ("x\ty\n1,234\ta\n70,5\tb\n", [1.234, 70.5], "decimal commas"),  # "70,5" says so
        ("x|y\n1,234|a\n1,234.5|b\n", [1234.0, 1234.5], "thousands separators"),
        ('x,y\n"0,5",a\n"2,75",b\n', [0.5, 2.75], "decimal commas"),
    ],
)
def test_commas_in_numbers_are_read_when_their_meaning_is_certain(text, expected, meaning):
    df, info = load_table(text.encode(), name="n.csv")
    assert df["x"].tolist() == expected
    assert any(note.startswith(f"Read {meaning} in 'x'") for note in info.notes), info.notes


@pytest.mark.parametrize(
    "text",
    [
        "x\ty\n1,234\ta\n2\tb\n",  # tab: 1.234 or 1234?
        "x;y\n1,5;a\n1.234;b\n",  # a decimal comma beside a point
        'x,y\n"1,234.5",a\n"1,5",b\n',  # a thousands separator beside a decimal comma
    ],
)
def test_commas_that_could_mean_two_things_are_refused(text):
    with pytest.raises(DataError, match=r"In 'n\.csv', column 'x' holds numbers .*decimal point"):
        read_table(text.encode(), name="n.csv")


def test_text_with_commas_stays_text():
    df = read_table(b'x,y\n"1,2,3",a\n"chest pain, dyspnoea",b\n', name="t.csv")
    assert df["x"].tolist() == ["1,2,3", "chest pain, dyspnoea"]


def test_formulas_are_read_as_text_and_escaped_on_export(bad_files):
    df = read_table(bad_files["formulas.csv"])
    assert df["patient_id"].head(6).tolist() == [*FORMULAS, *FORMULAS]
    assert "=1+2" in set(df["chest_pain"])
    escaped = escape_formulas(df)
    assert escaped["patient_id"].head(6).tolist() == ["'" + f for f in (*FORMULAS, *FORMULAS)]
    assert (escaped.loc[df["chest_pain"] == "=1+2", "chest_pain"] == "'=1+2").all()
    assert escaped["age"].equals(df["age"])  # numbers stay numbers
    # a column named like a formula reaches the header of an export escaped too
    headers = escape_formulas(pd.DataFrame({"=cmd|' /C calc'!A0": ["x"], "age": [1]})).columns
    assert list(headers) == ["'=cmd|' /C calc'!A0", "age"]


# -- before training ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("train", "error"))
def test_targets_and_tables_that_cannot_train_are_stopped(case, bad_files):
    errors, _ = checks_before_training(read_table(bad_files[case.name]), case)
    assert any(re.search(case.match, e) for e in errors), errors
    assert all(FIX.search(e) for e in errors), errors


@pytest.mark.parametrize("case", cases("train", "warning"))
def test_suspicious_columns_are_warned_about_by_name(case, bad_files):
    errors, warnings = checks_before_training(read_table(bad_files[case.name]), case)
    assert not errors
    found = [w for w in warnings if re.search(case.match, w)]
    assert found, warnings
    assert FIX.search(found[0]), found[0]


def test_an_empty_feature_is_left_out_with_its_reason(bad_files):
    df = read_table(bad_files["feature_all_missing.csv"])
    lactate = infer_schema(df, "mace_1y").column("lactate")
    assert lactate.excluded and lactate.reason == "every value is missing"


def test_leakage_names_both_columns(bad_files):
    case = make_bad.BY_NAME["leakage.csv"]
    _, warnings = checks_before_training(read_table(bad_files[case.name]), case)
    leak = next(w for w in warnings if "leakage" in w)
    assert "'event_recorded'" in leak and "'mace_1y'" in leak


def test_infinite_values_are_treated_as_missing_by_the_model(bad_files, binary_result):
    df = read_table(bad_files["inf_values.csv"])
    assert str(df["creatinine"].dtype) == "str"  # the reader does not turn 'inf' into a number
    risk = score_frame(binary_result.model, df)["risk"]
    assert risk.between(0, 1).all()
    as_missing = df.assign(creatinine=df["creatinine"].where(~df.index.isin([3, 10, 17])))
    assert risk.tolist() == pytest.approx(score_frame(binary_result.model, as_missing)["risk"])


# -- predict ------------------------------------------------------------------------------------
def test_columns_that_do_not_match_the_model_are_named(bad_files, binary_result):
    case = make_bad.BY_NAME["model_mismatch.csv"]
    df = read_table(bad_files[case.name])
    with pytest.raises(SchemaError) as info:
        require_columns(df, binary_result.model, f"'{case.name}'")
    assert re.search(case.match, str(info.value)) and FIX.search(str(info.value))


def test_scores_of_formula_cells_are_escaped(bad_files, binary_result):
    df = read_table(bad_files["formulas.csv"])
    check = require_columns(df, binary_result.model, "'formulas.csv'")
    assert "=1+2" in check.unseen["chest_pain"]
    scores = escape_formulas(score_frame(binary_result.model, df))
    assert scores["patient_id"].head(3).tolist() == ["'" + f for f in FORMULAS]
    assert scores["risk"].between(0, 1).all()
