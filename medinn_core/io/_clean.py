"""Checking a table's header and cleaning its cells: trimmed text, missing markers, numbers."""

from __future__ import annotations

import collections
import functools
import logging
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from medinn_core.errors import DataError, list_examples

_MB = 1024 * 1024
MAX_COLUMNS: int = 5000
MISSING_MARKERS: tuple[str, ...] = (
    "", "NA", "N/A", "n/a", "na", "N.A.", "n.a.", "?", "-", "--", ".",
    "null", "NULL", "Null", "NaN", "nan", "NAN", "#N/A", "#NA",
)  # fmt: skip
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

logger = logging.getLogger(__name__)

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
