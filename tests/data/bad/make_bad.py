"""The bad-input corpus of issue 6: malformed or hostile files and the message each must produce.

Run from the repository root::

    python tests/data/bad/make_bad.py OUT_DIR    # writes every file of CASES into OUT_DIR

The tests call :func:`write_corpus` into a temporary folder, so no file of the corpus is kept in
the repository (the 2 GB one is a sparse file, the 10,000-column one is generated). Every file
is the same, byte for byte, on every run.

Each :class:`Case` says at which stage the file must be caught and how:

* ``read``: :func:`medinn_core.io.load_table` refuses it with a ``DataError`` (``error``), or
  reads it correctly (``ok``, the message being one of the reader's notes, or empty);
* ``train``: the file reads, and the checks before training on ``target`` (``infer_schema``,
  then ``validate``) stop it (``error``) or warn (``warning``);
* ``predict``: the file reads, and scoring it with the cardiology model (trained on
  ``medinn_core.synthetic.make_cardiology_cohort``) is refused (``error``) or works (``ok``).

``match`` is a regular expression the message must match; it names the file or the column.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import io
import random
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from medinn_core.synthetic import make_cardiology_cohort  # noqa: E402

TARGET = "mace_1y"
SEED = 6  # issue 6
SPARSE_BYTES = 2_200_000_000  # over the reader's default limit of 200 MB, never written out
FORMULAS = ('=HYPERLINK("http://example.invalid/x","click")', "+cmd|' /C calc'!A0", "@SUM(A1:A9)")


@dataclass(frozen=True)
class Case:
    """One file of the corpus and what medinn must say about it."""

    name: str
    what: str
    stage: str  # "read", "train" or "predict"
    outcome: str  # "error", "warning" or "ok"
    match: str  # regex on the message (error), a warning, or a reader note ("" for none)
    build: Callable[[], bytes] | None  # None: a sparse file of SPARSE_BYTES
    target: str = TARGET
    include: tuple[str, ...] = ()  # columns the user makes numeric inputs by hand


# -- building blocks ----------------------------------------------------------------------------
def _cohort(n: int = 240, seed: int = SEED):
    return make_cardiology_cohort(n, seed=seed)


def _csv(df, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    text = df.to_csv(index=False, sep=delimiter, lineterminator="\n", float_format="%.10g")
    return text.encode(encoding)


def _lines(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def _junk() -> bytes:
    return random.Random(SEED).randbytes(4096)


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _ole() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def _gzip() -> bytes:
    return gzip.compress(_csv(_cohort(20)), mtime=0)


def _zip(names: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in names.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _damaged_workbook() -> bytes:
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook>"})
    return data[: len(data) // 2]


def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def _parquet_bomb() -> bytes:
    """A few hundred KB that decode to 20 million rows (issue 17)."""
    import numpy as np
    import pyarrow as pa

    zeros = pa.array(np.zeros(20_000_000, dtype=np.int8))
    return _parquet(pa.table({"age": zeros, "sex": zeros, TARGET: zeros}))


def _parquet_lists() -> bytes:
    import pyarrow as pa

    df = _cohort(30)
    table = pa.Table.from_pandas(df, preserve_index=False)
    visits = pa.array([[i, i + 1] for i in range(len(df))])
    return _parquet(table.append_column("visit_days", visits))


def _xml_bomb() -> bytes:
    """An .xlsx of under 1 MB holding 56 MB of worksheet XML (issue 17)."""
    row = b'<row><c t="inlineStr"><is><t>1</t></is></c></row>'
    sheet = b"<worksheet><sheetData>" + row * 1_200_000 + b"</sheetData></worksheet>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml",
                           b"<workbook/>"), ("xl/worksheets/sheet1.xml", sheet)):  # fmt: skip
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _mixed_delimiters() -> bytes:
    rows = _csv(_cohort(12)).decode().splitlines()
    rows[4:8] = [row.replace(",", ";") for row in rows[4:8]]
    return ("\n".join(rows) + "\n").encode()


def _ragged() -> bytes:
    return _lines(
        "patient_id,age,creatinine",
        "P1,61,0.9",
        "P2,54,1,2",  # a decimal comma in a comma-separated file
        "P3,70,1.1",
        "P4,48,0,8",
    )


def _wide() -> bytes:
    names = [f"gene_{i:05d}" for i in range(10_000)]
    rng = random.Random(SEED)
    rows = [",".join(names)]
    rows += [",".join(str(rng.randint(0, 9)) for _ in names) for _ in range(3)]
    return ("\n".join(rows) + "\n").encode()


def _latin1(encoding: str) -> Callable[[], bytes]:
    def build() -> bytes:
        df = _cohort(60)
        df["site"] = df["site"].map({"A": "Zürich", "B": "Málaga", "C": "Besançon", "D": "Åre"})
        return (codecs.BOM_UTF16_LE if encoding == "utf-16-le" else b"") + _csv(df, ",", encoding)

    return build


def _utf16_without_bom() -> bytes:
    return _latin1("utf-16-le")()[len(codecs.BOM_UTF16_LE) :]


def _decimal_commas() -> bytes:
    df = _cohort(60)
    text = _csv(df, ";").decode()
    return text.replace(".", ",").encode()  # as Excel writes it in a German or French locale


def _thousands_frame():
    df = _cohort(60)
    df["platelets"] = [f"{150_000 + 997 * i:,}" for i in range(len(df))]  # "150,000"
    return df


def _thousands() -> bytes:
    return _csv(_thousands_frame())


def _mixed_separators() -> bytes:
    df = _cohort(60)
    df["creatinine"] = [f"{v:.2f}".replace(".", ",") if i % 2 else f"{v:.2f}" for i, v in
                        enumerate(df["creatinine"].fillna(1.0))]  # fmt: skip
    return _csv(df, ";")


def _tab(column: str) -> Callable[[], bytes]:
    """A tab-separated file in which ``column`` has commas: decimal ones, or thousands ones."""

    def build() -> bytes:
        df = _thousands_frame()
        df["creatinine"] = [f"{v:.2f}".replace(".", ",") for v in df["creatinine"].fillna(1.0)]
        return _csv(df[[c for c in df.columns if c in (column, "patient_id", TARGET)]], "\t")

    return build


def _with(column: str, change: Callable, n: int = 240) -> Callable[[], bytes]:
    def build() -> bytes:
        df = _cohort(n)
        df[column] = change(df)
        return _csv(df)

    return build


def _every(values: list[str], column: str, rows: tuple[int, ...]) -> Callable[[], bytes]:
    def build() -> bytes:
        df = _cohort()
        df[column] = df[column].astype("str").where(df[column].notna(), "")
        for row, value in zip(rows, values, strict=True):
            df.loc[row, column] = value
        return _csv(df)

    return build


def _levels() -> bytes:
    df = _cohort(30_000, seed=SEED + 1)
    df["ward_bed"] = [f"W{i % 10_000 // 100:02d}-B{i % 100:02d}" for i in range(len(df))]
    return _csv(df)


def _formulas() -> bytes:
    df = _cohort(30)
    df["patient_id"] = [FORMULAS[i % 3] if i < 6 else pid for i, pid in enumerate(df["patient_id"])]
    df["chest_pain"] = df["chest_pain"].where(df.index % 7 != 1, "=1+2")
    return _csv(df)


def _renamed_columns() -> bytes:
    return _csv(_cohort(30).rename(columns={"age": "Age", "systolic_bp": "sbp"}))


# -- the corpus ---------------------------------------------------------------------------------
CASES: tuple[Case, ...] = (
    # read: refused by the reader
    Case("empty.csv", "zero bytes", "read", "error", r"'empty\.csv' is empty", lambda: b""),
    Case("blank_lines.csv", "only line ends and spaces", "read", "error",
         r"'blank_lines\.csv' is empty", lambda: b"\r\n \n\t\n\n"),
    Case("header_only.csv", "column names, no rows", "read", "error",
         r"'header_only\.csv' has column names but no data rows",
         lambda: b"patient_id,age,mace_1y\n"),
    Case("binary_junk.csv", "4 KB of random bytes", "read", "error",
         r"'binary_junk\.csv' is not a text CSV", _junk),
    Case("report.pdf.csv", "a PDF renamed .csv", "read", "error",
         r"'report\.pdf\.csv' is a PDF document, not a table\. Export", _pdf),
    Case("legacy.xls.csv", "an .xls (OLE) workbook renamed .csv", "read", "error",
         r"'legacy\.xls\.csv' is a \.xls or password-protected workbook", _ole),
    Case("export.csv.gz.csv", "a gzip-compressed CSV renamed .csv", "read", "error",
         r"'export\.csv\.gz\.csv' is a gzip-compressed file.*Decompress", _gzip),
    Case("archive.csv", "a ZIP archive of a CSV, renamed .csv", "read", "error",
         r"'archive\.csv' is a ZIP archive", lambda: _zip({"data.csv": _csv(_cohort(5))})),
    Case("damaged.xlsx", "half of an .xlsx workbook", "read", "error",
         r"'damaged\.xlsx' could not be read as an Excel workbook.*damaged", _damaged_workbook),
    Case("bomb_20m_rows.parquet", "300 KB of zstd Parquet decoding to 20 million rows", "read",
         "error", r"'bomb_20m_rows\.parquet' would expand to 20,000,000 rows x 3 columns",
         _parquet_bomb),
    Case("list_column.parquet", "a Parquet column holding a list in each cell", "read", "error",
         r"Column 'visit_days' of 'list_column\.parquet' holds list<", _parquet_lists),
    Case("xml_bomb.xlsx", "an .xlsx of under 1 MB holding 56 MB of worksheet XML", "read",
         "error", r"'xml_bomb\.xlsx' would expand to 56 MB of worksheet XML.*limit of 50 MB",
         _xml_bomb),
    Case("mac_line_endings.csv", "lines ending in a carriage return only", "read", "error",
         r"'mac_line_endings\.csv' ends its lines with a carriage return only",
         lambda: _csv(_cohort(10)).replace(b"\n", b"\r")),
    Case("bare_carriage_return.csv", "a carriage return in an unquoted value", "read", "error",
         r"'bare_carriage_return\.csv' has a carriage return .* not in quotes, on line 3",
         lambda: _lines("patient_id,note,age", "P1,none,61", "P2,chest\rpain,54")),
    Case("wrong_delimiter.csv", "values separated by ':'", "read", "error",
         r"'wrong_delimiter\.csv' has a single column", lambda: _csv(_cohort(10), ":")),
    Case("mixed_delimiters.csv", "comma header, some rows separated by ';'", "read", "error",
         r"'mixed_delimiters\.csv' mixes delimiters.*lines 5, 6, 7, 8.*semicolon",
         _mixed_delimiters),
    Case("ragged_rows.csv", "rows with more values than the header", "read", "error",
         r"'ragged_rows\.csv' has rows with more values than its 3 column names, on lines 3, 5",
         _ragged),
    Case("duplicate_headers.csv", "two columns called 'age' (one with a trailing space)",
         "read", "error", r"'duplicate_headers\.csv' has duplicate column names: 'age'",
         lambda: _lines("patient_id,age,age ,mace_1y", "P1,61,62,0", "P2,54,55,1")),
    Case("blank_header.csv", "a column without a name", "read", "error",
         r"In 'blank_header\.csv', column 3 has no name",
         lambda: _lines("patient_id,age,,mace_1y", "P1,61,x,0", "P2,54,y,1")),
    Case("no_header.csv", "numbers in the first row, no column names", "read", "error",
         r"first row of 'no_header\.csv' looks like data",
         lambda: _lines("1,61,140,0", "2,54,130,1")),
    Case("wide_10000_columns.csv", "10,000 columns", "read", "error",
         r"'wide_10000_columns\.csv' has 10000 columns, medinn supports at most 5000", _wide),
    Case("huge_2gb.csv", "a 2.2 GB sparse file", "read", "error",
         r"'huge_2gb\.csv' is 2098\.1 MB, more than the limit of 200\.0 MB", None),
    Case("nul_bytes.csv", "NUL bytes inside cells", "read", "error",
         r"'nul_bytes\.csv' is not a text CSV",
         lambda: _lines("patient_id,age", "P1,6\x001", "P2,\x00\x00")),
    Case("unbalanced_quote.csv", "a quote that is never closed", "read", "error",
         r"'unbalanced_quote\.csv' could not be read as CSV.*quotes",
         lambda: _lines("patient_id,note,age", 'P1,"chest pain,61', "P2,none,54")),
    Case("mixed_number_separators.csv", "';' file, creatinine as '1,31' and as '1.02'", "read",
         "error", r"In 'mixed_number_separators\.csv', column 'creatinine' holds numbers written "
         r"with commas whose meaning is not certain, e\.g\. '1,31', '1,12', '1\.02'",
         _mixed_separators),
    Case("tab_ambiguous_commas.csv", "tab-separated, platelets written '150,997'", "read",
         "error", r"In 'tab_ambiguous_commas\.csv', column 'platelets' holds numbers written with "
         r"commas whose meaning is not certain, e\.g\. '150,000', '150,997', '151,994'",
         _tab("platelets")),
    # read: files that must read correctly
    Case("utf16.csv", "UTF-16 with BOM, accented categories", "read", "ok", r"Read as utf-16",
         _latin1("utf-16-le")),
    Case("utf16_no_bom.csv", "UTF-16 without a byte-order mark", "read", "ok", r"Read as utf-16",
         _utf16_without_bom),
    Case("latin1_accents.csv", "cp1252/Latin-1 accents in a category", "read", "ok",
         r"Read as cp1252", _latin1("cp1252")),
    Case("decimal_commas.csv", "';' file with decimal commas, as a German Excel writes", "read",
         "ok", r"Read decimal commas in 'bmi', 'hba1c', 'creatinine' \('1,5' as 1\.5\)",
         _decimal_commas),
    Case("tab_decimal_commas.csv", "tab-separated, creatinine written '0,91'", "read", "ok",
         r"Read decimal commas in 'creatinine'", _tab("creatinine")),
    Case("thousands_separators.csv", "quoted '150,000' in a ',' file", "read", "ok",
         r"Read thousands separators in 'platelets'", _thousands),
    # train: caught by the schema or by validation before any training
    Case("target_one_class.csv", "every outcome is 0", "train", "error",
         r"Target column 'mace_1y' has a single value \('0'\)", _with(TARGET, lambda df: 0)),
    Case("target_all_missing.csv", "no outcome recorded", "train", "error",
         r"Target column 'mace_1y' holds no values", _with(TARGET, lambda df: "")),
    Case("target_500_strings.csv", "500 distinct diagnoses as text", "train", "error",
         r"Target column 'diagnosis' has 500 distinct text values",
         _with("diagnosis", lambda df: [f"dx {i % 500:03d}" for i in range(len(df))], 600),
         target="diagnosis"),
    Case("rare_class.csv", "an outcome with 3 events", "train", "error",
         r"Target column 'mace_1y': '1' has 3 rows",
         _with(TARGET, lambda df: [int(i < 3) for i in range(len(df))])),
    Case("too_few_rows.csv", "8 patients", "train", "error",
         r"The table has 8 rows; medinn needs at least 20 patients",
         _with(TARGET, lambda df: [0, 1] * 4, 8)),
    Case("no_usable_columns.csv", "only the identifier and the outcome", "train", "error",
         r"No column is left to learn from: .*'patient_id': identifier \(by its name\), "
         r"'mace_1y': target", lambda: _csv(_cohort()[["patient_id", TARGET]])),
    Case("inf_values.csv", "'inf', '-inf' and '1e309' in creatinine", "train", "warning",
         r"Column 'creatinine' holds 3 infinite values.*'inf'",
         _every(["inf", "-inf", "1e309"], "creatinine", (3, 10, 17))),
    Case("dates_in_numeric.csv", "dates in total_cholesterol", "train", "warning",
         r"Column 'total_cholesterol' should be numeric \(mg/dL\): 2 values are not numbers, "
         r"e\.g\. '2021-03-04', '04/03/2021'",
         _every(["2021-03-04", "04/03/2021"], "total_cholesterol", (2, 5))),
    Case("excel_errors.csv", "#DIV/0! and #VALUE! in hba1c", "train", "warning",
         r"Column 'hba1c' should be numeric \(%\): 2 values are not numbers, "
         r"e\.g\. '#DIV/0!', '#VALUE!'",
         _every(["#DIV/0!", "#VALUE!"], "hba1c", (0, 1))),
    Case("huge_cell.csv", "a 3 MB text cell in total_cholesterol", "train", "warning",
         r"Column 'total_cholesterol' should be numeric \(mg/dL\): 1 values are not numbers, "
         r"e\.g\. 'ZQX(y){57}'… \(3,000,003 characters\)",
         _every(["ZQX" + "y" * 3_000_000], "total_cholesterol", (4,))),
    Case("feature_all_missing.csv", "lactate, empty in every row", "train", "warning",
         r"Column 'lactate' is missing in every row", _with("lactate", lambda df: ""),
         include=("lactate",)),
    Case("leakage.csv", "the outcome again as 'event_recorded' (yes/no)", "train", "warning",
         r"Column 'event_recorded' determines the target 'mace_1y' exactly",
         _with("event_recorded", lambda df: df[TARGET].map({0: "no", 1: "yes"}))),
    Case("categorical_10000_levels.csv", "ward_bed with 10,000 levels", "train", "warning",
         r"Column 'ward_bed' has 10000 categories", _levels),
    # predict: against the cardiology model
    Case("model_mismatch.csv", "'age' and 'systolic_bp' renamed 'Age' and 'sbp'", "predict",
         "error", r"model_mismatch\.csv' lacks 2 column\(s\) the model needs: 'age', 'systolic_bp'",
         _renamed_columns),
    Case("formulas.csv", "=HYPERLINK(...), +cmd, @SUM and =1+2 in text cells", "predict", "ok",
         "", _formulas),
)  # fmt: skip
BY_NAME = {case.name: case for case in CASES}


def write_corpus(folder: str | Path) -> dict[str, Path]:
    """Write every file of :data:`CASES` into ``folder`` (created); returns name to path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in CASES:
        path = folder / case.name
        if case.build is None:
            with open(path, "wb") as handle:
                handle.truncate(SPARSE_BYTES)  # sparse: takes no disk space
        else:
            path.write_bytes(case.build())
        paths[case.name] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write the corpus into")
    args = parser.parse_args(argv)
    for name, path in write_corpus(args.out).items():
        print(f"{path.stat().st_size:>13,}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
