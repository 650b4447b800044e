"""Reading tables: CSV (any common delimiter and encoding), Excel ``.xlsx`` and Parquet.

Every reader returns the same kind of frame, so later stages need not care where data came from:

* column names are trimmed, and must be present, unique and not look like data;
* text cells are trimmed and :data:`MISSING_MARKERS` become missing (``NaN``);
* a text column becomes numeric only when every non-missing value is a plain decimal number
  and nothing is lost: ``int64`` for whole numbers without gaps, ``float64`` otherwise (whole
  numbers with gaps too). Leading zeros (``"00123"``), integers too long for ``float64``, and
  spelled-out ``inf``/``nan`` keep the column as text (``str`` dtype). Dates stay text;
* numbers written with commas (``"1,5"``, ``"1,234.5"``) are read when the delimiter or the
  values make the comma's meaning certain (a note says so), and refused otherwise;
* rows in which every cell is missing are dropped, and the index is a ``RangeIndex``.

Parquet columns that are not text keep their stored types. Files the user can fix raise
:class:`~medinn_core.errors.DataError`; nothing here logs cell values.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import functools
import hashlib
import io
import itertools
import json
import logging
import os
import re
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from xml.etree.ElementTree import ParseError as XMLParseError

import charset_normalizer
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from medinn_core.errors import ConfigError, DataError, list_examples

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: int = 200 * 1024 * 1024
MAX_COLUMNS: int = 5000
MISSING_MARKERS: tuple[str, ...] = (
    "", "NA", "N/A", "n/a", "na", "N.A.", "n.a.", "?", "-", "--", ".",
    "null", "NULL", "Null", "NaN", "nan", "NAN", "#N/A", "#NA",
)  # fmt: skip

_MB = 1024 * 1024
_HEAD_BYTES = _MB  # encoding and delimiter are detected on this much of the file
_SNIFF_ROWS = 50
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "'|'"}
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_LONG_INTEGER = r"^[+-]?\d{16,}"  # more digits than float64 holds exactly
# Numbers written with a comma are read when their meaning is certain: from the file (';' comes
# from a locale with decimal commas, ',' quotes numbers with thousands separators) or from a
# value that fits one meaning only ("70,5" is no thousands grouping, "1,234.5" no decimal comma).
_COMMA_NUMBER = r"^[+-]?(\d+|\d{1,3}([.,]\d{3})+)([.,]\d+)?$"
_COMMA_READINGS = (  # meaning, every value fits, a value proves it, the file says it, comma ->
    ("decimal commas", r"^[+-]?\d+(,\d+)?$", r"^[+-]?(0|\d{4,}),|,(\d{1,2}|\d{4,})$", ";", "."),
    ("thousands separators", r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$", r",\d{3}[,.]", ",", ""),
)
_COMMA_EXAMPLES = {"decimal commas": "'1,5' as 1.5", "thousands separators": "'1,234.5' as 1234.5"}
_MAX_EXACT_INT = 2**53
_BATCH_BYTES = 16 * _MB
_STREAM_BLOCK_BYTES = _MB  # pyarrow's streaming reader parses this much at a time
# pyarrow's reader of a whole file, in one thread: on a 100 MB file, 2 MB blocks parsed twice as
# fast as 16 MB ones (smaller blocks cost more calls downstream), and one thread held 40-90 MB
# less at the peak than two, for 0.2-0.5 s more (the server's cores are shared anyway).
_READ_BLOCK_BYTES = 2 * _MB
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
_FORMAT_NAMES = {"csv": "a CSV file", "xlsx": "an Excel workbook", "parquet": "a Parquet file"}
_FOREIGN = (
    (b"%PDF", "a PDF document", "Export the data from its source as CSV or Excel (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "a .xls or password-protected workbook", "Save it as .xlsx or CSV"),
    (b"\x1f\x8b", "a gzip-compressed file", "Decompress it and upload the CSV inside"),
)
# What third-party readers raise on damaged input (ValueError covers ParserError, ArrowInvalid
# and UnicodeDecodeError). Only reader calls run under it, never our own cleaning code.
_READ_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, EOFError, OSError, csv.Error, zlib.error,
    zipfile.BadZipFile, pa.ArrowException, XMLParseError,
)  # fmt: skip
_C_OPTIONS = {"header": None, "dtype": str, "keep_default_na": False, "na_filter": False}


@dataclass(frozen=True)
class TableInfo:
    """What :func:`load_table` read and what it did to the data, for display beside it.

    Attributes
    ----------
    name : str
        File name used in messages (the path's name, or the name given for bytes).
    format : str
        ``"csv"``, ``"xlsx"`` or ``"parquet"``.
    encoding, delimiter : str or None
        As detected for a CSV (``"utf-8"``, ``"utf-8-sig"``, ``"utf-16"``, ``"cp1252"``...);
        None for the other formats.
    n_rows, n_columns, size_bytes : int
        Shape of the cleaned frame, and size of the file.
    notes : tuple of str
        What the reader changed, e.g. ``"Trimmed spaces in 3 header names"``; no cell values.
    """

    name: str
    format: str
    encoding: str | None
    delimiter: str | None
    n_rows: int
    n_columns: int
    size_bytes: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    label: str
    size: int
    head: bytes
    path: str | None = None
    data: bytes | None = None

    @property
    def whole(self) -> bool:
        return len(self.head) == self.size

    def binary(self) -> str | io.BytesIO:
        return self.path if self.path is not None else io.BytesIO(self.data)

    def arrow(self) -> str | pa.BufferReader:
        return self.path if self.path is not None else pa.BufferReader(self.data)

    def text(self, encoding: str) -> io.TextIOBase:
        if self.path is not None:
            return open(self.path, encoding=encoding, newline="")
        return io.TextIOWrapper(io.BytesIO(self.data), encoding=encoding, newline="")


@dataclass(frozen=True)
class _Dialect:
    encoding: str
    delimiter: str


def load_table(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[pd.DataFrame, TableInfo]:
    """Read a CSV, Excel ``.xlsx`` (first sheet) or Parquet table and clean it.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A path, or the bytes of an uploaded file.
    name : str, optional
        File name used in messages; defaults to the path's name, or ``"upload"`` for bytes.
    max_bytes : int
        Refuse larger files before reading them.

    Returns
    -------
    frame : pandas.DataFrame
        Cleaned as described in the module docstring.
    info : TableInfo
        Format, encoding, delimiter, shape and notes on what was changed.

    Raises
    ------
    DataError
        If the file is missing, too large, empty, not a table, has no usable header, has
        rows longer than its header, or cannot be parsed.
    """
    started = time.perf_counter()
    src = _open(source, name, max_bytes)
    fmt = _detect_format(src)
    notes: list[str] = []
    dialect = _detect_csv(src, notes) if fmt == "csv" else None
    with _as_data_errors(src, fmt, dialect):
        if fmt == "parquet":
            names, columns = _read_parquet(src)
        elif fmt == "xlsx":
            names, columns = _split_header(src.label, _read_excel(src))
        else:
            raw, dialect = _read_csv(src, dialect, notes)
            names, columns = _split_header(src.label, raw)
            del raw  # the slices alone keep the text, so it can go column by column
    names = _check_header(src.label, names, fmt, notes)
    delimiter = dialect.delimiter if dialect else None
    frame, _ = _build_frame(names, columns, frozenset(), notes, src.label, delimiter)
    if frame.empty:
        raise _header_only(src.label)
    encoding, delimiter = (dialect.encoding, dialect.delimiter) if dialect else (None, None)
    rows, width = frame.shape
    logger.info("Read '%s' (%s): %d rows x %d columns in %.2f s", src.label, fmt, rows, width,
                time.perf_counter() - started)  # fmt: skip
    return frame, TableInfo(
        src.label, fmt, encoding, delimiter, rows, width, src.size, tuple(notes)
    )


def read_table(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> pd.DataFrame:
    """Read and clean a table; :func:`load_table` without the :class:`TableInfo`.

    Raises
    ------
    DataError
        As :func:`load_table`.
    """
    return load_table(source, name=name, max_bytes=max_bytes)[0]


def iter_csv_chunks(
    path: str | os.PathLike[str],
    *,
    chunk_rows: int = 100_000,
    name: str | None = None,
    max_bytes: int | None = None,
    as_float: Iterable[str] = (),
) -> Iterator[pd.DataFrame]:
    """Stream a large CSV in chunks, detected (on its first MB) and cleaned as by load_table.

    Every chunk has the same columns, and its index continues the previous one's. A column
    left as text in a chunk stays text in later ones; one that turns to text after numeric
    chunks is text from then on (logged), so cast with the schema when dtypes must be fixed.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file.
    chunk_rows : int
        Rows read per chunk (empty rows are dropped, so a chunk may hold fewer).
    name : str, optional
        File name used in messages; defaults to the path's name.
    max_bytes : int, optional
        Refuse larger files; no limit by default.
    as_float : iterable of str
        Columns to parse straight into ``float64`` (a missing marker, exactly as written,
        becomes NaN), skipping the cleaning of text: several times faster, for columns that
        are read as floats anyway, such as a model's numeric features. The values are those
        :func:`medinn_core.preprocess.clean_column` makes of the cleaned text. From the first
        chunk holding anything else in such a column (text, a padded marker, a decimal comma),
        every column is read and cleaned as text, as without ``as_float``.

    Yields
    ------
    pandas.DataFrame
        The next cleaned chunk.

    Raises
    ------
    DataError
        As :func:`load_table`, or if the file is not a CSV: from this call for problems seen
        in the first MB, later while iterating.
    ConfigError
        If ``chunk_rows`` is less than 1.
    """
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be at least 1, got {chunk_rows}.")
    src = _open(path, name, sys.maxsize if max_bytes is None else max_bytes)
    fmt = _detect_format(src)
    if fmt != "csv":
        raise DataError(
            f"'{src.label}' is {_FORMAT_NAMES[fmt]}; reading in chunks needs a CSV file. "
            "Use load_table, or save the data as CSV."
        )
    return _csv_chunks(src, _detect_csv(src, []), chunk_rows, frozenset(as_float))


def use_jemalloc() -> bool:
    """Make pyarrow allocate with jemalloc, process-wide, when this build of pyarrow has it.

    jemalloc hands freed memory back to the system sooner than pyarrow's default (mimalloc):
    reading and validating a 100 MB CSV peaked about 10 % lower, in the same time. Buffers already
    allocated stay with the pool that made them, so switching at any time is safe.

    Returns
    -------
    bool
        Whether jemalloc is in use.
    """
    if pa.default_memory_pool().backend_name != "jemalloc":
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a pyarrow built without it
            return False
    return True


def fingerprint(df: pd.DataFrame) -> str:
    """Return ``"sha256:<hex>"`` of the column names and content of ``df`` (not its index).

    Equal frames give equal strings; changing, adding or reordering any cell, row or
    column name gives a different one.
    """
    digest = hashlib.sha256(json.dumps([str(column) for column in df.columns]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


# --- finding and opening the file ---------------------------------------------------------


def _open(source: str | os.PathLike[str] | bytes, name: str | None, max_bytes: int) -> _Source:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = name or "upload"
        _check_size(label, len(data), max_bytes)
        return _Source(label, len(data), data[:_HEAD_BYTES], data=data)
    path = os.fspath(source)
    label = name or os.path.basename(path)
    try:
        size = os.path.getsize(path)
        _check_size(label, size, max_bytes)
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise DataError(f"Cannot read '{label}': {exc.strerror or exc}. Check the path.") from exc
    return _Source(label, size, head, path=path)


def _check_size(label: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DataError(
            f"'{label}' is {size / _MB:.1f} MB, more than the limit of {max_bytes / _MB:.1f} MB. "
            "Split it into smaller files, or raise the limit (max_bytes)."
        )


def _detect_format(src: _Source) -> str:
    if not src.head.strip():
        raise _empty(src.label)
    if src.head.startswith(b"PAR1"):
        return "parquet"
    if src.head.startswith(b"PK\x03\x04"):
        if src.label.lower().endswith((".xlsx", ".xlsm")) or _zip_has_workbook(src):
            return "xlsx"
        raise DataError(
            f"'{src.label}' is a ZIP archive (or a Word or other Office document), not a table. "
            "Unzip it, or save the data as CSV or Excel (.xlsx)."
        )
    for magic, what, fix in _FOREIGN:
        if src.head.startswith(magic):
            raise DataError(f"'{src.label}' is {what}, not a table. {fix}.")
    return "csv"


def _zip_has_workbook(src: _Source) -> bool:
    try:
        with zipfile.ZipFile(src.binary()) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _not_text(label: str) -> DataError:
    return DataError(
        f"'{label}' is not a text CSV file (it holds binary data or an unknown encoding). "
        "Upload a CSV, Excel (.xlsx) or Parquet file, saved as CSV UTF-8 if possible."
    )


def _detect_csv(src: _Source, notes: list[str]) -> _Dialect:
    encoding = _detect_encoding(src)
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(src.head, final=src.whole)
    except UnicodeDecodeError as exc:
        raise _not_text(src.label) from exc
    if not text.strip():
        raise _empty(src.label)
    if len(_CONTROL.findall(text)) > len(text) // 100:
        raise _not_text(src.label)
    if not src.whole:  # the last line may be cut
        text = text[: text.rfind("\n") + 1] or text
    if not encoding.startswith("utf-8"):
        notes.append(f"Read as {encoding}")
    return _Dialect(encoding, _detect_delimiter(src.label, text))


def _detect_encoding(src: _Source) -> str:
    head = src.head
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        encoding = _utf16_without_bom(head)
        if encoding is None:
            raise _not_text(src.label)
        return encoding
    with contextlib.suppress(UnicodeDecodeError):
        codecs.getincrementaldecoder("utf-8")().decode(head, final=src.whole)
        return "utf-8"
    matches = charset_normalizer.from_bytes(head)
    best = matches.best()
    if best is None:
        raise _not_text(src.label)
    # Short Western samples decode identically in several code pages; prefer the one that
    # Excel on Western Windows writes.
    if any("cp1252" in m.could_be_from_charset and m.chaos <= best.chaos for m in matches):
        return "cp1252"
    return codecs.lookup(best.encoding).name


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 of Western text has a NUL in every other byte; which ones gives the byte order."""
    even, odd = head[0::2], head[1::2]
    if len(head) < 8:
        return None
    for encoding, zeros, chars in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and chars.count(0) == 0:
            return encoding
    return None


def _detect_delimiter(label: str, text: str) -> str:
    """The delimiter giving the first rows the most consistent field count (then the most)."""
    best: tuple[float, int, str] | None = None
    for delimiter in _DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(text), delimiter=delimiter)
            rows = list(itertools.islice(filter(None, reader), _SNIFF_ROWS))
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(row) == width for row in rows) / len(rows)
        if best is None or (consistency, width) > best[:2]:
            best = (consistency, width, delimiter)
    if best is None:
        raise DataError(
            f"'{label}' has a single column: no comma, semicolon, tab or '|' separates the "
            "values of its first row, so the delimiter is probably not one medinn reads. "
            "Save it as CSV with one of these delimiters and column names in the first row."
        )
    _check_width(label, best[1])
    _check_one_delimiter(label, text, best[2], best[1])
    return best[2]


