"""Tests of medinn_core.io: reading messy CSV, Excel and Parquet tables."""

from __future__ import annotations

import codecs
import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medinn_core.errors import DataError
from medinn_core.io import (
    MISSING_MARKERS,
    fingerprint,
    iter_csv_chunks,
    load_table,
    read_table,
    use_jemalloc,
)
from medinn_core.preprocess import clean_column
from medinn_core.schema import Column, Kind

# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"  \r\n\n\t\n", codecs.BOM_UTF8])
def test_empty_file_is_refused(content):
    with pytest.raises(DataError, match=r"'empty\.csv' is empty"):
        read_table(content, name="empty.csv")


def test_header_only_is_refused():
    with pytest.raises(DataError, match=r"'h\.csv' has column names but no data rows"):
        read_table(b"age,sex\r\n", name="h.csv")


def test_rows_that_are_all_empty_count_as_no_data():
    with pytest.raises(DataError, match=r"'h\.csv' has column names but no data rows"):
        read_table(b"age,sex\n,\n , \n", name="h.csv")


def test_first_row_of_numbers_is_not_a_header():
    with pytest.raises(DataError, match=r"first row of 'x\.csv' looks like data.*Add a header row"):
        read_table(b"1,2.5,3\n4,5,6\n", name="x.csv")


def test_duplicate_column_names_are_named():
    # pandas would rename the second 'age' to 'age.1'; the raw header is checked instead.
    with pytest.raises(DataError, match=r"'d\.csv' has duplicate column names: 'age'\. Rename"):
        read_table(b"age,sex, age\n1,M,2\n", name="d.csv")


@pytest.mark.parametrize(
    ("header", "expected"),
    [(b"a,,c", r"column 2 has no name"), (b"a, ,c,", r"columns 2, 4 have no name")],
)
def test_blank_column_names_give_their_position(header, expected):
    with pytest.raises(DataError, match=rf"In 'b\.csv', {expected}"):
        read_table(
            header + b"\n" + b",".join([b"1"] * (header.count(b",") + 1)) + b"\n", name="b.csv"
        )


def test_single_column_points_at_the_delimiter():
    with pytest.raises(DataError, match=r"'one\.csv' has a single column.*delimiter"):
        read_table(b"name:age\nann:3\nbob:4\n", name="one.csv")


def test_ragged_rows_give_line_numbers():
    content = b"a,b\n1,2\n1,2,3\n4,5\n6,7,8,9\n"
    with pytest.raises(DataError, match=r"'r\.csv' has rows with more values.*on lines 3, 5\."):
        read_table(content, name="r.csv")


def test_ragged_rows_list_at_most_five():
    content = b"a,b\n" + b"1,2,3\n" * 7
    with pytest.raises(DataError, match=r"lines 2, 3, 4, 5, 6 and 2 more"):
        read_table(content, name="r.csv")


def test_short_rows_are_padded_with_missing_values():
    df = read_table(b"a,b,c\n1,2\n3,4,5\n")
    assert df["c"].isna().tolist() == [True, False]
    assert df["a"].tolist() == [1, 3]


def test_file_over_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n1,2\n")
    monkeypatch.setattr("medinn_core.io._open.os.path.getsize", lambda _: 300 * 1024 * 1024)
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("opened a file too big"))
    with pytest.raises(DataError, match=r"'big\.csv' is 300\.0 MB.*limit of 200\.0 MB.*max_bytes"):
        read_table(path)


def test_bytes_over_the_limit_are_refused():
    with pytest.raises(DataError, match=r"'u\.csv' is .* MB, more than the limit.*Split"):
        read_table(b"a,b\n1,2\n" * 100, name="u.csv", max_bytes=100)


@pytest.mark.parametrize("content", [b"a,b\n\x00\x01\x02,3\n", bytes(range(1, 256)) * 4])
def test_binary_junk_is_not_a_text_csv(content):
    with pytest.raises(DataError, match=r"'junk\.csv' is not a text CSV"):
        read_table(content, name="junk.csv")


def test_pdf_renamed_csv_is_called_a_pdf():
    with pytest.raises(DataError, match=r"'report\.csv' is a PDF document"):
        read_table(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", name="report.csv")


def test_zip_that_is_not_a_workbook_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"'data\.zip' is a ZIP archive"):
        read_table(path)


