"""A model's terms as a clinician reads them beside its explanations.

:func:`explanation_terms` gives each input's unit, the value that replaces a missing number,
and what the explained output is called and measured in; :func:`model_inputs` gives the table
of the model's inputs (kind, unit, range seen in training, what replaces a missing value,
description) with the number of encoded inputs the network takes. Both read the bundle's
schema and what its preprocessing learned in training, through the model's public accessors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import pandas as pd

from medinn_core.errors import ConfigError
from medinn_core.schema import Kind, Task

if TYPE_CHECKING:  # annotations only: explaining needs nothing else of the registry
    from medinn_core.io import Bundle

INPUT_COLUMNS = ("input", "kind", "unit", "seen in training", "when missing", "description")


@dataclass(frozen=True)
class Terms:
    """The words and numbers that go with one explained output of a model.

    Attributes
    ----------
    units : feature -> its unit ("" when it has none).
    imputed : feature -> the training median that replaces a missing number (None for a
        category, whose missing value is a level of its own).
    output_unit : the target's unit for a regression model, else "".
    output_name : what the output is called where "Risk" would be vague: "Probability of
        <class>" (multiclass), "Predicted <target>" (regression); "" for a binary risk.
    """

    units: Mapping[str, str]
    imputed: Mapping[str, float | None]
    output_unit: str
    output_name: str

    @property
    def output(self) -> dict[str, str]:
        """``output_unit`` and ``output_name`` as keyword arguments of the figures and words
        of :mod:`medinn_core.explain`."""
        return {"output_unit": self.output_unit, "output_name": self.output_name}


@dataclass(frozen=True, eq=False)
class ModelInputs:
    """The inputs of a model as a table, and how many encoded inputs the network takes.

    Attributes
    ----------
    table : one row per feature, columns ``INPUT_COLUMNS``: its name, kind and unit, the range
        (numbers: 0.5th to 99.5th percentile) or categories seen in training, what replaces a
        missing value, and its description.
    n_encoded : the number of network inputs the features are encoded into.
    """

    table: pd.DataFrame
    n_encoded: int


def explanation_terms(bundle: Bundle, class_name: str | None = None) -> Terms:
    """The terms of ``bundle``'s explanations of ``class_name`` (multiclass; default the last
    class, as :func:`~medinn_core.explain.explain_model` explains by default).

    Raises
    ------
    ConfigError
        If ``class_name`` is not one of a multiclass model's classes.
    ModelError
        If the model is not fitted.
    """
    model = bundle.model
    schema = model.schema
    task = Task(schema.task)
    features = schema.features
    imputed = {
        c.name: model.imputed_value(c.name) if c.kind == Kind.NUMERIC else None for c in features
    }
    output_unit, output_name = "", ""
    if task == Task.MULTICLASS:
        classes = [str(c) for c in model.classes_]
        chosen = classes[-1] if class_name is None else str(class_name)
        if chosen not in classes:
            raise ConfigError(
                f"Class {chosen!r} is not one of the model's classes: {', '.join(classes)}."
            )
        output_name = f"Probability of {chosen}"
    elif task == Task.REGRESSION:
        output_unit = schema.column(schema.target).unit
        output_name = f"Predicted {schema.target}"
    elif task == Task.SURVIVAL:  # the network's output: contributions add up to it
        output_name = "Log-hazard"
    return Terms(
        units=MappingProxyType({c.name: c.unit for c in features}),
        imputed=MappingProxyType(imputed),
        output_unit=output_unit,
        output_name=output_name,
    )


def model_inputs(bundle: Bundle) -> ModelInputs:
    """The table of ``bundle``'s inputs, as the Explain page lists them.

    Raises
    ------
    ModelError
        If the model is not fitted.
    """
    model = bundle.model
    rows = []
    for col in model.schema.features:
        if col.kind == Kind.NUMERIC:
            bounds = model.training_range(col.name)
            seen = "" if bounds is None else f"{bounds[0]:.4g} to {bounds[1]:.4g}"
            fill = model.imputed_value(col.name)
            missing = "" if fill is None else f"replaced by the median, {fill:.4g}"
        else:
            seen = ", ".join(model.training_categories(col.name))
            missing = "its own category"
        rows.append(
            dict(
                zip(
                    INPUT_COLUMNS,
                    (col.name, col.kind.value, col.unit, seen, missing, col.description),
                    strict=True,
                )
            )
        )
    return ModelInputs(
        table=pd.DataFrame(rows, columns=list(INPUT_COLUMNS)), n_encoded=model.n_inputs
    )