def _check_one_delimiter(label: str, text: str, delimiter: str, width: int) -> None:
    """Refuse lines without ``delimiter`` that another delimiter splits into ``width`` values.

    Read as they are, such lines would put a whole row into the first column.
    """
    lines: list[int] = []
    used: collections.Counter[str] = collections.Counter()
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    with contextlib.suppress(csv.Error):
        for row in itertools.islice(reader, _SNIFF_ROWS):
            if len(row) != 1:
                continue
            for other in _DELIMITERS:
                if other != delimiter and len(next(csv.reader([row[0]], delimiter=other))) == width:
                    lines.append(reader.line_num)
                    used[other] += 1
                    break
    if lines:
        other = used.most_common(1)[0][0]
        raise DataError(
            f"'{label}' mixes delimiters: its header separates values with a "
            f"{_DELIMITER_NAMES[delimiter]}, but line{'s' if len(lines) > 1 else ''} "
            f"{list_examples(lines)} with a {_DELIMITER_NAMES[other]}. Save the file again so "
            "that every line uses the same delimiter."
        )


# --- parsing ------------------------------------------------------------------------------


@contextlib.contextmanager
def _as_data_errors(src: _Source, fmt: str, dialect: _Dialect | None) -> Iterator[None]:
    try:
        yield
    except pd.errors.ParserError as exc:
        if dialect is not None and "Expected" in str(exc):
            raise _ragged_error(src, dialect) from exc
        raise _read_error(src.label, fmt, exc) from exc
    except _READ_ERRORS as exc:
        raise _read_error(src.label, fmt, exc) from exc


