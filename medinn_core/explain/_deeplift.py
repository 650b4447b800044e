"""Vectorised DeepLIFT (rescale rule) for the dense networks that ``build_network`` makes.

shap's ``DeepExplainer`` walks the patients one at a time and runs a TensorFlow graph per
patient; for a small MLP the arithmetic is a few hundred thousand multiply-adds per patient, so
the time goes into Python and graph calls. This module does the same arithmetic in NumPy, in
float64, for blocks of (patient, background point) pairs at once, following shap's rules
(``shap/explainers/_deep/deep_tf.py``, shap 0.51):

* every non-linearity ``f`` gets the multiplier ``(f(x) - f(b)) / (x - b)``, or the gradient at
  the background point ``f'(b)`` when ``|x - b| < 1e-6`` (shap's ``nonlinearity_1d_handler``
  keeps the background half of its doubled batch, so the gradient is taken at ``b``);
* Dense kernels and biases are linear, Dropout is the identity at inference;
* a softmax head follows shap's ``softmax`` handler: logits centred on their row maximum,
  ``exp`` (rescale rule), the division ``e / sum(e)`` split between numerator and denominator
  by shap's two-input rule, then the centring mapped back onto the logits. shap's way of
  mapping back is ill-conditioned (see :func:`_softmax_multipliers_shap`), so by default the
  centring is explained with bounded weights instead (:func:`_softmax_multipliers`);
* each patient's value is the mean over the background of ``multiplier * (x - b)``.

The multipliers of a hidden layer depend only on its pre-activations at ``x`` and ``b``, which
are computed once per patient and once per background point; only the backward chain runs per
pair, as matrix products over cache-sized blocks. TensorFlow is never imported here (Keras
only to read the weights).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from medinn_core.errors import ModelError, list_examples
from medinn_core.explain._rules import (
    _RESCALE_EPS,
    _backward,
    _forward,
    _head,
    _matmul_last,
    _rescale,
)

ACTIVATIONS = ("linear", "relu", "elu", "tanh", "sigmoid", "softmax")
SPACES = ("probability", "logit")
SOFTMAX_RULES = ("stable", "shap")
# shap's two-input rule (RealDiv inside softmax) zeroes multipliers below this difference.
_DIVISION_EPS = 1e-7
# Elements of one (patients x background x outputs x units) block: 1 MB, cache-sized.
_BLOCK_ELEMENTS = 1 << 17


@dataclass(frozen=True, eq=False)
class DenseStack:
    """The weights of a chain of Dense layers, first to last, as float64 arrays.

    ``kernels[i]`` has shape ``(n_in, n_out)`` and ``activations[i]`` names the activation of
    layer ``i``; the last one is the head (sigmoid, softmax or linear).
    """

    kernels: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[str, ...]

    @property
    def n_inputs(self) -> int:
        return self.kernels[0].shape[0]

    @property
    def n_outputs(self) -> int:
        return self.kernels[-1].shape[1]

    @property
    def head(self) -> str:
        return self.activations[-1]

    def forward(self, X: np.ndarray, *, space: str = "probability") -> np.ndarray:
        """The output for the rows of ``X`` (the last layer's logits if ``space='logit'``)."""
        pre, _ = _forward(self, np.asarray(X, dtype=np.float64))
        return _head(self.head if space == "probability" else "linear", pre[-1])


@dataclass(frozen=True, eq=False)
class EnsembleStack:
    """Networks whose outputs are summed before one head (medinn's saved layout, see
    :mod:`medinn_core.network`): ``members`` are chains ending in a linear layer, ``linear``
    is the sum of the members' linear paths from the inputs, ``(n_inputs, n_outputs)``.

    Everything between the inputs and the head is a sum of the members' terms, so DeepLIFT's
    multipliers of each member are those of the member alone, times the head's multiplier on
    the sum: the contributions are the sum of the members' (the mean, as their weights carry
    the ``1 / K``), and they add up to the output exactly.
    """

    members: tuple[DenseStack, ...]
    linear: np.ndarray
    head: str
    # Further chains summed with the members', e.g. the spline path (its fixed hinges, then
    # the members' spline weights summed): one chain whatever the number of members.
    paths: tuple[DenseStack, ...] = ()

    @property
    def n_inputs(self) -> int:
        return self.linear.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.linear.shape[1]

    def forward(self, X: np.ndarray, *, space: str = "probability") -> np.ndarray:
        """The output for the rows of ``X`` (the summed logits if ``space='logit'``)."""
        _, total = _forward_ensemble(self, np.asarray(X, dtype=np.float64))
        return _head(self.head if space == "probability" else "linear", total)


def _forward_ensemble(stack: EnsembleStack, X: np.ndarray):
    """Per member a cache for the backward pass (a dense member's pre-activations and
    activations), and the summed pre-activation of the head."""
    caches = []
    total = X @ stack.linear
    for member in (*stack.members, *stack.paths):
        if isinstance(member, DenseStack):
            cache = _forward(member, X)
            last = cache[0][-1]
        else:  # a convolutional member (see _conv.py)
            cache, last = member.forward(X)
        caches.append(cache)
        total = total + last
    return caches, total


def _widest(member: Any) -> int:
    if isinstance(member, DenseStack):
        return max(max(k.shape) for k in member.kernels)
    return member.widest


def _ensemble_from_model(model: Any, names: set[str]) -> EnsembleStack:
    import keras

    by_function = {keras.activations.get(name): name for name in ACTIVATIONS}
    head_layer = model.get_layer("head")
    head = by_function.get(head_layer.activation)
    if head is None or model.outputs[0] is not head_layer.output:
        raise ModelError(f"Model '{model.name}' does not end with its head activation.")
    k = sum(1 for n in names if n.startswith("member_") and n.endswith("_output"))
    members, linear, spline = [], None, None
    expected = {"features", "head"} | ({"ensemble"} if "ensemble" in names else set())

    def dense_of(m: int, previous: Any) -> tuple[DenseStack, set[str]]:
        """Member ``m``'s hidden layers and output, read from the layer fed by ``previous``."""
        kernels, biases, activations, used = [], [], [], set()
        i = 0
        while f"member_{m}_hidden_{i}" in names:
            layer = model.get_layer(f"member_{m}_hidden_{i}")
            used.add(layer.name)
            if type(layer).__name__ != "Dense" or layer.input is not previous:
                raise ModelError(f"Layer '{layer.name}' of model '{model.name}' is out of place.")
            name = by_function.get(layer.activation)
            if name is None or name == "softmax":
                raise ModelError(
                    f"Layer '{layer.name}' uses activation {layer.activation.__name__!r}; "
                    f"DeepLIFT handles {list_examples(list(ACTIVATIONS[:-1]), 6)} before the head."
                )
            kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
            kernels.append(kernel)
            biases.append(bias)
            activations.append(name)
            previous = layer.output
            i += 1
        out = model.get_layer(f"member_{m}_output")
        used.add(out.name)
        if type(out).__name__ != "Dense" or out.input is not previous:
            raise ModelError(f"Layer '{out.name}' of model '{model.name}' is out of place.")
        if by_function.get(out.activation) != "linear":
            raise ModelError(f"Layer '{out.name}' of model '{model.name}' must be linear.")
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in out.get_weights())
        kernels.append(kernel)
        biases.append(bias)
        activations.append("linear")
        return DenseStack(tuple(kernels), tuple(biases), tuple(activations)), used

    for m in range(k):
        if f"member_{m}_signal_0_conv_0" in names:
            from medinn_core.explain._conv import conv_member_from_model

            member, used = conv_member_from_model(
                model, m, names, by_function, lambda feeds, m=m: dense_of(m, feeds)
            )
        else:
            member, used = dense_of(m, model.inputs[0])
        expected |= used
        members.append(member)
        if f"member_{m}_linear" in names:
            layer = model.get_layer(f"member_{m}_linear")
            expected.add(layer.name)
            if layer.input is not model.inputs[0] or layer.use_bias:
                raise ModelError(f"Layer '{layer.name}' of model '{model.name}' is out of place.")
            (weights,) = layer.get_weights()
            weights = np.asarray(weights, dtype=np.float64)
            linear = weights if linear is None else linear + weights
        if f"member_{m}_spline" in names:
            layer = model.get_layer(f"member_{m}_spline")
            expected.add(layer.name)
            if "spline_basis" not in names or layer.use_bias:
                raise ModelError(f"Layer '{layer.name}' of model '{model.name}' is out of place.")
            (weights,) = layer.get_weights()
            weights = np.asarray(weights, dtype=np.float64)
            spline = weights if spline is None else spline + weights
    paths = ()
    if spline is not None:
        basis = model.get_layer("spline_basis")
        expected.add(basis.name)
        if (
            type(basis).__name__ != "Dense"
            or basis.input is not model.inputs[0]
            or by_function.get(basis.activation) != "relu"
        ):
            raise ModelError(f"Layer 'spline_basis' of model '{model.name}' is out of place.")
        kernel, bias = (np.asarray(w, dtype=np.float64) for w in basis.get_weights())
        paths = (
            DenseStack((kernel, spline), (bias, np.zeros(spline.shape[1])), ("relu", "linear")),
        )
    unknown = sorted(n for n in names - expected if not n.startswith("input"))
    if unknown or not members:
        raise ModelError(
            f"Model '{model.name}' has layers DeepLIFT does not know: {list_examples(unknown)}."
        )
    if linear is None:
        n_inputs = model.inputs[0].shape[1]
        linear = np.zeros((n_inputs, members[0].n_outputs))
    return EnsembleStack(tuple(members), linear, head, paths)