def test_too_many_columns_are_refused():
    header = ",".join(f"c{i}" for i in range(10_000)).encode()
    with pytest.raises(DataError, match=r"'wide\.csv' has 10000 columns, medinn supports at most"):
        read_table(header + b"\n" + b",".join([b"1"] * 10_000) + b"\n", name="wide.csv")


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"Cannot read 'nope\.csv'"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 40, "an Excel workbook"),
        ("broken.parquet", b"PAR1" + b"\x01" * 40, "a Parquet file"),
    ],
)
def test_damaged_workbook_and_parquet_are_data_errors(name, content, kind):
    with pytest.raises(DataError, match=rf"'{name}' could not be read as {kind}"):
        read_table(content, name=name)


# --- delimiters, encodings, line ends -------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(delimiter):
    content = f"id{delimiter}weight{delimiter}city\n1{delimiter}70,5{delimiter}Bern\n"
    df, info = load_table(content.encode())
    assert info.delimiter == delimiter
    assert df.columns.tolist() == ["id", "weight", "city"]
    assert df["weight"].tolist() == [70.5]  # "70,5" can only be a decimal comma
    assert "Read decimal commas in 'weight' ('1,5' as 1.5)" in info.notes


def test_quoted_delimiters_and_newlines_stay_in_their_cell():
    df = read_table(b'id,note\n1,"stable, no pain"\n2,"line one\nline two ""quoted"""\n')
    assert df["note"].tolist() == ["stable, no pain", 'line one\nline two "quoted"']


def test_utf8_bom_is_not_part_of_the_first_name():
    df, info = load_table(codecs.BOM_UTF8 + "id,city\n1,Zürich\n".encode())
    assert df.columns.tolist() == ["id", "city"]
    assert info.encoding == "utf-8-sig"
    assert df["city"].tolist() == ["Zürich"]


def test_crlf_line_ends_leave_no_carriage_returns():
    df = read_table(b"id,sex\r\n1,F\r\n2,M\r\n")
    assert df["sex"].tolist() == ["F", "M"]
    assert df["id"].tolist() == [1, 2]


def test_cp1252_accents_round_trip():
    content = "city;name;note\r\nZürich;café;crème brûlée\r\nGenève;Müller;Straße\r\n"
    df, info = load_table(content.encode("cp1252"), name="w.csv")
    assert info.encoding == "cp1252"
    assert "Read as cp1252" in info.notes
    assert df["city"].tolist() == ["Zürich", "Genève"]
    assert df["name"].tolist() == ["café", "Müller"]
    assert df["note"].tolist() == ["crème brûlée", "Straße"]


def test_cp1252_accents_after_the_first_megabyte():
    rows = "".join(f"{i},Bern\n" for i in range(120_000))
    content = ("id,city\n" + rows + "999999,Zürich\n").encode("cp1252")
    assert len(content) > 1024 * 1024
    df, info = load_table(content)
    assert df["city"].iloc[-1] == "Zürich"
    assert info.encoding == "cp1252"


def test_utf16_with_bom():
    df, info = load_table("id\tcity\r\n1\tZürich\r\n2\tMalmö\r\n".encode("utf-16"))
    assert info.encoding == "utf-16"
    assert df["city"].tolist() == ["Zürich", "Malmö"]
    assert df["id"].tolist() == [1, 2]


# --- cleaning and types ---------------------------------------------------------------------


@pytest.mark.parametrize("marker", MISSING_MARKERS)
def test_missing_markers_become_nan(marker):
    df = read_table(f"age,sex\n42,F\n{marker},M\n 7 ,{marker}\n".encode())
    assert df["age"].isna().tolist() == [False, True, False]
    assert df["age"].dtype == "float64"
    assert df["sex"].isna().tolist() == [False, False, True]


def test_headers_and_categories_are_trimmed():
    df, info = load_table(b" age ,sex \n42, F\n50,M  \n")
    assert df.columns.tolist() == ["age", "sex"]
    assert df["sex"].tolist() == ["F", "M"]
    assert "Trimmed spaces in 2 header names" in info.notes
    assert "Trimmed spaces in 2 cells" in info.notes


