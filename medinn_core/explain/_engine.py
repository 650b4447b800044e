"""Explanations: how much each original column moved a patient's prediction from the average.

The engine explains the network over its encoded inputs, then folds the encoded columns back
into the columns a clinician knows:

* :func:`explain_encoded` computes contributions that add up exactly: base value (the mean
  output over a background summary) plus the sum of contributions equals the model's output.
  By default it runs medinn's vectorised DeepLIFT (:mod:`medinn_core.explain`): shap's
  DeepExplainer values, an order of magnitude faster than DeepExplainer and thousands of
  times faster than KernelExplainer. shap's ``DeepExplainer`` and ``GradientExplainer``
  remain as fallbacks for networks of another layout.
* :func:`group_contributions` sums one-hot and missing-indicator columns into their feature.
* :func:`build_explanation` packs one output's contributions into an :class:`Explanation`.
* :func:`summarize_background` turns the training rows into k-means centroids, which are
  stored with the model instead of patient rows.

shap's DeepExplainer rewrites TensorFlow's gradient machinery for the whole process while it
runs. Every use of it here holds :data:`TF_GRAPH_LOCK` (training takes the same lock through
:func:`tensorflow_exclusive`) and puts back whatever shap changed, even if it fails midway.

TensorFlow, Keras, shap and scikit-learn are imported inside the functions that use them.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from medinn_core.errors import ConfigError, DataError, ModelError, list_examples
from medinn_core.explain._deeplift import SOFTMAX_RULES, SPACES, deeplift, dense_stack_from_model

if TYPE_CHECKING:  # annotations only: explaining needs nothing else of the registry
    from medinn_core.io import Bundle

logger = logging.getLogger(__name__)

METHODS = ("auto", "deeplift", "deep", "gradient")
METHOD_LABELS = {
    "deeplift": "DeepLIFT (medinn, exact)",
    "deep": "shap DeepExplainer (exact)",
    "gradient": "shap GradientExplainer (approximate)",
}
# Every background summary row is the mean of at least this many distinct training rows.
MIN_ROWS_PER_CENTROID = 3
_GRADIENT_NOTE = (
    "These values come from shap's GradientExplainer (expected gradients): an estimate by "
    "sampling, so they add up to the model's output only approximately."
)

# The one process-wide lock around everything that builds TensorFlow gradients while shap may
# be patching them (shap's explainers, model.fit). A module-level singleton on purpose: two
# Streamlit sessions are two threads of one process, and both must see the same lock.
TF_GRAPH_LOCK = threading.RLock()


@contextmanager
def tensorflow_exclusive() -> Iterator[None]:
    """Hold :data:`TF_GRAPH_LOCK`: no shap explainer runs in another thread meanwhile.

    The training code wraps ``model.fit`` in it; the shap-based explainers here take it too.
    Re-entrant, so nested use in one thread is safe.
    """
    with TF_GRAPH_LOCK:
        yield


@dataclass(frozen=True, eq=False)
class EncodedExplanation:
    """Contributions of the encoded input columns, as the engine computed them.

    Attributes
    ----------
    values : ``(n, n_encoded)`` for one explained output, ``(n, n_encoded, n_outputs)`` else.
    base_values : the mean output over the background, shape ``()`` or ``(n_outputs,)``.
    outputs : the model's outputs for the patients, shape ``(n,)`` or ``(n, n_outputs)``.
    method : ``"deeplift"``, ``"deep"`` or ``"gradient"``: the method that produced the values.
    space : ``"probability"`` (the model's output) or ``"logit"`` (the last layer's input).
    output_indices : the model outputs explained, in the order of the last axis.
    note : why a fallback was used, and what that means for the values; empty otherwise.
    """

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    method: str
    space: str
    output_indices: tuple[int, ...]
    note: str = ""

    @property
    def additivity_error(self) -> float:
        """Largest ``|base + sum of contributions - output|`` over the patients and outputs."""
        return float(np.abs(self.base_values + self.values.sum(axis=1) - self.outputs).max())


@dataclass(frozen=True, eq=False)
class Explanation:
    """One output's explanation for a set of patients, per original feature.

    Attributes
    ----------
    contributions : patients x original features, indexed like the patients.
    base_value : the mean output over the background: where every explanation starts.
    output : the model's output for each patient; ``base_value + row sum == output``.
    raw_values : the patients' values as the user gave them, for display.
    method : the engine that produced the values (see ``METHOD_LABELS``).
    space : ``"probability"`` or ``"logit"``.
    class_name : the explained class of a multiclass model, else ``None``.
    note : any caveat about the values (an approximate fallback and its reason).
    task : the model's task (``"binary"``, ``"multiclass"``, ``"regression"``), or ``None``
        when the explanation was not made from a model.
    """

    contributions: pd.DataFrame
    base_value: float
    output: np.ndarray
    raw_values: pd.DataFrame
    method: str
    space: str
    class_name: str | None = None
    note: str = ""
    task: str | None = None

    def __post_init__(self) -> None:
        n = len(self.contributions)
        if len(self.output) != n or len(self.raw_values) != n:
            raise ValueError(
                f"contributions, output and raw_values must describe the same patients, got "
                f"{n}, {len(self.output)} and {len(self.raw_values)} rows"
            )

    @property
    def additivity_error(self) -> float:
        """Largest ``|base_value + sum of contributions - output|`` over the patients."""
        total = self.base_value + self.contributions.to_numpy().sum(axis=1)
        return float(np.abs(total - self.output).max()) if len(self.output) else 0.0

    def at_or_above(self, risk: float) -> np.ndarray:
        """Which patients' risk is at or above ``risk``, decided in the explanation's own
        space: the risk itself in probability space, its log-odds in logit space.

        Parameters
        ----------
        risk : a decision threshold, a probability strictly between 0 and 1.

        Returns
        -------
        numpy.ndarray
            One boolean per patient, in the order of ``contributions``.

        Raises
        ------
        ConfigError
            If ``risk`` is not strictly between 0 and 1, the explanation is of a predicted
            value (regression), or of a multiclass model's logits (which are not log-odds).
        """
        if not 0 < risk < 1:
            raise ConfigError(f"A risk threshold lies strictly between 0 and 1, got {risk}.")
        if self.task == "regression" or self.class_name is None:
            raise ConfigError(
                "This explanation is of a predicted value, not a risk: a risk threshold does not "
                "apply. Split at a value of the output instead."
            )
        if self.space == "logit":
            if self.task != "binary":
                raise ConfigError(
                    "In logit space, only a binary model's output is a log-odds; explain this "
                    "model in probability space to compare its risks with a threshold."
                )
            return self.output >= math.log(risk / (1 - risk))
        return self.output >= risk

    def above_median(self) -> tuple[np.ndarray, float]:
        """The patients whose output is at or above the median output, and that median (in
        the explanation's space).

        Raises
        ------
        DataError
            If the explanation has no patients.
        """
        if len(self.output) == 0:
            raise DataError("There are no patients in this explanation to split.")
        middle = float(np.median(self.output))
        return self.output >= middle, middle

    def importance(self) -> pd.Series:
        """Global importance: mean absolute contribution per feature, largest first."""
        return global_importance(self.contributions)

    def top_factors(self, i: int, n_up: int = 3, n_down: int = 2) -> pd.DataFrame:
        """The features that raise patient ``i``'s output most and those that lower it most.

        Parameters
        ----------
        i : the patient's position (0-based row number), not its index label.
        n_up, n_down : how many raising and lowering features to list at most.

        Returns
        -------
        pandas.DataFrame
            Columns ``feature``, ``value`` (raw), ``contribution`` and ``direction``
            (``"raises"`` or ``"lowers"``): the strongest raising features first, then the
            strongest lowering ones. Features whose contribution is too small to see are left
            out: under 1 % of the patient's largest, or, for a risk, under 0.05 percentage
            points (a bar drawn as 0.0), so that no sentence names a push no bar shows.
        """
        row = self.contributions.iloc[i]
        visible = 0.0005 if self.space == "probability" and self.class_name is not None else 0.0
        floor = max(0.01 * float(row.abs().max()) if len(row) else 0.0, visible)
        up = row[row > floor].sort_values(ascending=False).head(n_up)
        down = row[row < -floor].sort_values().head(n_down)
        raw = self.raw_values.iloc[i]
        rows = [
            {
                "feature": feature,
                "value": raw.get(feature, np.nan),
                "contribution": float(contribution),
                "direction": direction,
            }
            for part, direction in ((up, "raises"), (down, "lowers"))
            for feature, contribution in part.items()
        ]
        return pd.DataFrame(rows, columns=["feature", "value", "contribution", "direction"])


def explain_encoded(
    model: Any,
    X: np.ndarray,
    background: np.ndarray,
    *,
    method: str = "auto",
    space: str = "probability",
    class_index: int | None = None,
    softmax_rule: str = "stable",
    seed: int = 0,
    gradient_samples: int = 200,
    n_jobs: int = 1,
    background_weights: np.ndarray | None = None,
) -> EncodedExplanation:
    """Explain a Keras network's outputs for encoded patients against a background.

    Parameters
    ----------
    model : a Keras model with one 2-D input, usually from ``build_network``.
    X : encoded patients, shape ``(n, n_encoded)``.
    background : the background summary (see :func:`summarize_background`).
    method : ``"deeplift"`` (medinn's vectorised DeepLIFT, for ``build_network``'s layout),
        ``"deep"`` (shap's DeepExplainer), ``"gradient"`` (shap's GradientExplainer,
        approximate), or ``"auto"``: DeepLIFT if the layout allows, else DeepExplainer, else
        GradientExplainer, with a ``note`` saying why.
    space : ``"probability"`` explains the output (probability for sigmoid and softmax heads,
        the target's unit for regression); ``"logit"`` explains the log-odds (sigmoid) or the
        class logit (softmax) that the last activation receives.
    class_index : the one output to explain; all outputs by default.
    softmax_rule : how DeepLIFT crosses a softmax head in probability space: ``"stable"``
        (default, bounded values) or ``"shap"`` (shap's own rule, see
        :mod:`medinn_core.explain`).
    seed : seeds GradientExplainer's sampling.
    gradient_samples : GradientExplainer's samples per patient.
    n_jobs : DeepLIFT's parallel threads (``-1``: every core); 1 is fastest on a busy machine.
    background_weights : one weight per background row (see :func:`background_weights`);
        equal weights by default. shap's explainers take none: with them the background is
        weighted equally, and the ``note`` says so.

    Returns
    -------
    EncodedExplanation

    Raises
    ------
    ConfigError
        If ``method``, ``space``, ``softmax_rule`` or ``class_index`` is invalid, or
        ``space="logit"`` is asked of a model without a sigmoid or softmax head.
    DataError
        If ``X`` or ``background`` does not have the model's encoded columns, or holds
        missing or infinite values.
    ModelError
        If the requested method cannot explain this model (the message says why).
    """
    _check_choice("method", method, METHODS)
    _check_choice("space", space, SPACES)
    _check_choice("softmax_rule", softmax_rule, SOFTMAX_RULES)
    n_inputs = int(model.inputs[0].shape[-1])
    n_outputs = int(model.outputs[0].shape[-1])
    X = _check_encoded("X", X, n_inputs)
    background = _check_encoded("background", background, n_inputs)
    if len(X) == 0:
        raise DataError("There are no patients to explain: X has no rows.")
    if len(background) == 0:
        raise DataError("The background summary is empty: it needs at least one row.")
    weights = normalized_weights(background_weights, len(background))
    if class_index is not None and not 0 <= class_index < n_outputs:
        raise ConfigError(
            f"class_index must lie in [0, {n_outputs - 1}] for this model, got {class_index}."
        )
    outputs = (class_index,) if class_index is not None else tuple(range(n_outputs))

    stack, layout_problem = None, ""
    if method in ("auto", "deeplift"):
        try:
            stack = dense_stack_from_model(model)
        except ModelError as exc:
            if method == "deeplift":
                raise
            layout_problem = str(exc)
    head = stack.head if stack is not None else _head_name(model)
    if space == "logit" and head not in ("sigmoid", "softmax"):
        raise ConfigError(
            f"space='logit' needs a sigmoid or softmax output; model '{model.name}' ends with "
            f"{head!r}. Use space='probability' (the target's own unit for regression)."
        )

    note = ""
    if stack is not None:
        values, base, out = deeplift(
            stack,
            X,
            background,
            outputs=outputs,
            space=space,
            softmax_rule=softmax_rule,
            n_jobs=n_jobs,
            weights=weights,
        )
        used = "deeplift"
    elif method == "gradient":
        values, base, out = _shap_values(
            "gradient", model, X, background, outputs, space, seed, gradient_samples
        )
        used, note = "gradient", _GRADIENT_NOTE
    else:
        try:
            values, base, out = _shap_values("deep", model, X, background, outputs, space, seed, 0)
            used = "deep"
            if layout_problem:
                note = f"shap's DeepExplainer was used: medinn's DeepLIFT cannot. {layout_problem}"
        except Exception as exc:  # shap raises bare AssertionErrors, ValueErrors, TF errors
            if method == "deep":
                raise ModelError(
                    f"shap's DeepExplainer failed on model '{model.name}' ({_reason(exc)}). "
                    "Use method='gradient' (approximate) for this model."
                ) from exc
            logger.warning("DeepExplainer failed, falling back to GradientExplainer", exc_info=True)
            values, base, out = _shap_values(
                "gradient", model, X, background, outputs, space, seed, gradient_samples
            )
            used = "gradient"
            note = f"shap's DeepExplainer failed ({_reason(exc)}). {_GRADIENT_NOTE}"
    if used != "deeplift" and background_weights is not None:
        note = f"{note} The background centroids were weighted equally.".strip()
    if len(outputs) == 1:
        values, base, out = values[..., 0], base[0], out[:, 0]
    return EncodedExplanation(
        values=values,
        base_values=np.asarray(base),
        outputs=out,
        method=used,
        space=space,
        output_indices=outputs,
        note=note,
    )


def group_contributions(
    values: np.ndarray, feature_of: Sequence[str], index: Sequence[Any] | pd.Index | None = None
) -> pd.DataFrame:
    """Sum the contributions of encoded columns into their original feature.

    Parameters
    ----------
    values : ``(n, n_encoded)`` contributions of the encoded columns.
    feature_of : for each encoded column, the name of the original column it comes from
        (one-hot and missing-indicator columns name their feature).
    index : the patients' index; a range by default.

    Returns
    -------
    pandas.DataFrame
        ``(n, n_features)``, the features in order of first appearance in ``feature_of``.

    Raises
    ------
    ValueError
        If ``feature_of`` does not name every encoded column with a non-empty string.
    """
    values = np.asarray(values, dtype=np.float64)
    feature_of = list(feature_of)
    if values.ndim != 2 or values.shape[1] != len(feature_of):
        raise ValueError(
            f"feature_of names {len(feature_of)} encoded columns but values have shape "
            f"{values.shape}; expected (n_patients, {len(feature_of)})"
        )
    unnamed = [i for i, name in enumerate(feature_of) if not isinstance(name, str) or not name]
    if unnamed:
        raise ValueError(f"encoded columns {list_examples(unnamed)} have no feature name")
    codes, names = pd.factorize(pd.Index(feature_of, dtype=object))
    indicator = np.zeros((len(feature_of), len(names)))
    indicator[np.arange(len(feature_of)), codes] = 1.0
    return pd.DataFrame(
        values @ indicator, index=index, columns=pd.Index(list(names), name="feature")
    )


def global_importance(contributions: pd.DataFrame) -> pd.Series:
    """Mean absolute contribution per feature, largest first."""
    return contributions.abs().mean().sort_values(ascending=False).rename("mean |contribution|")


def build_explanation(
    encoded: EncodedExplanation,
    feature_of: Sequence[str],
    index: Sequence[Any] | pd.Index,
    raw_values: pd.DataFrame,
    class_index: int | None = None,
    class_name: str | None = None,
    task: str | None = None,
) -> Explanation:
    """Fold an encoded explanation of one output into an :class:`Explanation` per feature.

    Parameters
    ----------
    encoded : from :func:`explain_encoded`.
    feature_of : the original column of each encoded column (see :func:`group_contributions`).
    index : the patients' index (their identifiers when there is an ID column).
    raw_values : the patients' raw values, shown beside their contributions.
    class_index : the model output to keep when ``encoded`` holds several; the last by default.
    class_name : the name of that class, for display.
    task : the model's task, kept in the explanation (see :meth:`Explanation.at_or_above`).

    Raises
    ------
    ValueError
        If ``class_index`` was not explained, or the sizes disagree.
    """
    explained = list(encoded.output_indices)
    if encoded.values.ndim == 3:
        chosen = explained[-1] if class_index is None else class_index
        if chosen not in explained:
            raise ValueError(f"output {chosen} was not explained; explained: {explained}")
        k = explained.index(chosen)
        values, base, output = (
            encoded.values[:, :, k],
            encoded.base_values[k],
            encoded.outputs[:, k],
        )
    else:
        if class_index is not None and class_index != explained[0]:
            raise ValueError(f"output {class_index} was not explained; explained: {explained}")
        values, base, output = encoded.values, encoded.base_values, encoded.outputs
    return Explanation(
        contributions=group_contributions(values, feature_of, index=pd.Index(index)),
        base_value=float(base),
        output=np.asarray(output, dtype=np.float64),
        raw_values=raw_values,
        method=encoded.method,
        space=encoded.space,
        class_name=class_name,
        note=encoded.note,
        task=task,
    )


def summarize_background(X_encoded: np.ndarray, k: int = 100, seed: int = 0) -> np.ndarray:
    """A background of ``k`` k-means centroids of the encoded training rows.

    The result is stored in model bundles, so when there are more than ``k`` rows it holds no
    patient's row: every centroid is the mean of at least ``MIN_ROWS_PER_CENTROID`` distinct
    rows (a cluster with fewer is replaced by the mean of the distinct rows nearest to it), and
    a centroid that still coincides with a row is moved slightly towards the overall mean. With
    few rows, ``k`` shrinks to a third of them, so no stored row is ever a patient's.

    Raises
    ------
    ConfigError
        If ``k`` is below 1.
    DataError
        If there are no rows, or more than ``k`` rows but fewer than two distinct ones.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.neighbors import NearestNeighbors

    if k < 1:
        raise ConfigError(f"The background summary needs k >= 1 centroids, got {k}.")
    X = np.asarray(X_encoded, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise DataError(
            "Cannot summarise the background: expected rows of encoded features, "
            f"got shape {X.shape}."
        )
    if len(X) < 2 * MIN_ROWS_PER_CENTROID:
        raise DataError(
            f"Cannot summarise the background: {len(X)} training rows are too few to average."
        )
    k = min(k, len(X) // MIN_ROWS_PER_CENTROID)
    distinct = np.unique(X, axis=0)
    if len(distinct) < 2:
        raise DataError("Cannot summarise the background: all training rows are identical.")
    if len(X) <= 50_000:
        kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        kmeans = MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=seed)
    with warnings.catch_warnings():
        # fewer distinct rows than k: the degenerate clusters are replaced below
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        kmeans.fit(X)
    labels = kmeans.labels_
    centers = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
    small = []
    for c in range(k):
        members = X[labels == c]
        if len(members) and len(np.unique(members, axis=0)) >= MIN_ROWS_PER_CENTROID:
            centers[c] = members.mean(axis=0)
        else:
            small.append(c)
    if small:
        n_near = min(MIN_ROWS_PER_CENTROID, len(distinct))
        near = NearestNeighbors(n_neighbors=n_near).fit(distinct).kneighbors(centers[small])[1]
        centers[small] = distinct[near].mean(axis=1)
    return _move_off_rows(centers, X)


def background_weights(X_encoded: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The share of the encoded training rows nearest to each background centroid.

    k-means clusters differ in size: a centroid summarising a few unusual patients counts as
    much as one summarising hundreds in a plain mean over the background, so the "average
    prediction" an explanation starts from leans towards the unusual ones. Weighting each
    centroid by its share of the rows keeps the start near the cohort's average. Shares are
    rounded to 6 decimals (no single patient is identifiable from a share of at least
    ``MIN_ROWS_PER_CENTROID`` rows), so they sum to 1 within 1e-6 per centroid.

    Raises
    ------
    DataError
        If either array is not a table of numbers with the same columns, or has no rows.
    """
    from sklearn.metrics import pairwise_distances_argmin

    X = np.asarray(X_encoded, dtype=np.float64)
    centers = np.asarray(background, dtype=np.float64)
    if X.ndim != 2 or centers.ndim != 2 or not len(X) or not len(centers):
        raise DataError("Background weights need rows of encoded features and centroids.")
    if X.shape[1] != centers.shape[1]:
        raise DataError(
            f"Background weights: rows have {X.shape[1]} encoded columns, centroids "
            f"{centers.shape[1]}."
        )
    nearest = pairwise_distances_argmin(X, centers)
    shares = np.bincount(nearest, minlength=len(centers)) / len(X)
    return shares.round(6)  # explanations scale them to sum to 1 (normalized_weights)


def normalized_weights(weights: Any, n_background: int) -> np.ndarray:
    """``weights`` checked (one finite, non-negative number per centroid, a positive sum) and
    scaled to sum to 1; ``None`` gives equal weights.

    Raises
    ------
    DataError
        If the weights do not fit the background.
    """
    if weights is None:
        return np.full(n_background, 1.0 / n_background)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n_background or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise DataError(
            f"The background weights must be {n_background} non-negative numbers with a "
            f"positive sum, one per centroid; got {len(w)}."
        )
    return w / w.sum()


def _move_off_rows(centers: np.ndarray, X: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Nudge any centroid that coincides with a training row towards the overall mean."""
    from sklearn.metrics import pairwise_distances_argmin_min

    mean = X.mean(axis=0)
    for _ in range(20):
        _, distance = pairwise_distances_argmin_min(centers, X)
        on_row = distance < tol
        if not on_row.any():
            return centers
        centers[on_row] = 0.9 * centers[on_row] + 0.1 * mean
    raise DataError("Cannot summarise the background without keeping a training row.")


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}.")


def _check_encoded(name: str, data: Any, n_inputs: int) -> np.ndarray:
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must hold numbers only (encoded features): {exc}.") from exc
    if array.ndim != 2 or array.shape[1] != n_inputs:
        raise DataError(
            f"{name} must have the model's {n_inputs} encoded columns, got shape {array.shape}. "
            "Encode the rows with the model's own preprocessing."
        )
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        raise DataError(
            f"{name} has missing or infinite values in {len(bad)} rows, e.g. rows "
            f"{list_examples(bad.tolist())}. Encode the rows with the model's preprocessing, "
            "which imputes missing values."
        )
    return array


def _reason(exc: BaseException) -> str:
    """The gist of an exception from shap or TensorFlow: its last line, which names the cause."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _head_name(model: Any) -> str:
    """The name of the last activation of a model that is not a plain Dense chain."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "unknown")


def _logit_model(model: Any) -> Any:
    """The same network without its last activation (shares the weights)."""
    import keras

    last = model.layers[-1]
    if type(last).__name__ == "Activation":
        return keras.Model(model.inputs, last.input)
    if type(last).__name__ != "Dense":
        raise ModelError(
            f"Cannot explain model '{model.name}' in logit space: its last layer "
            f"'{last.name}' is a {type(last).__name__}, not a Dense or Activation layer."
        )
    head = keras.layers.Dense(last.units, use_bias=last.use_bias, name=f"{last.name}_logits")
    logits = head(last.input)
    head.set_weights(last.get_weights())
    return keras.Model(model.inputs, logits)


def _shap_values(
    kind: str,
    model: Any,
    X: np.ndarray,
    background: np.ndarray,
    outputs: tuple[int, ...],
    space: str,
    seed: int,
    gradient_samples: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run shap's DeepExplainer or GradientExplainer under the lock, undoing its patches."""
    import keras
    import shap

    dtype = np.dtype(model.inputs[0].dtype)
    x_in, bg_in = X.astype(dtype), background.astype(dtype)
    with tensorflow_exclusive(), _shap_patches_undone(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your TensorFlow version is newer")
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        target = _logit_model(model) if space == "logit" else model
        n_outputs = int(model.outputs[0].shape[-1])
        if len(outputs) < n_outputs:
            # shap's cost is per output: select the one wanted with a fixed one-hot Dense layer
            # (shap reads the last *layer*'s output, so a slicing op would confuse it)
            select = keras.layers.Dense(1, use_bias=False, trainable=False, name="select_output")
            selected = select(target.outputs[0])
            select.set_weights([np.eye(n_outputs, dtype=dtype)[:, list(outputs)]])
            target = keras.Model(target.inputs, selected)
        if kind == "deep":
            explainer = shap.DeepExplainer(target, [bg_in])
            values = explainer.shap_values([x_in], check_additivity=True)
        else:
            explainer = shap.GradientExplainer(target, [bg_in])
            state = np.random.get_state()  # shap reseeds NumPy's global generator
            try:
                values = explainer.shap_values(x_in, nsamples=gradient_samples, rseed=seed)
            finally:
                np.random.set_state(state)
        out = np.asarray(target([x_in], training=False), dtype=np.float64)
        base = np.asarray(target([bg_in], training=False), dtype=np.float64).mean(axis=0)
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(*X.shape, len(outputs)), base, out


_MISSING = object()


@contextmanager
def _shap_patches_undone() -> Iterator[None]:
    """Put back everything shap's DeepExplainer patches in TensorFlow, however it ends.

    shap 0.51 (``explainers/_deep/deep_tf.py``) changes, for the whole process:

    * ``tensorflow.python.eager.execute.record_gradient``, replaced by a function that records
      every op as ``"shap_<op>"``; shap puts it back only when the explained call succeeds,
      so a failure leaves it and every later ``fit`` fails (``no entry for: shap_DivNoNan``);
    * the gradient registry ``ops._gradient_registry._registry``: the gradient of each op shap
      handles (Relu, MatMul, Softmax...) is replaced in place, ``"shap_<op>"`` entries are
      added, and a placeholder ``"TensorListReserve"`` entry;
    * ``_IsBackpropagatable`` in ``gradients_impl``/``gradients_util`` (older TensorFlow).
    """
    from tensorflow.python.eager import backprop, execute
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import gradients_impl, gradients_util

    attributes = [
        (execute, "record_gradient"),
        (backprop, "record_gradient"),
        (gradients_impl, "_IsBackpropagatable"),
        (gradients_util, "_IsBackpropagatable"),
    ]
    saved = [(module, name, module.__dict__.get(name, _MISSING)) for module, name in attributes]
    registry = ops._gradient_registry._registry
    entries = {name: dict(entry) for name, entry in registry.items()}
    try:
        yield
    finally:
        for module, name, value in saved:
            if value is not _MISSING:
                setattr(module, name, value)
            elif name in module.__dict__:
                delattr(module, name)
        for name in [n for n in registry if n not in entries]:
            if name.startswith("shap_") or registry[name].get("type") is None:
                del registry[name]
        for name, entry in entries.items():
            if registry.get(name) != entry:
                registry[name] = entry


def explain_model(
    model: Any,
    background: np.ndarray,
    df: pd.DataFrame,
    *,
    space: str = "probability",
    class_name: str | None = None,
    method: str = "auto",
    background_weights: np.ndarray | None = None,
) -> Explanation:
    """Explain a fitted :class:`~medinn_core.model.MedinnModel` on raw patient rows.

    Parameters
    ----------
    model : the fitted model (with ``preprocessor_`` and ``model_``).
    background : the bundle's background summary in the encoded space.
    df : patients with the model's columns in any order (extras are ignored).
    space : ``"probability"`` (default; the target's unit for regression) or ``"logit"``.
    class_name : for multiclass models, the class to explain (default the last class);
        binary models explain the positive class.
    method, background_weights : see :func:`explain_encoded`.

    Raises
    ------
    SchemaError
        If a column the model needs is missing.
    ConfigError
        If ``class_name`` is not one of the model's classes.
    """
    from medinn_core.predict import require_columns

    require_columns(df, model)
    schema = model.schema
    classes = list(model.classes_)
    class_index = None
    if schema.task == "multiclass":
        chosen = classes[-1] if class_name is None else str(class_name)
        if chosen not in classes:
            raise ConfigError(
                f"Class {chosen!r} is not one of the model's classes: {', '.join(classes)}."
            )
        class_index, class_name = classes.index(chosen), chosen
    elif schema.task == "binary":
        class_name = schema.positive_class
    encoded = explain_encoded(
        model.model_,
        model.transform(df),
        background,
        method=method,
        space=space,
        class_index=class_index,
        background_weights=background_weights,
    )
    ids = schema.id_column
    index = pd.Index(df[ids], name=ids) if ids and ids in df.columns else df.index
    raw = df[list(schema.feature_names)].set_axis(index, axis=0)
    return build_explanation(
        encoded,
        model.preprocessor_.feature_of_,
        index,
        raw,
        class_index,
        class_name,
        task=str(schema.task),
    )


def explain_bundle(
    bundle: Bundle,
    df: pd.DataFrame,
    *,
    space: str = "probability",
    class_name: str | None = None,
    method: str = "auto",
) -> Explanation:
    """Explain a model bundle on raw patient rows, against the background stored with it.

    Parameters
    ----------
    bundle : a loaded or freshly trained bundle (see :class:`medinn_core.io.Bundle`).
    df, space, class_name, method : as in :func:`explain_model`.

    Raises
    ------
    ModelError
        If the bundle has no background summary (saved by an older medinn).
    SchemaError
        If a column the model needs is missing.
    ConfigError
        If ``class_name`` is not one of the model's classes.
    """
    if bundle.background is None:
        raise ModelError(
            f"Model '{bundle.name}' has no background summary, which explanations start from. "
            "Train it again, or load a bundle saved by this version of medinn."
        )
    return explain_model(
        bundle.model,
        bundle.background,
        df,
        space=space,
        class_name=class_name,
        method=method,
        background_weights=bundle.background_weights,
    )
