"""Clinical measurements: what a column measures, in which unit, and which values are plausible.

A column's name is matched as whole clinical terms, not substrings: ``serum_creatinine`` is
creatinine, ``creatinine_phosphokinase`` is an enzyme (creatine kinase, U/L), and ``ca`` is not
calcium. A measurement is known in its conventional unit and, where one is in use, its SI unit
(cholesterol in mg/dL or mmol/L, creatinine in mg/dL or µmol/L). Which one a column uses is
decided from its values (a unit written in the name, ``glucose_mmol``, decides it outright),
and the user may change it. Each range is written once, in the conventional unit, and
converted to the others with pint, through the substance's molar mass where mass and amount
concentrations meet.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

#: pint's spelling of each unit medinn shows; "count" units are numbers of cells.
_PINT = MappingProxyType(
    {
        "y": "year",
        "kg/m²": "kg/m**2",
        "mg/dL": "mg/dL",
        "mmol/L": "mmol/L",
        "µmol/L": "umol/L",
        "g/dL": "g/dL",
        "g/L": "g/L",
        "mmHg": "mmHg",
        "bpm": "1/min",
        "/min": "1/min",
        "kg": "kg",
        "lb": "lb",
        "cm": "cm",
        "m": "m",
        "in": "inch",
        "°C": "degC",
        "°F": "degF",
        "mm": "mm",
        "%": "percent",
        "U/L": "U/L",
        "µU/mL": "uU/mL",
        "/µL": "count/uL",
        "10³/µL": "kcount/uL",
    }
)
#: Unit words that may end a column's name ("glucose_mmol", "chol_mgdl"), and the unit meant.
_NAME_UNITS = MappingProxyType(
    {
        "mgdl": "mg/dL",
        "mg": "mg/dL",
        "mmol": "mmol/L",
        "mmoll": "mmol/L",
        "umol": "µmol/L",
        "umoll": "µmol/L",
        "micromol": "µmol/L",
        "gdl": "g/dL",
        "gl": "g/L",
        "kg": "kg",
        "lb": "lb",
        "lbs": "lb",
        "cm": "cm",
        "m": "m",
        "in": "in",
        "inch": "in",
        "inches": "in",
        "c": "°C",
        "celsius": "°C",
        "f": "°F",
        "fahrenheit": "°F",
    }
)


@dataclass(frozen=True)
class Measure:
    """A clinical measurement medinn knows.

    ``terms`` are names as words joined by ``_`` ("serum_creatinine"): a column matches when
    one term's words appear, in order and whole, among its name's words, and none of
    ``not_with``. ``units`` lists the conventional unit first; ``plausible`` (what a living
    patient can have) and ``typical`` (where most patients lie, which tells units apart) are
    given in that first unit.
    """

    key: str
    description: str
    terms: tuple[str, ...]
    units: tuple[str, ...]
    plausible: tuple[float, float]
    typical: tuple[float, float]
    molar_mass: float | None = None  # g/mol, to convert mass and amount concentrations
    nonzero: bool = True
    not_with: tuple[str, ...] = field(default=())

    def range_in(self, unit: str, which: str = "plausible") -> tuple[float, float]:
        """``plausible`` or ``typical`` in ``unit`` (one of :attr:`units`)."""
        low, high = getattr(self, which)
        return convert(low, self.units[0], unit, self), convert(high, self.units[0], unit, self)


_SERUM = ("urine", "urinary", "ratio", "clearance", "csf")
#: More specific measurements come first: the first match wins.
MEASURES: tuple[Measure, ...] = (
    Measure("age", "age", ("age", "age_years", "age_y"), ("y",), (0, 120), (0, 110), None, False),
    Measure("bmi", "body-mass index", ("bmi", "body_mass_index"), ("kg/m²",), (10, 90), (14, 60)),
    Measure(
        "hba1c",
        "glycated haemoglobin",
        ("hba1c", "a1c", "hb_a1c", "glycated_haemoglobin", "glycated_hemoglobin"),
        ("%",),
        (3, 20),
        (4, 15),
    ),
    Measure(
        "hdl",
        "HDL cholesterol",
        ("hdl", "hdl_c", "hdl_cholesterol"),
        ("mg/dL", "mmol/L"),
        (5, 200),
        (15, 120),
        386.65,
        not_with=("ratio",),
    ),
    Measure(
        "ldl",
        "LDL cholesterol",
        ("ldl", "ldl_c", "ldl_cholesterol"),
        ("mg/dL", "mmol/L"),
        (10, 600),
        (30, 300),
        386.65,
        not_with=("ratio",),
    ),
    Measure(
        "cholesterol",
        "total cholesterol",
        ("cholesterol", "chol", "total_cholesterol", "serum_cholesterol"),
        ("mg/dL", "mmol/L"),
        (50, 1000),
        (90, 450),
        386.65,
        not_with=("hdl", "ldl", "vldl", "ratio"),
    ),
    Measure(
        "triglycerides",
        "triglycerides",
        ("triglycerides", "triglyceride", "trig", "tg"),
        ("mg/dL", "mmol/L"),
        (10, 5000),
        (35, 800),
        885.7,
    ),
    Measure(
        "glucose",
        "blood glucose",
        ("glucose", "glu", "blood_glucose", "plasma_glucose", "blood_sugar", "bgr"),
        ("mg/dL", "mmol/L"),
        (10, 1000),
        (50, 450),
        180.16,
        not_with=("urine", "urinary", "fasting_blood_sugar", "fbs"),
    ),
    Measure(
        "creatine_kinase",
        "creatine kinase (an enzyme)",
        ("creatine_kinase", "creatinine_phosphokinase", "creatine_phosphokinase", "cpk", "ck"),
        ("U/L",),
        (1, 100_000),
        (10, 5000),
    ),
    Measure(
        "creatinine",
        "serum creatinine",
        ("creatinine", "serum_creatinine", "creat", "scr"),
        ("mg/dL", "µmol/L"),
        (0.1, 25),
        (0.3, 12),
        113.12,
        not_with=(*_SERUM, "phosphokinase", "kinase", "cpk"),
    ),
    Measure(
        "urea",
        "blood urea nitrogen",
        ("bun", "blood_urea_nitrogen", "urea_nitrogen", "urea", "blood_urea"),
        ("mg/dL", "mmol/L"),
        (1, 400),
        (5, 150),
        28.014,  # urea nitrogen: two nitrogen atoms a molecule
        not_with=_SERUM,
    ),
    Measure(
        "haemoglobin",
        "haemoglobin",
        ("haemoglobin", "hemoglobin", "hgb", "hb", "hemo"),
        ("g/dL", "g/L"),
        (2, 25),
        (5, 20),
        not_with=("a1c", "hba1c", "glycated"),
    ),
    Measure(
        "albumin",
        "serum albumin",
        ("albumin", "alb", "serum_albumin"),
        ("g/dL", "g/L"),
        (0.5, 7),
        (1.5, 6),
        not_with=(*_SERUM, "globulin"),
    ),
    Measure(
        "total_protein",
        "total protein",
        ("total_protein", "total_proteins", "total_protiens", "protein"),
        ("g/dL", "g/L"),
        (2, 15),
        (3.5, 10),
        not_with=_SERUM,
    ),
    Measure(
        "bilirubin",
        "bilirubin",
        ("bilirubin", "total_bilirubin", "direct_bilirubin", "bili"),
        ("mg/dL", "µmol/L"),
        (0.01, 60),
        (0.1, 3),
        584.66,
        not_with=_SERUM,
    ),
    Measure(
        "calcium",
        "serum calcium",
        ("calcium", "serum_calcium"),
        ("mg/dL", "mmol/L"),
        (2, 20),
        (6, 14),
        40.078,
        not_with=_SERUM,
    ),
    Measure(
        "sodium",
        "serum sodium",
        ("sodium", "serum_sodium", "sod"),
        ("mmol/L",),
        (90, 200),
        (110, 170),
        not_with=_SERUM,
    ),
    Measure(
        "potassium",
        "serum potassium",
        ("potassium", "serum_potassium", "pot"),
        ("mmol/L",),
        (1, 12),
        (2, 8),
        not_with=_SERUM,
    ),
    Measure(
        "liver_enzyme",
        "liver enzyme activity",
        (
            "alt",
            "ast",
            "alp",
            "sgpt",
            "sgot",
            "ggt",
            "alanine_aminotransferase",
            "aspartate_aminotransferase",
            "alkaline_phosphatase",
            "alkaline_phosphotase",
            "gamma_gt",
        ),
        ("U/L",),
        (1, 20_000),
        (5, 2000),
    ),
    Measure(
        "ejection_fraction",
        "ejection fraction",
        ("ejection_fraction", "lvef", "ef"),
        ("%",),
        (5, 90),
        (10, 80),
    ),
    Measure(
        "platelets",
        "platelet count",
        ("platelets", "platelet", "platelet_count", "plt"),
        ("/µL", "10³/µL"),
        (1_000, 2_000_000),
        (20_000, 900_000),
    ),
    Measure(
        "white_cells",
        "white blood cell count",
        ("wbc", "white_blood_cells", "white_blood_cell_count", "white_cell_count", "leukocytes"),
        ("10³/µL", "/µL"),
        (0.1, 500),
        (1, 40),
        not_with=_SERUM,
    ),
    Measure(
        "heart_rate",
        "heart rate",
        ("heart_rate", "hr", "pulse", "max_hr", "thalach", "resting_hr", "max_heart_rate"),
        ("bpm",),
        (20, 300),
        (30, 220),
    ),
    Measure(
        "systolic",
        "systolic blood pressure",
        (
            "systolic",
            "sbp",
            "systolic_bp",
            "sys_bp",  # Framingham's sysBP
            "trestbps",
            "resting_bp",
            "resting_blood_pressure",
            "ap_hi",
        ),
        ("mmHg",),
        (50, 300),
        (70, 250),
    ),
    Measure(
        "diastolic",
        "diastolic blood pressure",
        (
            "diastolic",
            "dbp",
            "diastolic_bp",
            "dia_bp",
            "blood_pressure",
            "bloodpressure",
            "bp",
            "ap_lo",
        ),
        ("mmHg",),
        (20, 200),
        (30, 150),
    ),
    Measure(
        "temperature",
        "body temperature",
        ("temperature", "temp", "body_temperature"),
        ("°C", "°F"),
        (25, 45),
        (34, 42),
        None,
        True,
    ),
    Measure(
        "weight",
        "body weight",
        ("weight", "body_weight", "wt"),
        ("kg", "lb"),
        (0.3, 400),
        (35, 120),
        not_with=("birth", "loss", "gain", "change"),
    ),
    Measure(
        "height",
        "height",
        ("height", "body_height"),
        ("cm", "m", "in"),
        (30, 250),
        (120, 210),
    ),
    Measure(
        "skin_thickness",
        "skinfold thickness",
        ("skin_thickness", "skinthickness", "skinfold", "skinfold_thickness", "triceps_skinfold"),
        ("mm",),
        (1, 120),
        (5, 80),
    ),
    Measure("insulin", "serum insulin", ("insulin",), ("µU/mL",), (1, 1000), (2, 400)),
    Measure(
        "oxygen_saturation",
        "oxygen saturation",
        ("spo2", "sao2", "oxygen_saturation", "o2_sat", "o2_saturation"),
        ("%",),
        (40, 100),
        (70, 100),
    ),
)
_BY_KEY = MappingProxyType({m.key: m for m in MEASURES})


@dataclass(frozen=True)
class UnitChoice:
    """The unit a column's values were read in, and why (shown to the user)."""

    measure: Measure
    unit: str
    reason: str

    @property
    def alternatives(self) -> tuple[str, ...]:
        """The other units the measurement is known in."""
        return tuple(u for u in self.measure.units if u != self.unit)