def test_leading_zeros_keep_identifiers_as_text():
    df, info = load_table(b"id,postcode,age\n00123,01067,42\n00124,80331,50\n")
    assert df["id"].tolist() == ["00123", "00124"]
    assert df["postcode"].tolist() == ["01067", "80331"]
    assert pd.api.types.is_string_dtype(df["id"])
    assert df["age"].dtype == "int64"
    assert any("leading zeros" in note and "'id'" in note for note in info.notes)


def test_types_change_only_when_nothing_is_lost():
    content = (
        b"whole,gaps,real,mixed,big,date,spelled\n"
        b"1,1,1.5,12,12345678901234567890,2024-01-31,inf\n"
        b"2,,2,abc,1,2024-02-01,1\n"
        b"-3,3,1e3,7,2,2024-02-02,2\n"
    )
    df = read_table(content)
    assert df["whole"].dtype == "int64"
    assert df["gaps"].dtype == "float64"  # whole numbers with gaps are float64
    assert df["real"].tolist() == [1.5, 2.0, 1000.0]
    for column in ["mixed", "big", "date", "spelled"]:  # left to validation, unchanged
        assert pd.api.types.is_string_dtype(df[column]), column
    assert df["mixed"].tolist() == ["12", "abc", "7"]
    assert df["big"].iloc[0] == "12345678901234567890"


def test_empty_rows_are_dropped_before_typing():
    df, info = load_table(b"a,b\n1,2\n,\n3,4\n")
    assert df["a"].dtype == "int64"
    assert df.index.tolist() == [0, 1]
    assert "Dropped 1 empty row" in info.notes


def test_info_describes_the_table():
    info = load_table(b"a;b\n1;x\n2;y\n", name="t.csv")[1]
    assert (info.name, info.format, info.delimiter) == ("t.csv", "csv", ";")
    assert (info.n_rows, info.n_columns, info.size_bytes) == (2, 2, 12)


def test_path_and_bytes_give_the_same_frame(tmp_path):
    content = "id;age;city\r\n001;42;Zürich\r\n002;NA;Bern\r\n".encode("cp1252")
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    by_path, path_info = load_table(path)
    by_bytes, bytes_info = load_table(content, name="p.csv")
    pd.testing.assert_frame_equal(by_path, by_bytes)
    assert path_info == bytes_info
    assert fingerprint(by_path) == fingerprint(by_bytes)


def test_cell_values_are_not_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="medinn_core")
    read_table(b"name,age\nJane Secretpatient,42\nJoe\n", name="p.csv")  # a short row: C parser
    assert "Secretpatient" not in caplog.text


# --- Excel and Parquet ----------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["001", "002", "003"],
            "age": [42, 50, 61],
            "chol": [180.5, np.nan, 240.0],
            "city": ["Zürich", "Genève", np.nan],
        }
    )


def test_xlsx_round_trip(tmp_path):
    path = tmp_path / "t.xlsx"
    _frame().to_excel(path, index=False)
    df, info = load_table(path)
    assert info.format == "xlsx"
    pd.testing.assert_frame_equal(df, _frame())
    # Uploaded bytes without the suffix are recognised from the workbook inside the zip.
    pd.testing.assert_frame_equal(read_table(path.read_bytes(), name="upload"), _frame())


def test_xlsx_is_cleaned_like_csv(tmp_path):
    path = tmp_path / "t.xlsx"
    frame = pd.DataFrame({" age ": ["42", "NA", " 7"], "sex": ["F ", "M", "?"]})
    frame.to_excel(path, index=False)
    df = read_table(path)
    assert df.columns.tolist() == ["age", "sex"]
    assert df["age"].tolist()[::2] == [42.0, 7.0]
    assert df["sex"].tolist()[:2] == ["F", "M"]
    assert df.isna().sum().tolist() == [1, 1]


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "t.parquet"
    _frame().to_parquet(path, index=False)
    df, info = load_table(path)
    assert (info.format, info.encoding, info.delimiter) == ("parquet", None, None)
    pd.testing.assert_frame_equal(df, _frame())


