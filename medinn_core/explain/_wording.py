"""Words for an :class:`~medinn_core.explain.Explanation`: an output or a change in the
clinician's terms (risk in %, log-odds, a value in the target's unit), and the plain sentence
under a waterfall.

A binary or multiclass model in probability space is described in % (contributions in
percentage points), log-odds as they are, a regression in the target's unit
(``output_unit``); ``output_name`` renames the output where "Risk" or "Predicted value" would
be vague ("Probability of severe", "Predicted dose"). Each patient's value is labelled as
:func:`medinn_core.values.describe_value` words it ("age = 67 y", "hdl = missing, imputed
52 mg/dL").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from medinn_core.errors import DataError, list_examples
from medinn_core.explain._engine import Explanation
from medinn_core.values import describe_value, format_number


# -- shared pieces ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Scale:
    """How an explanation's numbers are shown: multiplied by ``factor``, with these words."""

    factor: float
    output: str  # "Risk", "Log-odds", "Predicted value"
    unit: str  # the output's unit, "" for log-odds
    change: str  # what a contribution is: "change in risk"
    change_unit: str  # its unit: "percentage points", "" for log-odds

    def value(self, x: float) -> str:
        """An output (risk, log-odds or predicted value) for a sentence or a label."""
        if self.factor == 100:
            return f"{_percent(x)} %"
        return f"{format_number(x)} {self.unit}".rstrip() if self.unit else format_number(x)

    def delta(self, x: float) -> str:
        """A contribution, signed, in the scale's unit (percentage points for risks)."""
        return f"{x * self.factor:+.1f}" if self.factor == 100 else f"{x:+.3g}"

    def axis(self, words: str) -> str:
        """An axis title with the unit of contributions: "Mean change in risk (percentage
        points)"."""
        return f"{words} ({self.change_unit})" if self.change_unit else words


def _scale(expl: Explanation, output_unit: str = "", output_name: str = "") -> _Scale:
    if expl.space == "logit":
        scale = _Scale(1.0, "Log-odds", "", "change in log-odds", "")
    elif expl.class_name is not None:
        scale = _Scale(100.0, "Risk", "%", "change in risk", "percentage points")
    else:
        scale = _Scale(1.0, "Predicted value", output_unit, "change in prediction", output_unit)
    if output_name:
        change = f"change in {output_name[0].lower()}{output_name[1:]}"
        scale = replace(scale, output=output_name, change=change)
    return scale


def output_parts(
    expl: Explanation, value: float, output_unit: str = "", output_name: str = ""
) -> tuple[str, str]:
    """What an output of ``expl``'s model is, and its value: ("Risk", "23 %"), ("Log-odds",
    "-1.2"), ("Predicted value", "35 mg/week")."""
    scale = _scale(expl, output_unit, output_name)
    return scale.output, scale.value(value)


def output_text(
    expl: Explanation, value: float, output_unit: str = "", output_name: str = ""
) -> str:
    """An output in words: "risk 23 %", "log-odds -1.2", "predicted value 35 mg/week"."""
    name, text = output_parts(expl, value, output_unit, output_name)
    return f"{name.lower()} {text}"


def output_texts(
    expl: Explanation, values: Sequence[float], output_unit: str = "", output_name: str = ""
) -> list[str]:
    """:func:`output_text` of many outputs (a patient picker's 10,000 labels), the scale
    worked out once."""
    scale = _scale(expl, output_unit, output_name)
    name = scale.output.lower()
    return [f"{name} {scale.value(v)}" for v in values]


def change_text(
    expl: Explanation, change: float, output_unit: str = "", output_name: str = ""
) -> str:
    """A change of output, signed: "+4.1 percentage points", "-0.35", "+2.1 mg/week"."""
    scale = _scale(expl, output_unit, output_name)
    return f"{scale.delta(change)} {scale.change_unit}".rstrip()


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _percent(p: float) -> str:
    """A probability as a percentage a reader takes in at once: 23, 9, 0.4, 99.6."""
    x = 100 * float(p)
    return f"{x:.0f}" if 1 <= x <= 99 else f"{x:.1f}"


def _check_patient(expl: Explanation, i: int) -> None:
    n = len(expl.contributions)
    if not 0 <= int(i) < n:
        raise DataError(
            f"Patient position {i} is out of range: the explanation covers {n} patients "
            f"(positions 0 to {n - 1})."
        )


def _check_feature(expl: Explanation, feature: str, what: str = "Feature") -> None:
    if feature not in expl.contributions.columns:
        raise DataError(
            f"{what} {feature!r} is not one of the explained features: "
            f"{list_examples(list(expl.contributions.columns))}."
        )


def plain_sentence(
    expl: Explanation,
    i: int,
    units: Mapping[str, str],
    top_up: int = 3,
    top_down: int = 2,
    *,
    imputed: Mapping[str, float | None] | None = None,
    output_unit: str = "",
    output_name: str = "",
) -> str:
    """One sentence: the patient's prediction, the average, what raised and lowered it most.

    "Risk 23 % (average 9 %). Raised most by prior_mi = 1, age = 74 y and smoking = current;
    lowered most by hdl = 71 mg/dL and systolic_bp = 118 mmHg."

    Raises
    ------
    DataError
        If ``i`` is not a patient's position.
    """
    _check_patient(expl, i)
    scale = _scale(expl, output_unit, output_name)
    factors = expl.top_factors(i, n_up=top_up, n_down=top_down)
    said = {
        direction: _and_list(
            [
                describe_value(f, v, units, imputed)
                for f, v in factors.loc[
                    factors["direction"] == direction, ["feature", "value"]
                ].itertuples(index=False, name=None)
            ]
        )
        for direction in ("raises", "lowers")
    }
    head = (
        f"{scale.output} {scale.value(float(expl.output[i]))} "
        f"(average {scale.value(expl.base_value)})."
    )
    if said["raises"] and said["lowers"]:
        return f"{head} Raised most by {said['raises']}; lowered most by {said['lowers']}."
    if said["raises"]:
        return f"{head} Raised most by {said['raises']}; nothing lowered it."
    if said["lowers"]:
        return f"{head} Nothing raised it; lowered most by {said['lowers']}."
    return f"{head} No feature moved it from the average."


def _and_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def contribution_scale(
    expl: Explanation, output_unit: str = "", output_name: str = ""
) -> tuple[float, str]:
    """How ``expl``'s figures show a contribution: the factor its values are multiplied by
    (100 for a risk) and their unit: "percentage points" for a risk, "log-odds" in log-odds,
    the target's unit (or "") for a predicted value."""
    scale = _scale(expl, output_unit, output_name)
    return scale.factor, scale.change_unit or ("log-odds" if expl.space == "logit" else "")