def _read_error(label: str, fmt: str, exc: Exception) -> DataError:
    if isinstance(exc, UnicodeDecodeError):
        return DataError(
            f"'{label}' is not a text CSV: it holds bytes that are not valid {exc.encoding}. "
            "Save it as CSV UTF-8 and upload it again."
        )
    if isinstance(exc, pd.errors.ParserError):  # pandas' C messages hold positions, not data
        return DataError(
            f"'{label}' could not be read as CSV ({exc}). Check that quotes (\") are balanced."
        )
    return DataError(
        f"'{label}' could not be read as {_FORMAT_NAMES[fmt]} ({type(exc).__name__}); it may be "
        "damaged. Export it again from its source, or save it as CSV."
    )


def _ragged_error(src: _Source, dialect: _Dialect) -> DataError:
    lines: list[int] = []
    width = 0
    with contextlib.suppress(csv.Error, UnicodeDecodeError), src.text(dialect.encoding) as stream:
        reader = csv.reader(stream, delimiter=dialect.delimiter)
        for row in reader:
            width = width or len(row)
            if len(row) > width:
                lines.append(reader.line_num)
    where = f"line{'s' if len(lines) > 1 else ''} {list_examples(lines)}" if lines else "some lines"
    return DataError(
        f"'{src.label}' has rows with more values than its {width or 'header'} column names, "
        f"on {where}. Remove the extra values, or quote values that contain the "
        f"{_DELIMITER_NAMES[dialect.delimiter]} delimiter."
    )