def test_parquet_index_becomes_a_column_and_text_is_cleaned(tmp_path):
    path = tmp_path / "t.parquet"
    frame = pd.DataFrame({"patient": ["p1", "p2"], "sex": [" F", "NA"]}).set_index("patient")
    frame.to_parquet(path)
    df = read_table(path.read_bytes(), name="t.parquet")
    assert sorted(df.columns) == ["patient", "sex"]
    assert df["sex"].iloc[0] == "F"
    assert pd.isna(df["sex"].iloc[1])


# --- chunks and fingerprints ----------------------------------------------------------------


def test_chunks_concatenate_to_load_table(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(
        {
            "id": [f"{i:06d}" for i in range(n)],
            "age": rng.integers(18, 95, n),
            "chol": np.where(rng.random(n) < 0.1, np.nan, rng.normal(200, 30, n).round(1)),
            "sex": rng.choice([" F", "M ", "NA"], n),
        }
    )
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False, sep=";")
    chunks = list(iter_csv_chunks(path, chunk_rows=700))
    assert len(chunks) == 5
    assert all(chunk.columns.tolist() == ["id", "age", "chol", "sex"] for chunk in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks), read_table(path))


def test_chunks_refuse_what_load_table_refuses(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"a,b\n1,2\n1,2,3\n")
    with pytest.raises(DataError, match=r"'r\.csv' has rows with more values.*line 3\."):
        list(iter_csv_chunks(path))
    path.write_bytes(b"a,b\n")
    with pytest.raises(DataError, match=r"no data rows"):
        list(iter_csv_chunks(path))
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"'r\.csv' is a Parquet file; reading in chunks needs"):
        iter_csv_chunks(path)


def _numbers(chunks, name):
    column = Column(name, Kind.NUMERIC)
    return np.concatenate([clean_column(chunk[name], column).to_numpy() for chunk in chunks])


def test_as_float_columns_hold_what_scoring_makes_of_the_cleaned_text(tmp_path):
    rng = np.random.default_rng(1)
    n = 2000
    chol = rng.normal(200, 30, n).round(2).astype(str).astype(object)
    chol[::9], chol[1::13], chol[2::17] = "NA", "", "?"  # missing markers as written
    chol[3::19] = " 187.5 "  # padded numbers are numbers
    chol[4::23] = "0190"  # a leading zero keeps a column as text, scoring reads 190
    chol[5] = "1e400"  # too large for a float: missing once scoring cleans it
    frame = pd.DataFrame({"id": [f"{i:05d}" for i in range(n)], "age": rng.integers(18, 95, n),
                          "chol": chol, "sex": rng.choice([" F", "M", "NA"], n)})  # fmt: skip
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    text = list(iter_csv_chunks(path, chunk_rows=600))
    fast = list(iter_csv_chunks(path, chunk_rows=600, as_float=["age", "chol"]))
    assert [c.index[0] for c in fast] == [c.index[0] for c in text] == [0, 600, 1200, 1800]
    assert all(c["chol"].dtype == c["age"].dtype == np.float64 for c in fast)
    assert text[0]["chol"].dtype == "str"  # what the generic reader made of the leading zeros
    for name in ("age", "chol"):
        assert np.array_equal(_numbers(fast, name), _numbers(text, name), equal_nan=True)
    pd.testing.assert_frame_equal(
        pd.concat(fast)[["id", "sex"]], pd.concat(text)[["id", "sex"]]
    )  # the other columns are cleaned as text, identifiers keep their zeros