def measure(key: str) -> Measure:
    """The known measurement called ``key`` (raises ``KeyError`` for an unknown one)."""
    return _BY_KEY[key]


def words(name: str) -> tuple[str, ...]:
    """A column name as lower-case words: ``"SerumCreatinine (mg/dL)"`` -> serum, creatinine,
    mg, dl; ``"max_HR"`` -> max, hr."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", str(name))
    return tuple(w for w in re.split(r"[^0-9a-z]+", spaced.lower()) if w)


def _contains(sequence: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return any(sequence[i : i + n] == part for i in range(len(sequence) - n + 1))


def match(name: str) -> Measure | None:
    """The measurement a column's name names, as whole words; None if none does."""
    found = words(name)
    joined = "_".join(found)
    for candidate in MEASURES:
        excluded = any(
            _contains(found, tuple(word.split("_"))) or word == joined
            for word in candidate.not_with
        )
        if excluded:
            continue
        if any(_contains(found, tuple(term.split("_"))) for term in candidate.terms):
            return candidate
        # names written as one word: "serumcreatinine", "bloodpressure"
        if any(term.replace("_", "") == joined.replace("_", "") for term in candidate.terms):
            return candidate
    return None


@functools.cache
def _registry():
    import pint  # only when a unit is converted: the Data page opens without it

    return pint.UnitRegistry()