def _read_csv(
    src: _Source, dialect: _Dialect, notes: list[str]
) -> tuple[list[pa.ChunkedArray], _Dialect]:
    """Every field as text, the header row included; pyarrow first, pandas' C parser next."""
    # pyarrow.csv directly (what pandas' engine="pyarrow" wraps) to set string columns and
    # quoted newlines: a third less memory than going through pandas.
    encoding = "utf8" if dialect.encoding.startswith("utf-8") else dialect.encoding
    try:
        table = pa_csv.read_csv(
            src.arrow(),
            read_options=pa_csv.ReadOptions(
                autogenerate_column_names=True,
                encoding=encoding,
                block_size=_READ_BLOCK_BYTES,
                use_threads=False,
            ),
            parse_options=pa_csv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                default_column_type=pa.string(), null_values=[], strings_can_be_null=False
            ),
        )
        return table.columns, dialect
    except (pa.ArrowException, UnicodeDecodeError):
        # Rows of uneven length, or bytes not in the encoding guessed from the first MB: the
        # C parser pads short rows and reports long ones and bad bytes precisely.
        logger.info("'%s': pyarrow could not parse it; using pandas' C parser", src.label)
    try:
        frame = pd.read_csv(
            src.binary(), sep=dialect.delimiter, encoding=dialect.encoding, **_C_OPTIONS
        )
    except UnicodeDecodeError:
        if dialect.encoding != "utf-8" or not src.head.isascii():
            raise
        notes.append("Read as cp1252: the file is not UTF-8 beyond its first megabyte")
        return _read_csv(src, replace(dialect, encoding="cp1252"), notes)
    return _arrow_columns(frame), dialect