def dense_stack_from_model(model: Any) -> DenseStack | EnsembleStack:
    """Read the weights of a Keras model laid out as medinn saves networks.

    Either medinn's ensemble layout (:mod:`medinn_core.network`: members' chains and linear
    paths summed, then an ``Activation`` named ``head``), read as an :class:`EnsembleStack`;
    or, as saved by earlier versions, one rank-2 input and a plain chain of ``Dense`` layers
    (activations in :data:`ACTIVATIONS`, softmax only on the last) with optional ``Dropout``.

    Raises
    ------
    ModelError
        If the model has another layout; the message names the first offending layer.
    """
    import keras

    by_function = {keras.activations.get(name): name for name in ACTIVATIONS}
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.inputs[0].shape) != 2:
        raise ModelError(
            f"Model '{model.name}' must have one 2-D input and one output for DeepLIFT, found "
            f"{len(model.inputs)} input(s) and {len(model.outputs)} output(s)."
        )
    names = {layer.name for layer in model.layers}
    if "head" in names:
        return _ensemble_from_model(model, names)
    kernels, biases, activations = [], [], []
    previous = model.inputs[0]
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind not in ("Dense", "Dropout"):
            raise ModelError(
                f"Layer '{layer.name}' of model '{model.name}' is a {kind}; DeepLIFT handles "
                "only Dense and Dropout layers in a chain."
            )
        if layer.input is not previous:
            raise ModelError(
                f"Layer '{layer.name}' of model '{model.name}' does not take the previous "
                "layer's output; DeepLIFT handles only a plain chain of layers."
            )
        previous = layer.output
        if kind == "Dropout":
            continue
        name = by_function.get(layer.activation)
        if name is None:
            raise ModelError(
                f"Layer '{layer.name}' uses activation {layer.activation.__name__!r}; DeepLIFT "
                f"handles {list_examples(list(ACTIVATIONS), 6)}."
            )
        weights = layer.get_weights()
        kernel = np.asarray(weights[0], dtype=np.float64)
        bias = (
            np.asarray(weights[1], dtype=np.float64)
            if layer.use_bias
            else np.zeros(kernel.shape[1])
        )
        kernels.append(kernel)
        biases.append(bias)
        activations.append(name)
    if previous is not model.outputs[0] or not kernels:
        raise ModelError(f"Model '{model.name}' does not end with its Dense output layer.")
    if "softmax" in activations[:-1]:
        raise ModelError(f"Model '{model.name}' uses softmax before its last layer.")
    return DenseStack(tuple(kernels), tuple(biases), tuple(activations))


