"""A patient's value as a clinician reads it: "age = 67 y", "hdl = missing, imputed 52 mg/dL".

Light (pandas and NumPy only), so that both the explanations' words and the unusual-patient
reasons of :mod:`medinn_core.predict` use it without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def format_number(value: float) -> str:
    """A measured value as written on a chart: 67, 28.5, 0.95 (at most 4 significant digits)."""
    x = float(value)
    if x.is_integer() and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.4g}"


def is_missing(value: Any) -> bool:
    """Whether a cell is missing (a list or an array is a value, not a missing cell)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array is a value, not a missing cell
        return False


def describe_value(
    feature: str,
    value: Any,
    units: Mapping[str, str] | None = None,
    imputed: Mapping[str, float | None] | None = None,
) -> str:
    """``feature = value unit`` as a clinician reads it.

    A missing number names the value the model used instead when ``imputed`` has one:
    ``"hdl = missing, imputed 52 mg/dL"``; a missing category reads ``"smoking = missing"``.
    Text that ``imputed`` marks as a number but cannot be read as one was missing to the model.
    """
    unit = (units or {}).get(feature) or ""
    fill = (imputed or {}).get(feature)
    suffix = f" {unit}" if unit else ""
    number = _as_number(value)
    if is_missing(value) or (fill is not None and number is None):
        if fill is not None:
            return f"{feature} = missing, imputed {format_number(fill)}{suffix}"
        return f"{feature} = missing"
    if number is not None and not isinstance(value, str):
        return f"{feature} = {format_number(number)}{suffix}"
    if number is not None and fill is not None:  # a number stored as text
        return f"{feature} = {format_number(number)}{suffix}"
    return f"{feature} = {str(value).strip()}"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_):
        return float(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