def _read_excel(src: _Source) -> list[pa.ChunkedArray]:
    # Imported here: openpyxl adds 0.2 s to the first page that imports this module.
    from openpyxl.utils.exceptions import InvalidFileException

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # openpyxl on styles it cannot keep
        try:
            frame = pd.read_excel(
                src.binary(), sheet_name=0, header=None, dtype=str, keep_default_na=False,
                engine="openpyxl",
            )  # fmt: skip
        except InvalidFileException as exc:
            raise _read_error(src.label, "xlsx", exc) from exc
    return _arrow_columns(frame)


def _read_parquet(src: _Source) -> tuple[list[str], list[pa.ChunkedArray]]:
    table = pq.read_table(src.arrow())
    keep = [i for i, name in enumerate(table.column_names) if not _PANDAS_INDEX.fullmatch(name)]
    return [table.column_names[i] for i in keep], [table.column(i) for i in keep]


def _arrow_columns(frame: pd.DataFrame) -> list[pa.ChunkedArray]:
    """The columns of an all-text frame, moved (not copied) out of it."""
    columns = []
    for label in list(frame):
        values = pa.array(frame.pop(label))
        columns.append(
            values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
        )
    return columns


def _split_header(
    label: str, columns: list[pa.ChunkedArray]
) -> tuple[list[str], list[pa.ChunkedArray]]:
    if not columns or len(columns[0]) == 0:
        raise _empty(label)
    names = [column[0].as_py() for column in columns]
    return ["" if n is None else str(n) for n in names], [column.slice(1) for column in columns]


def _csv_chunks(
    src: _Source, dialect: _Dialect, chunk_rows: int, as_float: frozenset[str]
) -> Iterator[pd.DataFrame]:
    text_columns: frozenset[str] = frozenset()
    start = 0
    names, chunks = _column_chunks(src, dialect, chunk_rows, as_float)
    for columns in chunks:
        frame, text = _build_frame(names, columns, text_columns, [], src.label, dialect.delimiter)
        if start and text - text_columns:
            logger.warning(
                "'%s': columns %s hold text from row %d on, after numbers in earlier chunks",
                src.label, list_examples(sorted(text - text_columns)), start,
            )  # fmt: skip
        text_columns |= text
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        if len(frame):
            yield frame
    if not start:
        raise _header_only(src.label)


def _column_chunks(
    src: _Source, dialect: _Dialect, chunk_rows: int, as_float: frozenset[str]
) -> tuple[list[str], Iterator[list[pa.ChunkedArray]]]:
    """The column names, and the columns ``chunk_rows`` rows at a time: as text, or with the
    ``as_float`` columns parsed as floats for as long as they hold nothing else."""
    raw = _raw_chunks(src, dialect, chunk_rows)
    header = _header_fields(src, dialect) if as_float else None
    if header is not None:
        names = _check_header(src.label, header, "csv", [])
        floats = [i for i, name in enumerate(names) if name in as_float]
        if floats:
            return names, _floats_then_text(src, dialect, chunk_rows, names, floats, raw)
    header, first = _split_header(src.label, next(raw, []))
    return _check_header(src.label, header, "csv", []), itertools.chain([first], raw)


def _floats_then_text(
    src: _Source,
    dialect: _Dialect,
    chunk_rows: int,
    names: list[str],
    floats: list[int],
    raw: Iterator[list[pa.ChunkedArray]],
) -> Iterator[list[pa.ChunkedArray]]:
    done = 0
    for columns in _float_chunks(src, dialect, chunk_rows, len(names), floats):
        if columns is None:
            break
        done += 1
        yield columns
    else:
        return
    logger.info("'%s': from chunk %d on, every column is read as text", src.label, done + 1)
    for i, columns in enumerate(raw):  # the same rows chunk by chunk, the header row first
        if i >= done:
            yield _split_header(src.label, columns)[1] if i == 0 else columns


def _header_fields(src: _Source, dialect: _Dialect) -> list[str] | None:
    """The header row as pyarrow reads it when it is the file's whole first line, else None
    (then a reader told to skip one line would not skip exactly the header)."""
    ascii_based = dialect.encoding.startswith("utf-8") or '\n"'.encode(dialect.encoding) == b'\n"'
    end = src.head.find(b"\n")
    line = src.head[: end + 1]
    if not ascii_based or end < 0 or line.count(b'"') % 2 or not line.strip(b"\r\n\xef\xbb\xbf"):
        return None
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(line),
            read_options=_arrow_read_options(dialect),
            parse_options=_arrow_parse_options(dialect),
            convert_options=_arrow_convert_options({}),
        )
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    return _split_header(src.label, table.columns)[0] if table.num_rows == 1 else None


