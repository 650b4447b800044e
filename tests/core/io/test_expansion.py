"""Small files that unpack to gigabytes: each test is the crafted file itself, refused from
its metadata (the Parquet footer, the workbook's zip directory) before it is decoded, with a
message naming the file and the limit."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medinn_core.errors import DataError
from medinn_core.io import load_table


def _parquet(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", **options)
    return buffer.getvalue()


def test_a_parquet_of_twenty_million_rows_is_refused_from_its_footer():
    zeros = pa.array(np.zeros(20_000_000, dtype=np.int8))
    data = _parquet(pa.table({"a": zeros, "b": zeros, "c": zeros}))
    assert len(data) < 400_000  # a few hundred KB on disk
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"'bomb.parquet' would expand to 20,000,000 rows x 3"):
        load_table(data, name="bomb.parquet")
    assert time.perf_counter() - started < 1  # the footer alone was read


@pytest.mark.parametrize("store_schema", [True, False], ids=["dictionary", "plain text"])
def test_text_repeated_millions_of_times_is_measured_before_it_is_decoded(store_schema):
    """One 1 KB value in 2,000,000 rows: 2 GB once decoded, a few KB stored."""
    values = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(2_000_000, dtype=np.int32)), pa.array(["x" * 1000])
    )
    data = _parquet(pa.table({"id": values, "n": np.zeros(2_000_000)}), store_schema=store_schema)
    with pytest.raises(
        DataError, match=r"'text.parquet' would expand to 1,9\d\d MB .* limit of 400 MB"
    ):
        load_table(data, name="text.parquet")


def test_the_limit_follows_max_bytes():
    table = pa.table({"a": np.arange(300_000) % 7, "b": np.arange(300_000) % 5})
    data = _parquet(table)
    assert len(load_table(data, name="ok.parquet")[0]) == 300_000
    with pytest.raises(DataError, match=r"over the limit of 262,144 cells.*max_bytes"):
        load_table(data, name="ok.parquet", max_bytes=1024 * 1024)


def test_a_parquet_list_column_is_named():
    table = pa.table({"age": [60, 70, 80], "visits": [[1, 2], [3], []]})
    with pytest.raises(DataError, match=r"Column 'visits' of 'lists.parquet' holds list<"):
        load_table(_parquet(table), name="lists.parquet")


def _workbook(sheet: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def test_an_xlsx_of_60_mb_of_xml_is_refused_before_openpyxl_reads_it():
    row = b'<row><c t="inlineStr"><is><t>1</t></is></c></row>'
    data = _workbook(b"<worksheet><sheetData>" + row * 1_200_000 + b"</sheetData></worksheet>")
    assert len(data) < 1_000_000
    started = time.perf_counter()
    with pytest.raises(
        DataError, match=r"'big.xlsx' would expand to 56 MB of worksheet XML.*limit of 50 MB"
    ):
        load_table(data, name="big.xlsx")
    assert time.perf_counter() - started < 1


def test_an_xlsx_whose_zip_header_understates_a_part_is_damaged():
    data = bytearray(_workbook(b"<worksheet>" + b"<row/>" * 500_000 + b"</worksheet>"))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    struct.pack_into("<I", data, info.header_offset + 22, 10)  # local header: size
    at = data.find(b"PK\x01\x02")
    while at != -1:  # the central directory record of the sheet
        if data[at + 46 : at + 46 + 24] == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<I", data, at + 24, 10)
        at = data.find(b"PK\x01\x02", at + 4)
    with pytest.raises(DataError, match=r"'lie.xlsx' is a damaged workbook.*sheet1.xml"):
        load_table(bytes(data), name="lie.xlsx")