def convert(value: float, unit: str, to: str, of: Measure | None = None) -> float:
    """``value`` in ``unit`` expressed in ``to``; mass and amount concentrations convert
    through the molar mass of ``of``.

    Raises
    ------
    ValueError
        If the units do not convert into each other (or need a molar mass not given).
    """
    if unit == to:
        return float(value)
    registry = _registry()
    quantity = registry.Quantity(float(value), _PINT[unit])
    target = registry.Quantity(1.0, _PINT[to])
    if quantity.dimensionality != target.dimensionality:
        if of is None or of.molar_mass is None:
            raise ValueError(f"{unit} does not convert to {to}")
        molar = registry.Quantity(of.molar_mass, "g/mol")
        quantity = quantity * molar if "mol" in _PINT[unit] else quantity / molar
    return float(quantity.to(_PINT[to]).magnitude)


def _share_within(values: np.ndarray, low: float, high: float) -> float:
    return float(np.mean((values >= low) & (values <= high))) if values.size else 0.0


def choose_unit(found: Measure, name: str, values: Iterable[float]) -> UnitChoice:
    """The unit a column's values are in: the one written in its name, else the one whose
    typical range holds the most values, else (no values, or a tie) the conventional one."""
    for word in words(name)[1:]:
        unit = _NAME_UNITS.get(word)
        if unit in found.units:
            return UnitChoice(found, unit, f"the column's name says {unit}")
    numbers = np.asarray([v for v in values if v is not None], dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    if found.nonzero:
        numbers = numbers[numbers != 0]
    if len(found.units) == 1:
        return UnitChoice(found, found.units[0], f"the unit of {found.description}")
    if numbers.size == 0:
        return UnitChoice(found, found.units[0], "assumed: the column holds no values")
    shares = {u: _share_within(numbers, *found.range_in(u, "typical")) for u in found.units}
    best = max(found.units, key=lambda u: (shares[u], -found.units.index(u)))
    low, high = np.quantile(numbers, [0.05, 0.95])
    spread = f"{_g(low)}–{_g(high)}"
    if shares[best] == 0 or sorted(shares.values())[-2] == shares[best]:
        return UnitChoice(
            found,
            found.units[0],
            f"assumed: the values ({spread}) do not tell {' from '.join(found.units)} apart",
        )
    return UnitChoice(found, best, f"most values ({spread}) are typical in {best}")


#: Share of a column's values that must be plausible in another unit for it to be offered.
FITS_SHARE = 0.95


def unit_fitting(found: Measure, values: Iterable[float], but: str) -> str | None:
    """Another known unit of ``found`` in which nearly all values (``FITS_SHARE``) are
    plausible, and more of them than in ``but``, if there is one: values out of range in
    ``but`` that fit it call for changing the unit, not for correcting the values."""
    numbers = np.asarray(list(values), dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    if found.nonzero:
        numbers = numbers[numbers != 0]
    if numbers.size == 0:
        return None
    here = _share_within(numbers, *found.range_in(but))
    for unit in found.units:
        share = _share_within(numbers, *found.range_in(unit))
        if unit != but and share >= FITS_SHARE and share > here:
            return unit
    return None


def _g(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
