"""A saved model on labelled patients: one evaluation for any task, and what is asked of it after.

:func:`evaluate_bundle` scores a bundle on the rows that have an outcome and evaluates it for its
task; the CLI's ``evaluate`` and ``report``, the Evaluate page and the Models page's report all
call it. The :class:`ModelEvaluation` it returns keeps those rows, their observed outcomes and
the model's outputs, so that later questions (another threshold, presets, a clinic's
prevalence, a decision curve over another range, subgroups, baseline models) are answered from
it without scoring the patients again. :meth:`ModelEvaluation.shown` gathers what the model
report shows into a :class:`ReportInput`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError, DataError, SchemaError
from medinn_core.evaluation._binary import (
    BinaryEvaluation,
    ModelComparison,
    SampleSize,
    compare_models,
    evaluate_binary,
)
from medinn_core.evaluation._multiclass import MulticlassEvaluation, evaluate_multiclass
from medinn_core.evaluation._regression import (
    RegressionEvaluation,
    evaluate_regression,
    regression_by_group,
)
from medinn_core.evaluation._subgroups import subgroup_columns, subgroup_table, subgroup_values
from medinn_core.evaluation._survival import (
    SurvivalComparison,
    SurvivalEvaluation,
    compare_c_index,
    evaluate_survival,
    survival_by_group,
)
from medinn_core.evaluation._thresholds import (
    ThresholdMetrics,
    decision_curve,
    threshold_metrics,
    threshold_presets,
)
from medinn_core.schema import Schema, Task
from medinn_core.survival import risk_by

if TYPE_CHECKING:  # annotations only: the registry is not needed to evaluate
    from medinn_core.io import Bundle

__all__ = [
    "GRADIENT_BOOSTING",
    "LOGISTIC_REGRESSION",
    "MIN_COMPARISON_RESAMPLES",
    "NETWORK",
    "ModelEvaluation",
    "ReportInput",
    "SubgroupTable",
    "evaluate_bundle",
]

#: Names of the models in the comparisons shown to a user (the JSON output keeps its own).
NETWORK = "Neural network"
LOGISTIC_REGRESSION = "Logistic regression"
GRADIENT_BOOSTING = "Gradient boosting"
#: Comparisons shown to a user bootstrap at least this often, so the difference has an interval.
MIN_COMPARISON_RESAMPLES = 50


@dataclass(frozen=True, eq=False)
class SubgroupTable:
    """Performance by the groups of one column.

    Attributes
    ----------
    column : the column the patients were split by.
    label : the grouping's name: the column, or ``"<column> band"`` when numbers were banded.
    table : :func:`~medinn_core.evaluation.subgroup_table` (binary) or
        :func:`~medinn_core.evaluation.regression_by_group` (regression) output.
    """

    column: str
    label: str
    table: pd.DataFrame


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelEvaluation:
    """A bundle's evaluation on one labelled table, with what is needed to ask more of it.

    Attributes
    ----------
    model_name, task : the bundle's name and task.
    evaluation : the task's evaluation (:class:`BinaryEvaluation`,
        :class:`MulticlassEvaluation` or :class:`RegressionEvaluation`).
    comparison : binary only: the paired comparison with the bundle's logistic regression,
        named as in the JSON output (``network``, ``logistic_regression``); None without one.
    n_dropped : rows of the table left out for lacking an outcome.
    schema : the model's schema.
    source : the table's name in messages, e.g. ``"'holdout.csv'"``.
    output : the model's outputs for the rows of ``df`` when they are not the model's own
        scores: the out-of-fold outputs of the internal validation
        (:func:`medinn_core.train.held_out`); every row must then have a target.
    baseline : binary: the logistic regression's outputs for the same rows (cross-fitted with
        ``output``); default the bundle's stored logistic regression.
    rows : the labelled rows, in the order of ``observed`` and ``output``.
    observed : outcomes: 0/1 codes (binary), class labels (multiclass) or values (regression).
    output : risks of the event (binary), a probability matrix with one column per class
        (multiclass) or predicted values (regression).
    inputs : the rows encoded for the model, to score baselines fitted on the same encoding.
    baseline_output : the bundle's linear baseline's output for the rows; None without one.
    n_boot, seed : the bootstrap settings, used again for subgroups and comparisons.
    """

    model_name: str
    task: str
    evaluation: BinaryEvaluation | MulticlassEvaluation | RegressionEvaluation | SurvivalEvaluation
    comparison: ModelComparison | SurvivalComparison | None = None
    n_dropped: int = 0
    schema: Schema = field(repr=False)
    source: str = "the data"
    rows: pd.DataFrame = field(repr=False)
    observed: np.ndarray = field(repr=False)
    output: np.ndarray = field(repr=False)
    inputs: np.ndarray = field(repr=False)
    baseline_output: np.ndarray | None = field(default=None, repr=False)
    n_boot: int = 1000
    seed: int = 0
    time: np.ndarray | None = field(default=None, repr=False)
    cumulative_hazard_at_horizon: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: the task's evaluation, the model's name, the rows left out
        and, when there is one, the comparison with the logistic regression."""
        out = self.evaluation.to_dict()
        out["model"] = self.model_name
        out["n_rows_without_target"] = self.n_dropped
        if self.comparison is not None:
            compared = self.comparison.to_dict()
            out["baseline"] = compared.pop("baseline")
            out["comparison"] = compared
        return out

    # -- what the evaluation says by itself ----------------------------------------------------
    @property
    def notes(self) -> tuple[str, ...]:
        """What could not be computed, as sentences. The sample-size warning is left out: it
        comes with :attr:`sample_size`."""
        size = self.sample_size
        return tuple(n for n in self.evaluation.notes if size is None or n != size.warning)

    @property
    def sample_size(self) -> SampleSize | None:
        """Events per model input after encoding (binary); None for other tasks."""
        return self.evaluation.sample_size if self._binary else None

    @property
    def subgroup_columns(self) -> list[str]:
        """Columns the patients can be split by for :meth:`subgroups` (see
        :func:`~medinn_core.evaluation.subgroup_columns`); none for a multiclass model."""
        if isinstance(self.evaluation, MulticlassEvaluation):
            return []
        return subgroup_columns(self.schema, self.rows)

    @property
    def _binary(self) -> bool:
        return isinstance(self.evaluation, BinaryEvaluation)

    def _require_binary(self, what: str) -> None:
        if not self._binary:
            raise ConfigError(f"{what} is computed for binary models; this model is {self.task}.")

    # -- binary: the threshold and the decision curve ----------------------------------------
    def at(self, threshold: float, prevalence: float | None = None) -> ThresholdMetrics:
        """Sensitivity, specificity, PPV, NPV... at ``threshold`` (risk at or above it is
        flagged), with PPV and NPV recomputed for ``prevalence`` when given.

        Raises
        ------
        ConfigError
            If the model is not binary, or ``threshold`` or ``prevalence`` is out of range.
        """
        self._require_binary("Metrics at a threshold")
        return threshold_metrics(self.observed, self.output, threshold, prevalence)

    def presets(
        self, target_sensitivity: float = 0.9, user_threshold: float | None = None
    ) -> pd.DataFrame:
        """The threshold presets (see :func:`~medinn_core.evaluation.threshold_presets`).

        Raises
        ------
        ConfigError
            If the model is not binary, or a setting is out of range.
        """
        self._require_binary("Threshold presets")
        return threshold_presets(
            self.observed,
            self.output,
            target_sensitivity=target_sensitivity,
            user_threshold=user_threshold,
        )

    def decision_curve(self, low: int = 1, high: int = 50) -> pd.DataFrame:
        """The decision curve (see :func:`~medinn_core.evaluation.decision_curve`) at threshold
        probabilities from ``low`` to ``high`` per cent, in steps of one per cent.

        Raises
        ------
        ConfigError
            If the model is not binary, or not ``1 <= low <= high <= 99``.
        """
        self._require_binary("A decision curve")
        if not 1 <= low <= high <= 99:
            raise ConfigError(
                f"The decision curve's range must lie within 1 % to 99 %, low before high; "
                f"got {low} % to {high} %."
            )
        return decision_curve(self.observed, self.output, np.arange(low, high + 1) / 100)

    # -- subgroups and baselines ---------------------------------------------------------------
    def subgroups(self, column: str, threshold: float | None = None) -> SubgroupTable:
        """Performance by the groups of ``column`` (see
        :func:`~medinn_core.evaluation.subgroup_values`): binary metrics at ``threshold``
        (default the evaluation's own) with bootstrap intervals, or the error by group of a
        regression model.

        Raises
        ------
        DataError
            If ``column`` is not in the evaluated rows.
        ConfigError
            If the model is multiclass, or a threshold is given for a regression model.
        """
        if isinstance(self.evaluation, MulticlassEvaluation):
            raise ConfigError(
                "Subgroup tables are computed for binary and regression models; this model "
                "is multiclass."
            )
        if column not in self.rows.columns:
            raise DataError(f"Subgroup column {column!r} is not in {self.source}.")
        groups = subgroup_values(self.rows, column)
        label = str(groups.name or column)
        if isinstance(self.evaluation, SurvivalEvaluation):
            if threshold is not None:
                raise ConfigError("A survival model is evaluated at its horizon, not a threshold.")
            model_risk = risk_by(self.output, self.cumulative_hazard_at_horizon)
            table = survival_by_group(
                self.time,
                self.observed,
                self.output,
                model_risk,
                groups,
                self.evaluation.horizon,
            )
            return SubgroupTable(column, label, table)
        if isinstance(self.evaluation, RegressionEvaluation):
            if threshold is not None:
                raise ConfigError("A regression model has no decision threshold.")
            return SubgroupTable(
                column, label, regression_by_group(self.observed, self.output, groups)
            )
        chosen = self.evaluation.threshold.threshold if threshold is None else threshold
        table = subgroup_table(
            self.observed, self.output, groups, chosen, n_boot=self.n_boot, seed=self.seed
        )
        return SubgroupTable(column, label, table)

    def logistic_comparison(self) -> ModelComparison | None:
        """The network against the bundle's logistic regression on these patients, named for a
        reader (:data:`NETWORK`, :data:`LOGISTIC_REGRESSION`) and bootstrapped at least
        :data:`MIN_COMPARISON_RESAMPLES` times; None for a model without one or not binary."""
        if not self._binary or self.baseline_output is None:
            return None
        return self._compared(LOGISTIC_REGRESSION, self.baseline_output)

    def compare_with(self, estimator: Any, name: str = GRADIENT_BOOSTING) -> ModelComparison:
        """The network against ``estimator``, a scikit-learn classifier fitted on the model's
        own encoding of its training split (e.g. :func:`medinn_core.train.fit_gradient_boosting`),
        paired on these patients like :meth:`logistic_comparison`.

        Raises
        ------
        ConfigError
            If the model is not binary, or ``name`` is :data:`NETWORK`.
        """
        from medinn_core.train import estimator_output

        self._require_binary("A comparison with another model")
        return self._compared(name, estimator_output(estimator, Task.BINARY, self.inputs))

    def compare_outputs(self, other: np.ndarray, name: str = GRADIENT_BOOSTING) -> ModelComparison:
        """The network against another model's outputs for these same patients (for example
        gradient boosting cross-fitted on the network's folds, see
        :func:`medinn_core.train.held_out`), paired like :meth:`logistic_comparison`.

        Raises
        ------
        ConfigError
            If the model is not binary, or ``other`` has another number of patients.
        """
        self._require_binary("A comparison with another model")
        other = np.asarray(other, dtype=np.float64)
        if other.shape != self.output.shape:
            raise ConfigError(
                f"The other model has {len(other)} outputs for {len(self.output)} patients."
            )
        return self._compared(name, other)

    def _compared(self, name: str, other: np.ndarray) -> ModelComparison:
        return compare_models(
            self.observed,
            self.output,
            other,
            names=(NETWORK, name),
            n_boot=max(self.n_boot, MIN_COMPARISON_RESAMPLES),
            seed=self.seed,
        )

    # -- the report ----------------------------------------------------------------------------
    def shown(
        self,
        *,
        threshold: float | None = None,
        decision_range: tuple[int, int] | None = None,
        subgroups: Sequence[str | SubgroupTable] = (),
        comparison: ModelComparison | None = None,
    ) -> ReportInput:
        """What the model report shows of this evaluation.

        Parameters
        ----------
        threshold : binary: the threshold of the metrics shown; default the evaluation's own.
        decision_range : binary: the decision curve's range in per cent, as in
            :meth:`decision_curve`; default the evaluation's own curve (1 % to 50 %).
        subgroups : columns to split the patients by, or tables :meth:`subgroups` made already
            (at ``threshold``).
        comparison : the paired baseline comparison to show; default :attr:`comparison`.

        Raises
        ------
        ConfigError
            If a threshold or a decision range is given for a model that is not binary, or
            subgroups for a multiclass model.
        DataError
            If a subgroup column is not in the evaluated rows.
        """
        at, curve = None, None
        if self._binary:
            at = self.evaluation.threshold if threshold is None else self.at(threshold)
            curve = (
                self.evaluation.decision_curve
                if decision_range is None
                else self.decision_curve(*decision_range)
            )
        elif threshold is not None or decision_range is not None:
            raise ConfigError(
                f"A threshold and a decision curve belong to binary models; this model is "
                f"{self.task}."
            )
        tables = tuple(
            s if isinstance(s, SubgroupTable) else self.subgroups(s, threshold) for s in subgroups
        )
        return ReportInput(
            evaluation=self,
            threshold=at,
            decision_curve=curve,
            comparison=self.comparison if comparison is None else comparison,
            subgroups=tables,
        )