def _float_chunks(
    src: _Source, dialect: _Dialect, chunk_rows: int, width: int, floats: list[int]
) -> Iterator[list[pa.ChunkedArray] | None]:
    """The data rows in chunks of ``chunk_rows``, columns ``floats`` as float64 and the rest as
    text; None after the last chunk whose floats all parsed, if one did not."""
    try:
        reader = pa_csv.open_csv(
            src.arrow(),
            read_options=_arrow_read_options(dialect, skip_rows=1),
            parse_options=_arrow_parse_options(dialect),
            convert_options=_arrow_convert_options({f"f{i}": pa.float64() for i in floats}),
        )
        if len(reader.schema) != width:  # the text reader names the problem
            yield None
            return
        yield from _regroup(reader, chunk_rows, chunk_rows)
    except (pa.ArrowException, UnicodeDecodeError):  # the value is not logged: patient data
        yield None


def _raw_chunks(
    src: _Source, dialect: _Dialect, chunk_rows: int
) -> Iterator[list[pa.ChunkedArray]]:
    """Every field as text, ``chunk_rows`` rows at a time plus the header row in the first.

    pyarrow's streaming reader first (several times faster); pandas' C parser takes over from
    the first row pyarrow cannot parse, as in :func:`_read_csv`.
    """
    done = 0  # rows handed out, the header row included
    with _as_data_errors(src, "csv", dialect):
        arrow = _arrow_chunks(src, dialect, chunk_rows)
        while True:
            try:
                columns = next(arrow, None)
            except (pa.ArrowException, UnicodeDecodeError):
                logger.info("'%s': pyarrow could not parse it; using pandas' C parser", src.label)
                break
            if columns is None:
                return
            done += len(columns[0])
            yield columns
        with pd.read_csv(
            src.binary(),
            sep=dialect.delimiter,
            encoding=dialect.encoding,
            chunksize=chunk_rows,
            skiprows=done,
            **_C_OPTIONS,
        ) as reader:
            for frame in reader:
                yield _arrow_columns(frame)


def _arrow_chunks(
    src: _Source, dialect: _Dialect, chunk_rows: int
) -> Iterator[list[pa.ChunkedArray]]:
    reader = pa_csv.open_csv(
        src.arrow(),
        read_options=_arrow_read_options(dialect),
        parse_options=_arrow_parse_options(dialect),
        convert_options=_arrow_convert_options({}),
    )
    yield from _regroup(reader, chunk_rows + 1, chunk_rows)  # the header row comes first


def _arrow_read_options(dialect: _Dialect, skip_rows: int = 0) -> pa_csv.ReadOptions:
    encoding = "utf8" if dialect.encoding.startswith("utf-8") else dialect.encoding
    return pa_csv.ReadOptions(
        autogenerate_column_names=True,
        encoding=encoding,
        block_size=_STREAM_BLOCK_BYTES,
        skip_rows=skip_rows,
    )


def _arrow_parse_options(dialect: _Dialect) -> pa_csv.ParseOptions:
    return pa_csv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True)


def _arrow_convert_options(types: dict[str, pa.DataType]) -> pa_csv.ConvertOptions:
    """Text as written, except columns in ``types``, where only the missing markers are null."""
    return pa_csv.ConvertOptions(
        column_types=types,
        default_column_type=pa.string(),
        null_values=list(MISSING_MARKERS),
        strings_can_be_null=False,
    )


def _regroup(
    reader: pa_csv.CSVStreamingReader, first: int, rows: int
) -> Iterator[list[pa.ChunkedArray]]:
    """The reader's batches as ``first`` rows, then ``rows`` at a time, one piece per column
    (the reader's small blocks would cost a call each downstream)."""
    want = first
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held >= want:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield table.slice(0, want).combine_chunks().columns
            rest = table.slice(want)
            pending, held, want = rest.to_batches(), rest.num_rows, rows
    if held:
        yield pa.Table.from_batches(pending, schema=reader.schema).combine_chunks().columns


# --- checking and cleaning ----------------------------------------------------------------


def _check_width(label: str, width: int) -> None:
    if width > MAX_COLUMNS:
        raise DataError(
            f"'{label}' has {width} columns, medinn supports at most {MAX_COLUMNS}. "
            "Keep only the columns you need and upload it again."
        )


def _empty(label: str) -> DataError:
    return DataError(f"'{label}' is empty. Upload a table with a header row and data.")


def _header_only(label: str) -> DataError:
    return DataError(
        f"'{label}' has column names but no data rows. Upload a file with at least one row."
    )


