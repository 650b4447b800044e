"""Writing tables for people: CSV bytes a chunk at a time, with text that a spreadsheet would
run as a formula escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from medinn_core.io._clean import string_buffers

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = '[,"\r\n]'  # pandas' (the csv module's) minimal quoting


def csv_bytes(frame: pd.DataFrame, *, header: bool = True) -> bytes:
    """``frame`` (without its index) as UTF-8 CSV, formatted by pyarrow a column at a time.

    As pandas' ``to_csv(index=False)`` writes it (fields quoted only where needed, missing
    values empty, ``True``/``False``), except that numbers take their shortest exact form
    (``0.1234567`` for a float32, ``5`` for the float 5.0), and text cells and column names
    a spreadsheet would run as a formula start with a quote, as :func:`escape_formulas` does. Each row's
    text depends on that row alone, so a file written chunk by chunk is the same file.
    """
    lines = b""
    if header:  # a column name is text from a file too: escaped like a cell
        names = [_escaped(str(name)) for name in frame.columns]
        lines = ",".join(_quoted(pa.array(names, pa.string())).to_pylist()).encode() + b"\n"
    if frame.empty or not len(frame.columns):
        return lines
    cells = [_csv_cells(frame.iloc[:, j]) for j in range(frame.shape[1])]
    rows = pc.binary_join_element_wise(*cells, ",")
    body = pc.binary_join_element_wise(rows, "", "\n")  # each row, then a line end
    return lines + b"".join(buf.to_pybytes() for buf in _text_body(body))


def _csv_cells(values: pd.Series) -> pa.Array:
    if pd.api.types.is_bool_dtype(values):
        values = values.map({True: "True", False: "False"}, na_action="ignore")
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects, written as str()
        escaped = escape_formulas(values.to_frame()).iloc[:, 0].map(str, na_action="ignore")
        array = _quoted(pa.array(escaped, pa.string(), from_pandas=True))
    else:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        text = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        array = pc.cast(array, pa.string())
        if text:
            formula = _first_byte_in(array, FORMULA_PREFIXES)
            if formula.any():
                formula = pa.array(formula)
                array = pc.if_else(formula, pc.binary_join_element_wise("'", array, ""), array)
            array = _quoted(array)
    return pc.fill_null(array, "")


def _first_byte_in(text: pa.Array, prefixes: tuple[str, ...]) -> np.ndarray:
    """Per value: whether it starts with one of ``prefixes`` (single ASCII characters), read
    from the array's buffers (a compute call per prefix cost more than the rest of a row)."""
    offsets, data = string_buffers(text)
    if not data.size:
        return np.zeros(len(text), dtype=bool)
    starts, lengths = offsets[:-1], np.diff(offsets)
    first = data[np.minimum(starts, data.size - 1)]
    hit = np.isin(first, np.frombuffer("".join(prefixes).encode(), np.uint8)) & (lengths > 0)
    return hit & pc.is_valid(text).to_numpy(zero_copy_only=False) if text.null_count else hit


def _quoted(text: pa.Array) -> pa.Array:
    offsets, data = string_buffers(text)
    if not np.isin(data[offsets[0] : offsets[-1]], np.frombuffer(b',"\r\n', np.uint8)).any():
        return text  # nothing to quote: the usual case, found without a regex per value
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    doubled = pc.replace_substring(text, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise('"', doubled, '"', ""), text)


def _text_body(text: pa.Array) -> list[pa.Buffer]:
    """The bytes of a string array's values, end to end, without a copy per value."""
    if isinstance(text, pa.ChunkedArray):
        return [b for chunk in text.chunks for b in _text_body(chunk)]
    if not len(text):
        return []
    offsets, _ = string_buffers(text)
    return [text.buffers()[2].slice(offsets[0], offsets[-1] - offsets[0])]


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells and column names a spreadsheet would run as a formula start
    with a quote.

    Numbers are left as numbers (a negative number is not a formula).
    """

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_string_dtype(out[col]) or pd.api.types.is_object_dtype(out[col]):
            out[col] = out[col].map(_escaped)
    return out.rename(columns=_escaped)


def _escaped(value):
    """``value`` with a quote before it if a spreadsheet would run it as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value
