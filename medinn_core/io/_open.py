"""Finding and opening a table file: size limits, format, encoding and delimiter."""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import io
import itertools
import logging
import os
import re
import zipfile
from dataclasses import dataclass

import charset_normalizer
import pyarrow as pa

from medinn_core.errors import DataError, list_examples
from medinn_core.io._clean import _check_width, _empty

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: int = 200 * 1024 * 1024

_MB = 1024 * 1024
_HEAD_BYTES = _MB  # encoding and delimiter are detected on this much of the file
_SNIFF_ROWS = 50
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "'|'"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMAT_NAMES = {"csv": "a CSV file", "xlsx": "an Excel workbook", "parquet": "a Parquet file"}
_FOREIGN = (
    (b"%PDF", "a PDF document", "Export the data from its source as CSV or Excel (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "a .xls or password-protected workbook", "Save it as .xlsx or CSV"),
    (b"\x1f\x8b", "a gzip-compressed file", "Decompress it and upload the CSV inside"),
)


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
    bare_cr = 0  # the line of a carriage return outside quotes, which the csv module refuses
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            rows = list(itertools.islice(filter(None, reader), _SNIFF_ROWS))
        except csv.Error as exc:
            if "new-line" in str(exc):
                bare_cr = bare_cr or reader.line_num
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(row) == width for row in rows) / len(rows)
        if best is None or (consistency, width) > best[:2]:
            best = (consistency, width, delimiter)
    if best is None and bare_cr:
        raise _carriage_return(label, text, bare_cr)
    if best is None:
        raise DataError(
            f"'{label}' has a single column: no comma, semicolon, tab or '|' separates the "
            "values of its first row, so the delimiter is probably not one medinn reads. "
            "Save it as CSV with one of these delimiters and column names in the first row."
        )
    _check_width(label, best[1])
    _check_one_delimiter(label, text, best[2], best[1])
    return best[2]


def _carriage_return(label: str, text: str, line: int) -> DataError:
    if "\n" not in text:
        return DataError(
            f"'{label}' ends its lines with a carriage return only (old Mac line endings); "
            "medinn reads Windows (CR LF) and Unix (LF) line endings. Save it again as CSV."
        )
    return DataError(
        f"'{label}' has a carriage return (a line break) inside a value that is not in quotes, "
        f'on line {line}. Remove it, or put the value in double quotes ("..."), as a '
        "spreadsheet does when it saves a value that holds a line break."
    )


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