def _check_header(label: str, raw: list[str], fmt: str, notes: list[str]) -> list[str]:
    if not raw:
        raise _empty(label)
    _check_width(label, len(raw))
    names = [name.strip() for name in raw]
    trimmed = sum(a != b for a, b in zip(names, raw, strict=True))
    if trimmed:
        notes.append(f"Trimmed spaces in {_plural(trimmed, 'header name')}")
    filled = [name for name in names if name]
    if fmt != "parquet" and filled and all(re.match(_NUMBER, name) for name in filled):
        raise DataError(
            f"The first row of '{label}' looks like data, not column names: every value in it "
            "is a number. Add a header row with one name per column."
        )
    blanks = [i + 1 for i, name in enumerate(names) if not name]
    if blanks:
        which = f"column{'s' if len(blanks) > 1 else ''} {list_examples(blanks)}"
        raise DataError(
            f"In '{label}', {which} {'have' if len(blanks) > 1 else 'has'} no name. Give every "
            "column a name in the first row (and remove delimiters at the end of lines)."
        )
    duplicates = [name for name, count in collections.Counter(names).items() if count > 1]
    if duplicates:
        raise DataError(
            f"'{label}' has duplicate column names: {list_examples(duplicates)}. "
            "Rename the columns so that each name is used once."
        )
    return names


def _build_frame(
    names: list[str],
    columns: list[pa.ChunkedArray],
    force_text: frozenset[str],
    notes: list[str],
    label: str = "",
    delimiter: str | None = None,
) -> tuple[pd.DataFrame, frozenset[str]]:
    """Clean the columns (emptying ``columns``) into a frame; also name those left as text."""
    _clean_texts(columns, notes)
    # Empty rows go before typing, so that they do not turn integer columns into floats.
    if all(values.null_count for values in columns):
        present = functools.reduce(pc.or_, [pc.is_valid(values) for values in columns])
        n_empty = len(present) - (pc.sum(present).as_py() or 0)
        if n_empty:
            notes.append(f"Dropped {_plural(n_empty, 'empty row')}")
            columns[:] = [values.filter(present) for values in columns]
    text: set[str] = set()
    zero_padded: list[str] = []
    separated: dict[str, list[str]] = collections.defaultdict(list)
    for i, name in enumerate(names):
        values = columns[i]
        if not _is_text(values.type):
            continue
        numbers = None if name in force_text else _as_numbers(values)
        commas = ""
        if numbers is None and name not in force_text:
            numbers, commas = _comma_numbers(label, name, values, delimiter)
        if numbers is not None and _has_leading_zero(values):
            zero_padded.append(name)
        elif numbers is not None:
            columns[i] = numbers
            if commas:
                separated[commas].append(name)
        if _is_text(columns[i].type) and values.null_count < len(values):
            text.add(name)
    if zero_padded:
        notes.append(f"Kept {list_examples(zero_padded)} as text: values have leading zeros")
    for meaning, names_read in separated.items():
        notes.append(f"Read {meaning} in {list_examples(names_read)} ({_COMMA_EXAMPLES[meaning]})")
    table = pa.table(columns, names=names)
    columns.clear()
    return table.to_pandas(split_blocks=True, self_destruct=True), frozenset(text)


def _clean_texts(columns: list[pa.ChunkedArray], notes: list[str]) -> None:
    """Trim text cells and null the missing markers, many columns per compute call.

    On wide tables the overhead per call, not the data, sets the time; batches are capped in
    bytes so that the raw and the cleaned text of a big table are never both held in full.
    """
    batches: list[list[int]] = []
    size = 0
    for i, values in enumerate(columns):
        if not _is_text(values.type):
            continue
        if batches and values.type == columns[batches[-1][0]].type and size < _BATCH_BYTES:
            batches[-1].append(i)
            size += values.nbytes
        else:
            batches.append([i])
            size = values.nbytes
    trimmed = marked = 0
    for batch in batches:
        chunks = [chunk for i in batch for chunk in columns[i].chunks]
        cleaned, n_trimmed, n_marked = _clean_text(pa.chunked_array(chunks, columns[batch[0]].type))
        del chunks
        trimmed, marked = trimmed + n_trimmed, marked + n_marked
        pieces = collections.deque(cleaned.chunks)  # ChunkedArray.slice scans every chunk
        for i in batch:
            need, parts = len(columns[i]), []
            while need:
                piece = pieces.popleft()
                if len(piece) > need:
                    pieces.appendleft(piece.slice(need))
                    piece = piece.slice(0, need)
                parts.append(piece)
                need -= len(piece)
            columns[i] = pa.chunked_array(parts, cleaned.type)
    if trimmed:
        notes.append(f"Trimmed spaces in {_plural(trimmed, 'cell')}")
    if marked:
        notes.append(f"Read {_plural(marked, 'cell')} marked like 'NA' or '?' as missing")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _clean_text(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int, int]:
    """Trim cells and null the missing markers; also count trimmed cells and non-empty markers."""
    trimmed = pc.utf8_trim_whitespace(values)
    n_trimmed = pc.sum(pc.not_equal(trimmed, values)).as_py() or 0
    missing = pc.is_in(trimmed, value_set=pa.array(MISSING_MARKERS, trimmed.type))
    n_marked = (pc.sum(missing).as_py() or 0) - (pc.sum(pc.equal(trimmed, "")).as_py() or 0)
    return pc.if_else(missing, pa.scalar(None, trimmed.type), trimmed), n_trimmed, n_marked