def test_as_float_reads_as_text_from_the_chunk_with_something_else(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("medinn_core.io._parse._STREAM_BLOCK_BYTES", 4096)  # blocks of ~400 rows
    n = 3000
    frame = pd.DataFrame({"age": np.arange(n) % 90 + 10, "hba1c": np.linspace(4, 12, n).round(1)})
    frame["hba1c"] = frame["hba1c"].astype(str)
    frame.loc[1500, "hba1c"] = "7,5 (repeat)"  # in the third chunk of 700
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="medinn_core.io"):
        fast = list(iter_csv_chunks(path, chunk_rows=700, as_float=["age", "hba1c"]))
    text = list(iter_csv_chunks(path, chunk_rows=700))
    # Chunks up to the block (of the reader's) that holds the text are read as floats.
    floats = [c["age"].dtype == np.float64 for c in fast]
    assert floats == [True] * floats.count(True) + [False] * floats.count(False)
    assert floats[0] and not floats[2]
    assert [c.index[0] for c in fast] == [0, 700, 1400, 2100, 2800]
    for name in ("age", "hba1c"):
        assert np.array_equal(_numbers(fast, name), _numbers(text, name), equal_nan=True)
    assert f"from chunk {floats.count(True) + 1} on, every column is read as text" in caplog.text
    assert "7,5" not in caplog.text  # cell values never reach the log


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b'"age\nyears",chol\n50,180\n60,190\n', None),  # a line break in a header name
        (b"\xef\xbb\xbfage;chol\n50;180,5\n", None),  # BOM, decimal comma
        (b"age,chol\n50,180\n51,181,1\n", r"'p\.csv' has rows with more values.*line 3\."),
        (b"age,chol\n", r"no data rows"),
    ],
)
def test_as_float_reads_odd_files_as_without_it(tmp_path, content, error):
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    if error:
        with pytest.raises(DataError, match=error):
            list(iter_csv_chunks(path, as_float=["chol"]))
        return
    fast = pd.concat(iter_csv_chunks(path, as_float=["chol"]))
    text = pd.concat(iter_csv_chunks(path))
    assert fast.columns.tolist() == text.columns.tolist()
    assert np.array_equal(_numbers([fast], "chol"), _numbers([text], "chol"))


def test_fingerprint_is_stable_and_sensitive():
    frame = _frame()
    assert fingerprint(frame) == fingerprint(frame.copy())
    assert fingerprint(frame).startswith("sha256:")
    changed = frame.copy()
    changed.loc[1, "city"] = "Genf"
    renamed = frame.rename(columns={"age": "AGE"})
    prints = {fingerprint(f) for f in (frame, changed, renamed, frame.iloc[::-1])}
    assert len(prints) == 4


# --- property: anything in, a frame or a DataError out --------------------------------------

_CELLS = st.one_of(
    st.sampled_from([*MISSING_MARKERS, '"', '""', " ", "00123", "Zürich", "1,5"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8),
)
_NEAR_CSV = st.builds(
    lambda rows, delimiter, newline: newline.join(delimiter.join(row) for row in rows),
    st.lists(st.lists(_CELLS, min_size=1, max_size=6), min_size=1, max_size=12),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
_TOKEN_SOUP = st.lists(st.one_of(_CELLS, st.sampled_from([",", ";", "\t", "\n"])), max_size=60)


def _read_or_refuse(content: bytes, name: str = "fuzz.csv") -> None:
    try:
        df = read_table(content, name=name)
    except DataError as exc:
        assert f"'{name}'" in str(exc)
    else:
        assert isinstance(df, pd.DataFrame)


_MAGIC = st.sampled_from([b"", b"", b"PK\x03\x04", b"PAR1", codecs.BOM_UTF8, codecs.BOM_UTF16_LE])


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_MAGIC, st.binary(max_size=2000), st.sampled_from(["fuzz.csv", "fuzz.xlsx"]))
def test_random_bytes_give_a_frame_or_a_data_error(magic, content, name):
    _read_or_refuse(magic + content, name)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_NEAR_CSV, _TOKEN_SOUP.map("".join)),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_near_csv_text_gives_a_frame_or_a_data_error(text, encoding):
    _read_or_refuse(text.encode(encoding, errors="replace"))


def test_none_is_a_real_answer_not_a_missing_marker():
    # "None" / "none" is a clinical answer ("no allergies", toxicity grade "none").
    df = read_table(b"allergies,grade\nNone,none\npenicillin,mild\n", name="a.csv")
    assert df["allergies"].tolist() == ["None", "penicillin"]
    assert df["grade"].tolist() == ["none", "mild"]


def test_reading_with_jemalloc_gives_the_same_frame():
    import pyarrow as pa

    content = b"id,age,sex\nP1, 50,F\nP2,NA,M\n"
    before = read_table(content, name="j.csv")
    previous = pa.default_memory_pool()
    try:
        if use_jemalloc():
            assert pa.default_memory_pool().backend_name == "jemalloc"
        pd.testing.assert_frame_equal(read_table(content, name="j.csv"), before)
    finally:
        pa.set_memory_pool(previous)