@dataclass(frozen=True, eq=False)
class ReportInput:
    """What the model report shows of an evaluation; made by :meth:`ModelEvaluation.shown`.

    Attributes
    ----------
    evaluation : the evaluation reported.
    threshold : binary: the metrics at the threshold shown; None for other tasks.
    decision_curve : binary: the decision curve shown; None for other tasks.
    comparison : the paired comparison with a baseline shown; None for the training-time
        baseline metrics of the bundle's metadata.
    subgroups : performance by the groups of each column shown.
    """

    evaluation: ModelEvaluation
    threshold: ThresholdMetrics | None
    decision_curve: pd.DataFrame | None
    comparison: ModelComparison | None
    subgroups: tuple[SubgroupTable, ...] = ()


def evaluate_bundle(
    bundle: Bundle,
    df: pd.DataFrame,
    *,
    threshold: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    source: str = "the data",
    output: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
) -> ModelEvaluation:
    """Score a loaded bundle on a labelled table and evaluate it for its task.

    Rows without a target value are left out (and counted). For binary models the bundle's
    logistic-regression baseline is scored on the same rows and compared (paired bootstrap),
    and the sample size is checked against the model's inputs after encoding.

    Parameters
    ----------
    bundle : the model to evaluate.
    df : the table, with the target column and every column the model needs.
    threshold : binary: the decision threshold; default the model's own.
    n_boot, seed : bootstrap resamples of patients (0 skips the intervals) and their seed.
    source : the table's name in messages, e.g. ``"'holdout.csv'"``.
    output : the model's outputs for the rows of ``df`` when they are not the model's own
        scores: the out-of-fold outputs of the internal validation
        (:func:`medinn_core.train.held_out`); every row must then have a target.
    baseline : binary: the logistic regression's outputs for the same rows (cross-fitted with
        ``output``); default the bundle's stored logistic regression.

    Raises
    ------
    SchemaError
        If the target or a column the model needs is missing, or the target holds classes
        the model does not know.
    DataError
        If no row has a target value.
    ConfigError
        If ``threshold`` or a bootstrap setting is out of range.
    """
    from medinn_core.predict import require_columns
    from medinn_core.schema import labels, numeric_view
    from medinn_core.train import baseline_output

    model = bundle.model
    schema = model.schema
    if schema.target not in df.columns:
        raise SchemaError(
            f"{source} has no target column {schema.target!r}; evaluation needs the true outcome."
        )
    labelled = df[df[schema.target].notna()]
    if labelled.empty:
        raise DataError(f"Target column {schema.target!r} in {source} is empty in every row.")
    require_columns(labelled, model, source)
    if output is not None and len(output) != len(df):
        raise ConfigError(f"output has {len(output)} rows; {source} has {len(df)}.")
    if output is not None and len(labelled) != len(df):
        raise DataError(f"Every row of {source} needs a target value to use its own outputs.")
    task = Task(schema.task)
    inputs = model.transform(labelled)
    comparison, base, time, h0 = None, None, None, None
    if task == Task.SURVIVAL:
        observed = model.encode_target(labelled)
        time = model.encode_time(labelled)
        output = model.predict(labelled) if output is None else np.asarray(output)
        result = evaluate_survival(
            time,
            observed,
            output,
            model.baseline_,
            time_column=str(schema.time_column),
            n_boot=n_boot,
            seed=seed,
        )
        h0 = model.baseline_.at_horizon
        if baseline is not None:
            base = np.asarray(baseline)
        elif bundle.baseline:
            base = baseline_output(bundle.baseline, task, inputs)
        if base is not None:
            comparison = compare_c_index(time, observed, output, base, n_boot=n_boot, seed=seed)
    elif task == Task.REGRESSION:
        observed = numeric_view(labelled[schema.target]).to_numpy()
        output = model.predict(labelled) if output is None else np.asarray(output)
        result = evaluate_regression(observed, output, n_boot=n_boot, seed=seed)
    elif task == Task.BINARY:
        observed = model.encode_target(labelled)
        output = model.predict_proba(labelled)[:, 1] if output is None else np.asarray(output)
        result = evaluate_binary(
            observed,
            output,
            threshold=model.threshold_ if threshold is None else threshold,
            n_boot=n_boot,
            seed=seed,
            n_parameters=len(model.preprocessor_.feature_names_),
        )
        if baseline is not None:
            base = np.asarray(baseline)
        elif bundle.baseline:
            base = baseline_output(bundle.baseline, task, inputs)
        if base is not None:
            comparison = compare_models(
                observed,
                output,
                base,
                names=("network", "logistic_regression"),
                n_boot=n_boot,
                seed=seed,
            )
    else:
        model.encode_target(labelled)  # refuses unknown classes by name
        observed = labels(labelled[schema.target]).to_numpy()
        output = model.predict_proba(labelled) if output is None else np.asarray(output)
        result = evaluate_multiclass(
            observed, output, list(model.classes_), n_boot=n_boot, seed=seed
        )
    return ModelEvaluation(
        model_name=bundle.name,
        task=task.value,
        evaluation=result,
        comparison=comparison,
        n_dropped=len(df) - len(labelled),
        schema=schema,
        source=source,
        rows=labelled,
        observed=observed,
        output=output,
        inputs=inputs,
        baseline_output=base,
        n_boot=int(n_boot),
        seed=int(seed),
        time=time,
        cumulative_hazard_at_horizon=h0,
    )
