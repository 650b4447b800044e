"""The Keras graphs: an ensemble of wide-and-deep members trained in one graph, folded into one
model for inference.

Training graph (:func:`build_training_network`): ``K`` members side by side, each a chain of
hidden ``Dense`` layers (with ``Dropout``) ending in a linear output, plus, when ``wide``, a
linear path from the inputs straight to the output (the "wide" part: the member contains a
logistic or linear regression and can only add to it). The members' outputs are concatenated;
:func:`member_loss` gives each member the loss of the rows it trains on (a 0/1 mask per row and
member), so ``K`` cross-fitted networks train in one call into TensorFlow.

Inference graph (:func:`build_inference_network`): the same members, without dropout, their
outputs (deep and wide) summed by an ``Add`` layer and passed through the head activation
(``Activation`` named ``head``: sigmoid, softmax or linear). :func:`fold_members` scales each
member's output and linear path so that the sum is the recalibrated mean of the members'
logits (or, for regression, the mean in the target's unit). Member ``k``'s own output is
``K`` times its two terms, which is how :func:`member_network` reads the spread between members.

Spline path (``config.knots > 0``): one fixed, untrained ``Dense`` layer with ReLU named
``spline_basis`` turns each numeric input into hinges ``max(0, x - knot)`` at a few knots
(:func:`spline_knots`), and each member reads them through its own linear layer
``member_{k}_spline``. With the linear path that makes a piecewise-linear curve per input
beside the hidden layers: a generalised additive model inside every member. It is how a
member draws a threshold (blood pressure above 140) or a U shape (age) without the hidden
layers, which on a few thousand patients with noise columns either fit the noise or are
penalised flat (``benchmarks/RESULTS.md``, issue 13).

Layer names are the layout's contract, read by the explainer
(:func:`medinn_core.explain.dense_stack_from_model`): ``member_{k}_hidden_{i}``,
``member_{k}_output``, ``member_{k}_linear``, ``spline_basis``, ``member_{k}_spline``,
``ensemble`` and ``head``.

Convolutional members (``config.network``, :func:`uses_cnn`): the encoded inputs end with
each signal's samples (:meth:`medinn_core.preprocess.Preprocessor.signal_spans`). The one
``features`` input is viewed as a sequence (``Reshape`` named ``sequence``) and cut by
``Cropping1D`` layers (``tabular`` then ``Flatten`` named ``tabular_flat``, and ``signal_{g}``):
built-in layers only, so the saved file loads with safe_mode. Per member and signal ``g``:
``Conv1D`` layers ``member_{k}_signal_{g}_conv_{i}`` ("same" padding, the hidden activation),
``AveragePooling1D`` ``member_{k}_signal_{g}_pool_{i}`` between them, and
``GlobalAveragePooling1D`` ``member_{k}_signal_{g}_mean``; ``Concatenate`` ``member_{k}_join``
joins the tabular inputs (first) with the signals' features for the member's dense layers.
Every step is linear but the elementwise activations, so DeepLIFT stays exact; max pooling
is avoided for that reason. The linear path still reads every input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from medinn_core.config import TrainConfig
from medinn_core.errors import ConfigError

if TYPE_CHECKING:
    import keras

HEADS = {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear", "survival": "linear"}
HEAD_LAYER = "head"
SPLINE_BASIS = "spline_basis"
# An input gets knots only with at least this many distinct values (not a 0/1 indicator).
_MIN_DISTINCT_FOR_KNOTS = 10
# Each knot is the mean of the rows within this share of it, in rank (never one patient's).
_KNOT_BAND = 0.05
# The spline path's L2 is this many times the linear path's: five hinges per input give it
# more freedom. On the 20,000-patient cohort with 24 noise columns (AUROC / oracle, seed 1)
# 1x gave 0.9900, 3x 0.9902, 10x 0.9906; on 4,000 patients with a threshold, 10x held the
# hinge back (error above the threshold 0.169 against 0.121 at 3x and 0.098 at 1x).
SPLINE_PENALTY = 3.0


def spline_knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    """The spline path's knots for encoded training rows ``x``: ``(n_basis, 2)`` rows of
    (input column, knot). Knots sit at the ``1 / (n_knots + 1)`` ... quantiles of each input
    with at least ``_MIN_DISTINCT_FOR_KNOTS`` distinct values; each is the mean of the rows
    whose rank is within ``_KNOT_BAND`` of that quantile (at least 10 % of the rows, so no
    knot is one patient's value), rounded to 3 decimals; equal knots are kept once."""
    rows = []
    if n_knots <= 0 or len(x) < 20:
        return np.zeros((0, 2))
    for j in range(x.shape[1]):
        column = np.sort(np.asarray(x[:, j], dtype=np.float64))
        if len(np.unique(column)) < _MIN_DISTINCT_FOR_KNOTS:
            continue
        n = len(column)
        knots = []
        for q in np.arange(1, n_knots + 1) / (n_knots + 1):
            low = int(np.floor((q - _KNOT_BAND) * n))
            high = int(np.ceil((q + _KNOT_BAND) * n))
            knots.append(round(float(column[low:high].mean()), 3))
        rows.extend((j, k) for k in sorted(set(knots)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def _basis_weights(knots: np.ndarray, n_inputs: int) -> list[np.ndarray]:
    kernel = np.zeros((n_inputs, len(knots)), dtype=np.float32)
    kernel[knots[:, 0].astype(int), np.arange(len(knots))] = 1.0
    return [kernel, -knots[:, 1].astype(np.float32)]


def _members_graph(
    n_inputs: int,
    task: str,
    n_outputs: int,
    config: TrainConfig,
    n_members: int,
    wide: bool,
    *,
    training: bool,
    n_rows: int = 0,
    signals: tuple[tuple[str, int, int], ...] = (),
    knots: np.ndarray | None = None,
) -> tuple[Any, list[Any]]:
    """The input tensor and, per member, its output tensors (deep, and linear when ``wide``).

    The hidden and output layers take ``config.l2``. The linear path takes
    ``config.l2 * 500 / n_rows`` for a member's ``n_rows`` training rows: with the default l2
    (1e-3), nominally scikit-learn's logistic regression with ``C = 1`` (in effect about
    ``C = 0.16`` with 5 folds, as a member's data term is 1/5 of the mean over all the batch's
    rows; penalising for C = 1 in effect changed neither AUROC nor calibration on three real
    cohorts, see ``benchmarks/RESULTS.md``). Firm on a few hundred patients,
    light on many, so that on a large cohort the linear part is not shrunk far below the
    logistic regression it must at least match. The spline path takes ``SPLINE_PENALTY`` times
    the linear path's. (Easing the hidden layers' penalty the same
    way did not help on the 20,000-patient cohort: ``benchmarks/RESULTS.md``.)
    """
    import keras

    if task not in HEADS:
        raise ValueError(f"task must be one of {sorted(HEADS)}, got {task!r}")
    keras.utils.set_random_seed(config.seed)
    penalty = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    linear_penalty = (
        keras.regularizers.L2(config.l2 * 500 / n_rows) if config.l2 > 0 and n_rows > 0 else penalty
    )
    spline_penalty = (
        keras.regularizers.L2(config.l2 * 500 / n_rows * SPLINE_PENALTY)
        if config.l2 > 0 and n_rows > 0
        else penalty
    )
    inputs = keras.Input(shape=(n_inputs,), name="features")
    cnn = uses_cnn(config, signals)
    if cnn:
        tabular, traces = _signal_views(inputs, n_inputs, signals)
        if config.l2 > 0:
            penalty = keras.regularizers.L2(config.l2 * CNN_L2_FACTOR)
    basis = None
    if knots is not None and len(knots):
        layer = keras.layers.Dense(
            len(knots), activation="relu", trainable=False, name=SPLINE_BASIS
        )
        basis = layer(inputs)
        layer.set_weights(_basis_weights(knots, n_inputs))
    terms = []
    for k in range(n_members):
        x = inputs
        if cnn:
            x = _conv_branches(k, tabular, traces, config)
        for i, units in enumerate(config.hidden_units):
            x = keras.layers.Dense(
                units,
                activation=config.activation,
                kernel_regularizer=penalty,
                name=f"member_{k}_hidden_{i}",
            )(x)
            if training and config.dropout > 0:
                x = keras.layers.Dropout(
                    config.dropout, seed=config.seed + 101 * k + i, name=f"member_{k}_dropout_{i}"
                )(x)
        member = [
            keras.layers.Dense(n_outputs, kernel_regularizer=penalty, name=f"member_{k}_output")(x)
        ]
        if wide:
            member.append(
                keras.layers.Dense(
                    n_outputs,
                    use_bias=False,
                    kernel_regularizer=linear_penalty,
                    name=f"member_{k}_linear",
                )(inputs)
            )
        if basis is not None:
            member.append(
                keras.layers.Dense(
                    n_outputs,
                    use_bias=False,
                    kernel_regularizer=spline_penalty,
                    name=f"member_{k}_spline",
                )(basis)
            )
        terms.append(member)
    return inputs, terms


#: A convolutional member's kernels, convolutions and dense layers alike, take this share of
#: ``config.l2``. A few shared taps carry each filter, and the mean of a filter over the trace
#: is small where the shape it finds is brief, so the dense layers that read it need large
#: weights: with the dense network's penalty on the kernels AUROC fell to 0.59 (against 0.87)
#: on the one-beat heartbeat cohort, and with it on the dense layers of 5 cross-fitted
#: members (whose loss is the members' mean, so the penalty weighs 5 times as much as on one
#: network) to 0.55 against 0.91 on the notched-T-wave cohort (``benchmarks/RESULTS.md``).
CNN_L2_FACTOR = 0.1


def uses_cnn(config: TrainConfig, signals: tuple[tuple[str, int, int], ...]) -> bool:
    """Whether the members are convolutional: ``config.network`` is ``"cnn"``, or ``"auto"``
    with a signal group among the inputs.

    Raises
    ------
    ConfigError
        If a CNN is asked for without a signal group.
    """
    if config.network == "cnn" and not signals:
        raise ConfigError(
            "A convolutional network needs a signal group (16 or more numeric columns such as "
            "ecg_000 ... ecg_127) and the schema has none; choose --network mlp or auto."
        )
    return config.network != "mlp" and bool(signals)


def _signal_views(inputs: Any, n_inputs: int, signals: tuple[tuple[str, int, int], ...]):
    """The tabular inputs (None without any) and each signal as a ``(samples, 1)`` sequence,
    cut from the one input by built-in layers shared by every member."""
    import keras

    n_tabular = signals[0][1]
    if [s[1] for s in signals[1:]] != [s[2] for s in signals[:-1]] or signals[-1][2] != n_inputs:
        raise ValueError(f"signal spans {signals} must close the {n_inputs} inputs")
    sequence = keras.layers.Reshape((n_inputs, 1), name="sequence")(inputs)
    tabular = None
    if n_tabular:
        cut = keras.layers.Cropping1D((0, n_inputs - n_tabular), name="tabular")(sequence)
        tabular = keras.layers.Flatten(name="tabular_flat")(cut)
    traces = [
        keras.layers.Cropping1D((start, n_inputs - stop), name=f"signal_{g}")(sequence)
        for g, (_, start, stop) in enumerate(signals)
    ]
    return tabular, traces


def _conv_branches(k: int, tabular: Any, traces: list[Any], config: TrainConfig):
    """Member ``k``'s convolutional branches joined with the tabular inputs.

    The kernels take ``CNN_L2_FACTOR`` times ``config.l2`` (see there)."""
    import keras

    penalty = keras.regularizers.L2(config.l2 * CNN_L2_FACTOR) if config.l2 > 0 else None
    parts = [] if tabular is None else [tabular]
    last = len(config.conv_filters) - 1
    for g, trace in enumerate(traces):
        h = trace
        for i, filters in enumerate(config.conv_filters):
            h = keras.layers.Conv1D(
                filters,
                config.conv_kernel,
                padding="same",
                activation=config.activation,
                kernel_regularizer=penalty,
                name=f"member_{k}_signal_{g}_conv_{i}",
            )(h)
            if i < last and config.conv_pool > 1:
                h = keras.layers.AveragePooling1D(
                    config.conv_pool, name=f"member_{k}_signal_{g}_pool_{i}"
                )(h)
        parts.append(keras.layers.GlobalAveragePooling1D(name=f"member_{k}_signal_{g}_mean")(h))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name=f"member_{k}_join")(parts)


def build_training_network(
    n_inputs: int,
    task: str,
    n_outputs: int,
    config: TrainConfig,
    n_members: int,
    wide: bool,
    n_rows: int = 0,
    knots: np.ndarray | None = None,
    *,
    signals: tuple[tuple[str, int, int], ...] = (),
) -> keras.Model:
    """The training graph: output ``(rows, n_members * n_outputs)``, member ``k``'s logits (or
    standardised values) in columns ``k * n_outputs`` to ``(k + 1) * n_outputs - 1``.
    ``n_rows``: the rows each member trains on (sets the linear and spline paths' penalty);
    ``knots``: :func:`spline_knots` (none: no spline path); ``signals``: each signal's name and
    span among the inputs (convolutional members, see the module docstring)."""
    import keras

    inputs, terms = _members_graph(
        n_inputs,
        task,
        n_outputs,
        config,
        n_members,
        wide,
        training=True,
        n_rows=n_rows,
        signals=tuple(signals),
        knots=knots,
    )
    logits = [
        keras.layers.Add(name=f"member_{k}_sum")(member) if len(member) > 1 else member[0]
        for k, member in enumerate(terms)
    ]
    out = keras.layers.Concatenate(name="members")(logits) if len(logits) > 1 else logits[0]
    return keras.Model(inputs=[inputs], outputs=out, name=f"medinn_{task}_training")


def build_inference_network(
    n_inputs: int,
    task: str,
    n_outputs: int,
    config: TrainConfig,
    n_members: int,
    wide: bool,
    knots: np.ndarray | None = None,
    *,
    signals: tuple[tuple[str, int, int], ...] = (),
) -> keras.Model:
    """The saved graph: every member's terms summed, then the head (see the module docstring).
    The model takes a list of one input (as shap's DeepExplainer prefers)."""
    import keras

    inputs, terms = _members_graph(
        n_inputs,
        task,
        n_outputs,
        config,
        n_members,
        wide,
        training=False,
        knots=knots,
        signals=tuple(signals),
    )
    flat = [t for member in terms for t in member]
    total = keras.layers.Add(name="ensemble")(flat) if len(flat) > 1 else flat[0]
    out = keras.layers.Activation(HEADS[task], name=HEAD_LAYER)(total)
    return keras.Model(inputs=[inputs], outputs=out, name=f"medinn_{task}")


def fold_members(
    trained: keras.Model,
    inference: keras.Model,
    n_members: int,
    wide: bool,
    scale: float,
    shift: np.ndarray | float,
) -> None:
    """Copy the trained members into ``inference`` so that it outputs
    ``head(shift + scale * mean_k(member_k))``.

    ``scale`` and ``shift`` are the recalibration slope and intercept(s) for a classifier, or
    the target's standard deviation and mean for regression (the members learned the
    standardised target).
    """
    shift = np.asarray(shift, dtype=np.float64)
    share = scale / n_members
    for k in range(n_members):
        for layer in inference.layers:
            if layer.name.startswith((f"member_{k}_hidden_", f"member_{k}_signal_")):
                layer.set_weights(trained.get_layer(layer.name).get_weights())
        kernel, bias = trained.get_layer(f"member_{k}_output").get_weights()
        inference.get_layer(f"member_{k}_output").set_weights(
            [kernel * share, (bias * scale + shift) / n_members]
        )
        if wide:
            (linear,) = trained.get_layer(f"member_{k}_linear").get_weights()
            inference.get_layer(f"member_{k}_linear").set_weights([linear * share])
        if _has_layer(trained, f"member_{k}_spline"):
            (spline,) = trained.get_layer(f"member_{k}_spline").get_weights()
            inference.get_layer(f"member_{k}_spline").set_weights([spline * share])
    if _has_layer(trained, SPLINE_BASIS):
        inference.get_layer(SPLINE_BASIS).set_weights(trained.get_layer(SPLINE_BASIS).get_weights())


def _has_layer(network: Any, name: str) -> bool:
    return any(layer.name == name for layer in network.layers)


def n_members_of(network: Any) -> int:
    """How many members an inference network holds (1 for a plain chain of earlier versions)."""
    names = {layer.name for layer in network.layers}
    return sum(1 for name in names if name.startswith("member_") and name.endswith("_output")) or 1


def member_network(network: Any, *, with_output: bool = False) -> keras.Model | None:
    """A model sharing ``network``'s weights whose output is ``(rows, members, outputs)``: each
    member's own output before the head (recalibrated logits, or the target's unit); with
    ``with_output``, ``[network's output, that]`` from one pass. None for a network of earlier
    versions (one plain chain, no members)."""
    import keras

    names = {layer.name for layer in network.layers}
    if HEAD_LAYER not in names:
        return None
    k = n_members_of(network)
    per_member = []
    for m in range(k):
        parts = [network.get_layer(f"member_{m}_output").output]
        for path in ("linear", "spline"):
            if f"member_{m}_{path}" in names:
                parts.append(network.get_layer(f"member_{m}_{path}").output)
        total = parts[0] if len(parts) == 1 else keras.layers.Add()(parts)
        per_member.append(keras.layers.Rescaling(float(k))(total))
    stacked = keras.ops.stack(per_member, axis=1)
    outputs = [network.outputs[0], stacked] if with_output else stacked
    return keras.Model(inputs=network.inputs, outputs=outputs, name="members")


def member_loss(task: str, n_members: int, n_outputs: int) -> Callable:
    """Loss of the training graph. ``y_true`` is ``(rows, 1 + n_members)``: the outcome (class
    index or standardised value), then 1 where member ``k`` trains on the row, else 0.

    Survival: ``y_true`` is ``(rows, 2 + n_members)``, the event (1) or censoring (0) and the
    follow-up time first; the loss is the negative Cox partial log-likelihood of the batch
    (Breslow ties: the risk set of a time is every row of the batch followed at least that
    long), each member over its own rows, its output being the log-hazard."""
    import keras
    from keras import ops

    if task == "survival":
        return _cox_loss(n_members)

    def loss(y_true, y_pred):
        y = y_true[:, :1]
        mask = y_true[:, 1:]
        if task == "binary":
            per = ops.softplus(y_pred) - y * y_pred
        elif task == "multiclass":
            z = ops.reshape(y_pred, (-1, n_members, n_outputs))
            onehot = ops.one_hot(ops.cast(y[:, 0], "int32"), n_outputs)[:, None, :]
            per = -ops.sum(onehot * keras.ops.log_softmax(z, axis=-1), axis=-1)
        else:
            per = ops.square(y_pred - y)
        return ops.sum(per * mask, axis=1) / n_members

    return loss


def _cox_loss(n_members: int) -> Callable:
    from keras import ops

    def loss(y_true, y_pred):
        event, time, mask = y_true[:, 0], y_true[:, 1], y_true[:, 2:]
        # at_risk[i, j]: row j is followed at least as long as row i
        at_risk = ops.cast(time[None, :] >= time[:, None], y_pred.dtype)
        top = ops.stop_gradient(ops.max(y_pred, axis=0, keepdims=True))  # (1, members)
        weight = ops.exp(y_pred - top) * mask  # (rows, members)
        risk_sum = ops.matmul(at_risk, weight)  # (rows, members)
        log_risk = ops.log(risk_sum + 1e-12) + top
        per = event[:, None] * mask * (log_risk - y_pred)
        return ops.sum(per, axis=1) / n_members

    return loss


def member_scores(
    task: str,
    raw: np.ndarray,
    y: np.ndarray,
    n_members: int,
    held: np.ndarray | None = None,
) -> np.ndarray:
    """Per row and member, the unpenalised loss of the training graph's raw output
    (``(rows, n_members)``): log loss, or squared error on the standardised scale.

    Survival (``y`` the event and the time, ``held[i, k]`` True where member ``k`` is scored
    on row ``i``): each row's term of the member's negative partial log-likelihood over its
    own held-out rows."""
    if task == "survival":
        from medinn_core.survival import partial_likelihood_terms

        mask = np.ones_like(raw, dtype=bool) if held is None else held
        return partial_likelihood_terms(raw, y[:, 1], y[:, 0], mask)
    if task == "binary":
        z = raw
        return np.logaddexp(0.0, z) - y[:, None] * z
    if task == "multiclass":
        z = raw.reshape(len(raw), n_members, -1)
        z = z - z.max(axis=2, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
        return -np.take_along_axis(log_p, y.astype(int)[:, None, None], axis=2)[:, :, 0]
    return (raw - y[:, None]) ** 2


#: A convolutional network trains with this multiple of ``config.learning_rate`` and
#: batches of about 1/40 of the rows (128 to 1024): its shared kernels learn slowly in the
#: dense network's small batches (the heartbeat cohort reached the 100-epoch cap at 1e-3;
#: ``benchmarks/RESULTS.md``).
CNN_LEARNING_RATE_FACTOR = 3.0


def cnn_batch_size(n_rows: int) -> int:
    """The automatic batch size of a convolutional network for ``n_rows`` training rows."""
    return int(np.clip(2 ** np.round(np.log2(max(n_rows, 1) / 40)), 128, 1024))


#: Background centroids an explanation starts from: 100 for a dense network; 10 for a
#: convolutional one, whose DeepLIFT walks every (patient, centroid) pair back through each
#: member's convolutions (10 keeps it near 1,000 patients/s on 2 cores; see
#: benchmarks/RESULTS.md).
BACKGROUND_SIZES = {"mlp": 100, "cnn": 10}


def network_kind(config: TrainConfig, signals: tuple[tuple[str, int, int], ...]) -> str:
    """``"cnn"`` or ``"mlp"``: the network ``config`` builds for inputs with ``signals``
    (raises :class:`ConfigError` as :func:`uses_cnn`)."""
    return "cnn" if uses_cnn(config, tuple(signals)) else "mlp"


def describe_network(
    config: TrainConfig, signals: tuple[tuple[str, int, int], ...], n_inputs: int, n_members: int
) -> str:
    """The architecture in one sentence, for the report, the CLI and the Train page."""
    dense = "-".join(str(u) for u in config.hidden_units)
    wide = " plus a linear path from every input" if config.wide else ""
    members = f"{n_members} member{'s' if n_members != 1 else ''}"
    if network_kind(config, signals) == "mlp":
        spline = (
            f" and a spline path (hinges at up to {config.knots} knots on each numeric input "
            "with at least 10 distinct values)"
            if config.knots
            else ""
        )
        return (
            f"Multilayer perceptron on {n_inputs} inputs: dense layers {dense} "
            f"({config.activation}){wide}{spline}; an ensemble of {members}."
        )
    steps = []
    for i, f in enumerate(config.conv_filters):
        steps.append(f"Conv1D {f} filters x {config.conv_kernel}")
        if i < len(config.conv_filters) - 1 and config.conv_pool > 1:
            steps.append(f"average pool {config.conv_pool}")
    branch = ", ".join(steps) + ", mean over the trace"
    traces = "; ".join(f"'{name}' ({stop - start} samples)" for name, start, stop in signals)
    n_tabular = signals[0][1] if signals else n_inputs
    return (
        f"Convolutional network: per signal ({traces}) a 1-D branch ({branch}), joined with "
        f"{n_tabular} tabular inputs in dense layers {dense} ({config.activation}){wide}; "
        f"an ensemble of {members}."
    )
