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

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from medinn_core.errors import ConfigError, DataError
from medinn_core.io._clean import _build_frame, _check_header, _header_only
from medinn_core.io._open import (
    _FORMAT_NAMES,
    DEFAULT_MAX_BYTES,
    _detect_csv,
    _detect_format,
    _open,
)
from medinn_core.io._parse import (
    _as_data_errors,
    _csv_chunks,
    _read_csv,
    _read_excel,
    _read_parquet,
    _split_header,
)

logger = logging.getLogger(__name__)


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
        Refuse larger files before reading them, and Parquet or Excel files that would
        expand beyond what a CSV of this size holds (``max_bytes / 4`` cells, twice
        ``max_bytes`` decoded; a quarter of ``max_bytes`` of worksheet XML).

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
            names, columns = _read_parquet(src, max_bytes)
        elif fmt == "xlsx":
            names, columns = _split_header(src.label, _read_excel(src, max_bytes))
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