def deeplift(
    stack: DenseStack,
    X: np.ndarray,
    background: np.ndarray,
    *,
    outputs: Sequence[int] | None = None,
    space: str = "probability",
    softmax_rule: str = "stable",
    block_elements: int = _BLOCK_ELEMENTS,
    n_jobs: int = 1,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeepLIFT contributions of each input column to the chosen outputs, as shap computes them.

    Parameters
    ----------
    stack : the network, from :func:`dense_stack_from_model`.
    X : encoded patients, shape ``(n, n_inputs)``.
    background : reference points, shape ``(n_background, n_inputs)``.
    outputs : indices of the outputs to explain; all by default.
    space : ``"probability"`` explains the network's output (after sigmoid or softmax),
        ``"logit"`` the last layer's pre-activation.
    softmax_rule : ``"shap"`` reproduces shap's Softmax handler exactly, including its
        ill-conditioned mapping back from centred logits; ``"stable"`` (default) uses shap's
        rules but explains the centring by the maximum with bounded weights
        (see :func:`_softmax_multipliers`). Both add up exactly.
    block_elements : bounds the memory of one block of patients (elements, float64).
    n_jobs : blocks computed in parallel threads; ``-1`` for every available core.
    weights : one weight per background row, summing to 1 (equal by default). DeepLIFT adds
        up exactly against each reference, so any weighted mean over them does too.

    Returns
    -------
    values : ``(n, n_inputs, n_selected)`` contributions.
    base_values : ``(n_selected,)`` (weighted) mean output over the background.
    model_outputs : ``(n, n_selected)`` outputs for ``X``; ``base + values.sum(1) == output``.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if softmax_rule not in SOFTMAX_RULES:
        raise ValueError(f"softmax_rule must be one of {SOFTMAX_RULES}, got {softmax_rule!r}")
    X = np.asarray(X, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    outputs = np.arange(stack.n_outputs) if outputs is None else np.asarray(outputs, dtype=int)
    head = stack.head if space == "probability" else "linear"
    n, n_bg = len(X), len(background)
    weights = np.full(n_bg, 1.0 / n_bg) if weights is None else np.asarray(weights, np.float64)
    if isinstance(stack, EnsembleStack):
        cache_b = _forward_ensemble(stack, background)
        base_values = weights @ _head(head, cache_b[1])[:, outputs]
        widest = max(_widest(m) for m in (*stack.members, *stack.paths))
    else:
        pre_b, post_b = _forward(stack, background)
        base_values = weights @ _head(head, pre_b[-1])[:, outputs]
        widest = max(max(k.shape) for k in stack.kernels)
    values = np.empty((n, stack.n_inputs, len(outputs)))
    model_outputs = np.empty((n, len(outputs)))
    chunk = max(1, block_elements // (n_bg * len(outputs) * widest))
    blocks = [slice(start, start + chunk) for start in range(0, n, chunk)]

    def explain_block(block: slice) -> None:
        if isinstance(stack, EnsembleStack):
            values[block], model_outputs[block] = _explain_ensemble_block(
                stack, X[block], background, cache_b, head, outputs, softmax_rule, weights
            )
            return
        values[block], model_outputs[block] = _explain_block(
            stack, X[block], background, pre_b, post_b, head, outputs, softmax_rule, weights
        )

    workers = min(n_jobs if n_jobs > 0 else _available_cores(), len(blocks))
    with _SINGLE_THREADED_BLAS:
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(explain_block, blocks))
        else:
            for block in blocks:
                explain_block(block)
    return values, base_values, model_outputs


def _explain_block(
    stack: DenseStack,
    x: np.ndarray,
    background: np.ndarray,
    pre_b: list[np.ndarray],
    post_b: list[np.ndarray],
    head: str,
    outputs: np.ndarray,
    softmax_rule: str,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Values ``(p, inputs, outputs)`` and model outputs ``(p, outputs)`` of one block."""
    pre_x, post_x = _forward(stack, x)
    # multipliers of the last pre-activation: (patients, background, outputs, units)
    mult = _head_multipliers(head, pre_x[-1], pre_b[-1], outputs, softmax_rule)
    grads = _backward(stack, mult, pre_x, post_x, pre_b, post_b)
    return _values(grads, x, background, weights), _head(head, pre_x[-1])[:, outputs]


def _explain_ensemble_block(
    stack: EnsembleStack,
    x: np.ndarray,
    background: np.ndarray,
    cache_b,
    head: str,
    outputs: np.ndarray,
    softmax_rule: str,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_explain_block`, for an :class:`EnsembleStack`: the head's multipliers on the
    summed logits, then each member's chain and the linear path, summed."""
    caches_x, total_x = _forward_ensemble(stack, x)
    caches_b, total_b = cache_b
    mult = _head_multipliers(head, total_x, total_b, outputs, softmax_rule)
    grads = np.broadcast_to(
        _matmul_last(mult, stack.linear.T), (len(x), len(background), len(outputs), x.shape[1])
    ).copy()
    for member, cache_x, cache_b in zip(
        (*stack.members, *stack.paths), caches_x, caches_b, strict=True
    ):
        if isinstance(member, DenseStack):
            grads += _backward(member, mult, *cache_x, *cache_b)
        else:
            grads += member.backward(mult, cache_x, cache_b, x.shape[1])
    return _values(grads, x, background, weights), _head(head, total_x)[:, outputs]


def _values(
    grads: np.ndarray, x: np.ndarray, background: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Contributions ``(p, inputs, s)``: the weighted mean over the background of
    ``grads * (x - b)``."""
    grads = np.broadcast_to(grads, (len(x), len(background), *grads.shape[2:]))
    # sum over b of w_b grads * (x - b) = x * sum(w grads) - sum(w grads * b), without (x - b)
    total = np.einsum("pbsd,b->psd", grads, weights)
    weighted = np.einsum("pbsd,bd->psd", grads, background * weights[:, None])
    values = x[:, None, :] * total - weighted
    return values.transpose(0, 2, 1)


class _SingleThreadedBlas:
    """Keeps BLAS single-threaded while any DeepLIFT call runs, restoring it after the last.

    The products here are small and cache-sized: multithreaded BLAS mostly waits for its
    threads (4-8 times slower, measured on a busy 2-core machine). Parallelism comes from the
    blocks instead (``n_jobs``). Reference-counted because threadpoolctl's own context would
    restore the wrong setting when calls overlap in threads (two Streamlit sessions).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                from threadpoolctl import ThreadpoolController

                self._limiter = ThreadpoolController().limit(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


# process-wide on purpose: the BLAS thread setting it guards is process-wide too
_SINGLE_THREADED_BLAS = _SingleThreadedBlas()


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _head_multipliers(
    head: str, z_x: np.ndarray, z_b: np.ndarray, outputs: np.ndarray, softmax_rule: str
) -> np.ndarray:
    """Multipliers of each explained output with respect to the last pre-activation.

    Shape ``(patients, background, outputs, units)``, or broadcastable to it.
    """
    one_hot = np.eye(z_x.shape[1])[outputs]  # (outputs, units)
    if head == "linear":
        return one_hot[None, None, :, :]
    if head == "softmax" and softmax_rule == "shap":
        return _softmax_multipliers_shap(z_x, z_b, outputs)
    if head == "softmax":
        return _softmax_multipliers(z_x, z_b, outputs)
    rescale = _rescale(head, z_x, _head(head, z_x), z_b, _head(head, z_b))  # (p, b, units)
    return rescale[:, :, None, :] * one_hot[None, None, :, :]


def _softmax_multipliers_shap(z_x: np.ndarray, z_b: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """shap's Softmax handler (deep_tf.py ``softmax``), background half, for one-hot upstreams.

    shap centres each row on its own maximum, ``c = z - max(z)``, runs the rules below on
    ``c`` and then maps the multiplier of ``c_j`` onto ``z_j`` by ``(c_x - c_b) / (z_x - z_b)``.
    When a logit barely moves while the maximum does, that ratio is huge: the values still add
    up, but single contributions reach tens or hundreds on a probability scale, and in shap's
    float32 they carry the rounding error of ``c_x - c_b`` times that ratio.
    """
    c_x = z_x - z_x.max(axis=1, keepdims=True)
    c_b = z_b - z_b.max(axis=1, keepdims=True)
    e_x, e_b = np.exp(c_x), np.exp(c_b)
    s_x, s_b = e_x.sum(axis=1), e_b.sum(axis=1)
    d_e = e_x[:, None, :] - e_b[None, :, :]  # (p, b, k)
    d_s = s_x[:, None] - s_b[None, :]  # (p, b)
    # RealDiv e / s with both inputs varying: the numerator's multiplier is
    # 0.5 (1/s_x + 1/s_b), the denominator's -0.5 (e_x + e_b) / (s_x s_b), summed over classes.
    numerator = 0.5 * (1.0 / s_x[:, None] + 1.0 / s_b[None, :])
    numerator = numerator[:, :, None] * (np.abs(d_e[:, :, outputs]) >= _DIVISION_EPS)  # (p, b, o)
    s_prod = (s_x[:, None] * s_b[None, :])[:, :, None]
    denominator = -0.5 * (e_x[:, None, outputs] + e_b[None, :, outputs]) / s_prod
    denominator = denominator * (np.abs(d_s) >= _DIVISION_EPS)[:, :, None]  # (p, b, o)
    mult = np.broadcast_to(denominator[..., None], (*denominator.shape, z_x.shape[1])).copy()
    mult[:, :, np.arange(len(outputs)), outputs] += numerator
    # exp on the centred logits (rescale rule, gradient exp(c_b) where c_x ~ c_b) ...
    d_c = c_x[:, None, :] - c_b[None, :, :]
    mult *= _ratio(d_e, d_c, fallback=e_b[None, :, :])[:, :, None, :]
    # ... and the centring undone: the multiplier on c is rescaled by (c_x - c_b) / (z_x - z_b).
    d_z = z_x[:, None, :] - z_b[None, :, :]
    mult *= _ratio(d_c, d_z, fallback=np.ones((1, 1, 1)))[:, :, None, :]
    return mult


def _softmax_multipliers(z_x: np.ndarray, z_b: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """shap's rules on the centred logits, with the centring by the maximum itself explained.

    As in shap, ``c = z - max(z)`` keeps every row's ``sum(exp(c))`` in ``[1, k]`` (without
    it, the division rule's cross terms such as ``e_x / s_b`` overflow), and the multipliers
    ``m_c`` of ``c`` follow shap's exp, sum and division rules (in exact form, no thresholds).
    Instead of shap's ratio ``(c_x - c_b) / (z_x - z_b)``, the chain goes through
    ``c_j = z_j - M``: ``m_z = m_c - sum(m_c) * m_M``, where ``m_M`` attributes the change of
    the maximum ``M`` to the argmax logits of the two rows by convex weights
    (``ΔM = t Δz_j1 + (1 - t) Δz_j2`` with ``t`` in [0, 1]). Every factor is bounded, and the
    values add up exactly.
    """
    k = z_x.shape[1]
    j_x, j_b = z_x.argmax(axis=1), z_b.argmax(axis=1)
    c_x = z_x - z_x[np.arange(len(z_x)), j_x][:, None]
    c_b = z_b - z_b[np.arange(len(z_b)), j_b][:, None]
    e_x, e_b = np.exp(c_x), np.exp(c_b)
    s_x, s_b = e_x.sum(axis=1), e_b.sum(axis=1)
    numerator = 0.5 * (1.0 / s_x[:, None] + 1.0 / s_b[None, :])  # (p, b)
    s_prod = (s_x[:, None] * s_b[None, :])[:, :, None]
    denominator = -0.5 * (e_x[:, None, outputs] + e_b[None, :, outputs]) / s_prod  # (p, b, o)
    mult = np.broadcast_to(denominator[..., None], (*denominator.shape, k)).copy()
    mult[:, :, np.arange(len(outputs)), outputs] += numerator[:, :, None]
    d_c = c_x[:, None, :] - c_b[None, :, :]
    close = np.abs(d_c) < 0.5
    d_e = np.where(close, e_b[None] * np.expm1(np.where(close, d_c, 0.0)), e_x[:, None] - e_b[None])
    mult *= _ratio(d_e, d_c, fallback=np.broadcast_to(e_b[None], d_c.shape), eps=0.0)[:, :, None]
    # the maximum: ΔM lies between Δz at x's argmax (j1) and at b's argmax (j2)
    d_z = z_x[:, None, :] - z_b[None, :, :]
    j1 = np.broadcast_to(j_x[:, None], d_z.shape[:2])
    j2 = np.broadcast_to(j_b[None, :], d_z.shape[:2])
    d_j1 = np.take_along_axis(d_z, j1[..., None], axis=2)[..., 0]
    d_j2 = np.take_along_axis(d_z, j2[..., None], axis=2)[..., 0]
    d_max = z_x.max(axis=1)[:, None] - z_b.max(axis=1)[None, :]
    t = np.full(d_max.shape, 0.5)
    np.divide(d_max - d_j2, d_j1 - d_j2, out=t, where=np.abs(d_j1 - d_j2) > 0)
    t = np.clip(t, 0.0, 1.0)
    m_max = np.zeros(d_z.shape)
    np.put_along_axis(m_max, j2[..., None], (1.0 - t)[..., None], axis=2)
    m_max += np.eye(k)[j1] * t[..., None]  # j1 == j2 gives weight 1 on that logit
    return mult - mult.sum(axis=3, keepdims=True) * m_max[:, :, None, :]


def _ratio(
    num: np.ndarray, den: np.ndarray, fallback: np.ndarray, eps: float = _RESCALE_EPS
) -> np.ndarray:
    out = np.broadcast_to(fallback, den.shape).copy()
    np.divide(num, den, out=out, where=np.abs(den) > eps if eps == 0 else np.abs(den) >= eps)
    return out
