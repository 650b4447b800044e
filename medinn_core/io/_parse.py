"""Parsing a table file into Arrow columns: whole (CSV, Excel, Parquet) or in chunks."""

from __future__ import annotations

import contextlib
import csv
import itertools
import logging
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import replace
from xml.etree.ElementTree import ParseError as XMLParseError

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from medinn_core.errors import DataError, list_examples
from medinn_core.io._clean import (
    MISSING_MARKERS,
    _build_frame,
    _check_header,
    _empty,
    _header_only,
)
from medinn_core.io._open import _DELIMITER_NAMES, _FORMAT_NAMES, _MB, _Dialect, _Source

_STREAM_BLOCK_BYTES = _MB  # pyarrow's streaming reader parses this much at a time
# pyarrow's reader of a whole file, in one thread: on a 100 MB file, 2 MB blocks parsed twice as
# fast as 16 MB ones (smaller blocks cost more calls downstream), and one thread held 40-90 MB
# less at the peak than two, for 0.2-0.5 s more (the server's cores are shared anyway).
_READ_BLOCK_BYTES = 2 * _MB
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
# What third-party readers raise on damaged input (ValueError covers ParserError, ArrowInvalid
# and UnicodeDecodeError). Only reader calls run under it, never our own cleaning code.
_READ_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, EOFError, OSError, csv.Error, zlib.error,
    zipfile.BadZipFile, pa.ArrowException, XMLParseError,
)  # fmt: skip
_C_OPTIONS = {"header": None, "dtype": str, "keep_default_na": False, "na_filter": False}

logger = logging.getLogger(__name__)

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


def _expansion_limits(max_bytes: int) -> tuple[int, int]:
    """``(cells, bytes)`` a compressed file of at most ``max_bytes`` may expand to: about
    what a CSV of ``max_bytes`` can hold, so a small file cannot unpack to gigabytes."""
    return max(max_bytes // 4, 10_000), 2 * max_bytes


def _too_large(label: str, found: str, limit: str) -> DataError:
    return DataError(
        f"'{label}' would expand to {found} when read, over the limit of {limit}. Split it "
        "into smaller files, or raise the limit (max_bytes)."
    )


def _check_workbook(src: _Source, max_bytes: int) -> None:
    """The XML parts of an .xlsx, by the sizes in its zip directory, before openpyxl reads
    them (it reads about 10 MB of XML a second): refused if too large, or if an entry holds
    more compressed data than its stated size can come from (a header that lies)."""
    limit = _expansion_limits(max_bytes)[1] // 8
    with zipfile.ZipFile(src.binary()) as archive:
        infos = archive.infolist()
    for info in infos:
        if info.compress_size > info.file_size + info.file_size // 100 + 1024:
            raise DataError(
                f"'{src.label}' is a damaged workbook: its part {info.filename!r} states "
                f"{info.file_size:,} bytes but holds {info.compress_size:,} compressed bytes. "
                "Save it again from Excel, or as CSV."
            )
    xml = sum(i.file_size for i in infos)
    if xml > limit:
        raise _too_large(
            src.label, f"{xml / _MB:,.0f} MB of worksheet XML", f"{limit / _MB:,.0f} MB for "
            "an Excel workbook (save large tables as CSV, which reads far faster)",
        )  # fmt: skip


def _read_excel(src: _Source, max_bytes: int) -> list[pa.ChunkedArray]:
    # Imported here: openpyxl adds 0.2 s to the first page that imports this module.
    from openpyxl.utils.exceptions import InvalidFileException

    _check_workbook(src, max_bytes)
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


def _read_parquet(src: _Source, max_bytes: int) -> tuple[list[str], list[pa.ChunkedArray]]:
    """The columns of a Parquet file, bounded before they are decoded: rows x columns and
    the stored bytes from its footer, then the text's decoded bytes from its dictionaries
    (text is read dictionary-encoded, so a value repeated 20 million times is held once)."""
    max_cells, max_decoded = _expansion_limits(max_bytes)
    meta = pq.ParquetFile(src.arrow()).metadata  # the footer only
    schema = meta.schema.to_arrow_schema()
    nested = [f for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise DataError(
            f"Column {nested[0].name!r} of '{src.label}' holds {nested[0].type} values (a list "
            "or a record in each cell); medinn reads one number or text per cell. Put each "
            "item in a column of its own, or remove the column, and save the file again."
        )
    cells = meta.num_rows * max(len(schema), 1)
    if cells > max_cells:
        raise _too_large(
            src.label, f"{meta.num_rows:,} rows x {len(schema)} columns ({cells:,} cells)",
            f"{max_cells:,} cells",
        )  # fmt: skip
    stored = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if stored > max_decoded:
        raise _too_large(src.label, f"{stored / _MB:,.0f} MB", f"{max_decoded / _MB:,.0f} MB")
    text = [f.name for f in schema if _is_text(f.type)]
    table = pq.read_table(src.arrow(), read_dictionary=text)
    decoded = sum(_decoded_bytes(column) for column in table.columns)
    if decoded > max_decoded:
        raise _too_large(src.label, f"{decoded / _MB:,.0f} MB", f"{max_decoded / _MB:,.0f} MB")
    keep = [i for i, name in enumerate(table.column_names) if not _PANDAS_INDEX.fullmatch(name)]
    columns = [table.column(i) for i in keep]
    columns = [
        c.cast(schema.field(i).type) if schema.field(i).name in text else c
        for i, c in zip(keep, columns, strict=True)
    ]
    return [table.column_names[i] for i in keep], columns


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    )  # fmt: skip


def _decoded_bytes(column: pa.ChunkedArray) -> int:
    """The bytes ``column`` takes once its dictionaries are decoded."""
    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type) and _is_text(chunk.type.value_type):
            lengths = pc.binary_length(chunk.dictionary)
            total += (pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0) + 8 * len(chunk)
        else:
            total += chunk.nbytes
    return total


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