def _as_numbers(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """``values`` as int64 or float64 if every one is a plain decimal number and none is lost."""
    if values.null_count == len(values):
        return pc.cast(values, pa.float64())
    for kind in (pa.int64(), pa.float64()):
        try:  # a failing cast reads the whole array: try a slice first, so text fails fast
            if len(values) > 1000:
                pc.cast(values.slice(0, 1000), kind)
            numbers = pc.cast(values, kind)
            break
        except pa.ArrowInvalid:
            continue
    else:
        return None
    low, high = pc.min_max(numbers).values()
    biggest = max(abs(low.as_py()), abs(high.as_py()))
    if pa.types.is_integer(numbers.type):
        try:
            pc.cast(values, pa.float64())  # arrow reads hex as int64, not as float64
        except pa.ArrowInvalid:
            return None
        # pandas turns int64 with gaps into float64
        return None if numbers.null_count and biggest > _MAX_EXACT_INT else numbers
    if not pc.all(pc.is_finite(numbers)).as_py():
        return None  # "inf", "nan", "1e400"
    if biggest >= _MAX_EXACT_INT and _any(pc.match_substring_regex(values, _LONG_INTEGER)):
        return None
    return numbers


def _comma_numbers(
    label: str, name: str, values: pa.ChunkedArray, delimiter: str | None
) -> tuple[pa.ChunkedArray | None, str]:
    """Numbers written with commas and what the commas were; refused when that is not certain.

    ``(None, "")`` when the column is not made of numbers with commas.
    """
    head = values.slice(0, 1000)  # text columns fail fast, as in _as_numbers
    if not _any(pc.match_substring(head, ",")) and not _any(pc.match_substring(values, ",")):
        return None, ""
    if not (_all(pc.match_substring_regex(head, _COMMA_NUMBER)) and
            _all(pc.match_substring_regex(values, _COMMA_NUMBER))):  # fmt: skip
        return None, ""
    # The file's own convention first, then the other one if a value proves it.
    for meaning, pattern, proof, home, point in sorted(
        _COMMA_READINGS, key=lambda r: r[3] != delimiter
    ):
        if _all(pc.match_substring_regex(values, pattern)) and (
            delimiter == home or _any(pc.match_substring_regex(values, proof))
        ):
            numbers = _as_numbers(pc.replace_substring(values, ",", point))
            if numbers is not None:
                return numbers, meaning
    with_comma = pc.unique(values.filter(pc.match_substring(values, ","))).to_pylist()
    with_point = pc.unique(values.filter(pc.invert(pc.match_substring(values, ",")))).to_pylist()
    examples = [*with_comma[: 3 - min(1, len(with_point))], *with_point[:1]]
    raise DataError(
        f"In '{label}', column {name!r} holds numbers written with commas whose meaning is not "
        f"certain, e.g. {list_examples(examples)}: a comma may be a decimal separator ('1,5' is "
        "1.5) or a thousands separator ('1,234' is 1234). Write every number in this column "
        "with a decimal point and no thousands separators (e.g. 1234.5), then upload the file "
        "again."
    )


def _has_leading_zero(numbers_as_text: pa.ChunkedArray) -> bool:
    """Whether a number is written with a leading zero: "007", "01.5", "-01" (not "0.5")."""
    return any(_leading_zero_in(chunk) for chunk in numbers_as_text.chunks)


def _leading_zero_in(text: pa.Array) -> bool:
    # The first three bytes of every value, read straight from the array's buffers: several
    # times faster than slicing strings, which mattered for files of millions of rows.
    if text.null_count == len(text):
        return False
    offsets, data = string_buffers(text)
    start, length = offsets[:-1], np.diff(offsets)
    if text.null_count:
        valid = pc.is_valid(text).to_numpy(zero_copy_only=False)
        start, length = start[valid], length[valid]
    if not data.size:
        return False
    first, second, third = (data[np.minimum(start + k, data.size - 1)] for k in range(3))
    zero, nine, dot, e, upper_e, plus, minus = b"09.eE+-"
    third_digit = (third >= zero) & (third <= nine)
    then = (length == 2) | third_digit | (third == dot) | (third == e) | (third == upper_e)
    unsigned = (first == zero) & (second >= zero) & (second <= nine) & (length >= 2) & then
    signed = ((first == plus) | (first == minus)) & (second == zero) & third_digit & (length >= 3)
    return bool((unsigned | signed).any())


def string_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets (one more than its values) and its bytes, as NumPy views."""
    width = 8 if pa.types.is_large_string(text.type) else 4
    offsets = np.frombuffer(text.buffers()[1], dtype=f"<i{width}")
    data = text.buffers()[2]
    return (
        offsets[text.offset : text.offset + len(text) + 1],
        np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8),
    )


def _any(mask: pa.ChunkedArray) -> bool:
    return bool(pc.any(mask).as_py())


def _all(mask: pa.ChunkedArray) -> bool:
    """True when every non-missing value is True (and at least one is present)."""
    return bool(pc.all(mask).as_py()) and mask.null_count < len(mask)
