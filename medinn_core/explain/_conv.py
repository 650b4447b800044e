"""DeepLIFT through the convolutional members of :mod:`medinn_core.network`.

A convolutional member reads each signal's samples through ``Conv1D`` layers ("same" padding,
stride 1), ``AveragePooling1D`` between them and a ``GlobalAveragePooling1D``, joins the
result with the tabular inputs and runs a dense chain. Every step but the elementwise
activations is linear, so shap's rules give: the rescale multiplier at each activation
(:func:`medinn_core.explain._rules._rescale`), and the transposed linear map elsewhere.
The transposed convolution is done natively (one matrix product per layer, then the kernel's
taps added back shifted), not as a dense Toeplitz matrix: for a 128-sample trace the
Toeplitz form does 10 to 20 times the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from medinn_core.errors import ModelError
from medinn_core.explain._rules import _backward, _forward, _head, _rescale


@dataclass(frozen=True, eq=False)
class ConvBranch:
    """One signal's branch: samples ``start:stop`` of the inputs, convolutions ``kernels[i]``
    of shape ``(taps, channels_in, channels_out)`` with ``biases[i]`` and ``activations[i]``,
    and ``pools[i]`` (1 for none) after convolution ``i`` but the last."""

    start: int
    stop: int
    kernels: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[str, ...]
    pools: tuple[int, ...]

    @property
    def n_features(self) -> int:
        return self.kernels[-1].shape[2]


@dataclass(frozen=True, eq=False)
class ConvMember:
    """A convolutional member: the tabular inputs ``0:n_tabular`` and each branch's mean
    features, joined in that order, feed ``dense`` (a :class:`DenseStack` ending linear)."""

    n_tabular: int
    branches: tuple[ConvBranch, ...]
    dense: Any  # DenseStack

    @property
    def n_outputs(self) -> int:
        return self.dense.n_outputs

    @property
    def widest(self) -> int:
        """The most units of one layer (sizes the blocks of patients)."""
        conv = [(b.stop - b.start) * max(k.shape[2] for k in b.kernels) for b in self.branches]
        return max([*conv, *(max(k.shape) for k in self.dense.kernels)])

    def forward(self, X: np.ndarray):
        """A cache for :meth:`backward` and the member's last pre-activation."""
        branches = [_branch_forward(b, X) for b in self.branches]
        joined = np.concatenate([X[:, : self.n_tabular], *(c[-1] for c in branches)], axis=1)
        pre, post = _forward(self.dense, joined)
        return (branches, pre, post), pre[-1]

    def backward(self, mult: np.ndarray, cache_x, cache_b, n_inputs: int) -> np.ndarray:
        """Multipliers of the inputs ``(p, b, s, n_inputs)`` from those of the last
        pre-activation ``(p, b, s, outputs)`` (or broadcastable)."""
        branches_x, pre_x, post_x = cache_x
        branches_b, pre_b, post_b = cache_b
        joined = _backward(self.dense, mult, pre_x, post_x, pre_b, post_b)
        p, b = len(pre_x[0]), len(pre_b[0])
        joined = np.broadcast_to(joined, (p, b, *joined.shape[2:]))
        grads = np.zeros((*joined.shape[:3], n_inputs))
        grads[..., : self.n_tabular] = joined[..., : self.n_tabular]
        at = self.n_tabular
        for branch, cx, cb in zip(self.branches, branches_x, branches_b, strict=True):
            width = branch.n_features
            grads[..., branch.start : branch.stop] = _branch_backward(
                branch, joined[..., at : at + width], cx, cb
            )
            at += width
        return grads


def _branch_forward(branch: ConvBranch, X: np.ndarray) -> list[np.ndarray]:
    """``[z_0, a_0, z_1, a_1, ..., mean]``: each convolution's pre-activation and activation
    (rows, samples, channels), then the mean over the trace (rows, channels)."""
    h = X[:, branch.start : branch.stop, None]
    out = []
    last = len(branch.kernels) - 1
    for i, (kernel, bias, name) in enumerate(
        zip(branch.kernels, branch.biases, branch.activations, strict=True)
    ):
        z = _conv(h, kernel) + bias
        a = _head(name, z)
        out += [z, a]
        h = _pool(a, branch.pools[i]) if i < last else a
    out.append(h.mean(axis=1))
    return out


def _branch_backward(branch: ConvBranch, g: np.ndarray, cache_x, cache_b) -> np.ndarray:
    """Multipliers of the branch's samples ``(p, b, s, samples)`` from those of its mean
    features ``g`` ``(p, b, s, channels)``."""
    p, b, s = g.shape[:3]
    n_layers = len(branch.kernels)
    z_last = cache_x[2 * (n_layers - 1)]
    length = z_last.shape[1]
    # the mean over the trace: every position gets 1 / length of its channel's multiplier
    m = np.broadcast_to(g[:, :, :, None, :] / length, (p, b, s, length, g.shape[3]))
    for i in range(n_layers - 1, -1, -1):
        z_x, a_x, z_b, a_b = cache_x[2 * i], cache_x[2 * i + 1], cache_b[2 * i], cache_b[2 * i + 1]
        shape = z_x.shape[1:]
        flat = (len(z_x), -1)
        r = _rescale(
            branch.activations[i],
            z_x.reshape(flat),
            a_x.reshape(flat),
            z_b.reshape(len(z_b), -1),
            a_b.reshape(len(z_b), -1),
        )
        if r is not None:
            m = m * r.reshape(p, b, 1, *shape)
        m = _conv_transpose(m.reshape(-1, *shape), branch.kernels[i])
        m = m.reshape(p, b, s, *m.shape[1:])
        if i > 0:
            before = cache_x[2 * (i - 1)].shape[1]
            m = _unpool(m, branch.pools[i - 1], before)
    return m[..., 0]


def _conv(h: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Keras' Conv1D with "same" padding and stride 1 (odd taps): ``(n, L, c) -> (n, L, o)``."""
    taps, c, o = kernel.shape
    pad = (taps - 1) // 2
    padded = np.pad(h, ((0, 0), (pad, taps - 1 - pad), (0, 0)))
    windows = sliding_window_view(padded, taps, axis=1)  # (n, L, c, taps)
    flat = windows.transpose(0, 1, 3, 2).reshape(-1, taps * c)
    return (flat @ kernel.reshape(taps * c, o)).reshape(h.shape[0], h.shape[1], o)


def _conv_transpose(g: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The transpose of :func:`_conv`: multipliers ``(n, L, o)`` to ``(n, L, c)``."""
    taps, c, o = kernel.shape
    pad = (taps - 1) // 2
    if taps % 2 and o < 2 * c:
        # For odd taps, "same" padding is symmetric and the transpose is itself a "same"
        # convolution with the taps reversed and the channels swapped: one product over
        # windows of o channels, cheaper than spreading c channels per tap and adding them
        # back shifted once o < 2c (3.6x on 8 -> 8 channels; the spread wins for 8 -> 1).
        return _conv(g, kernel[::-1].transpose(0, 2, 1))
    n, length = g.shape[:2]
    spread = (g.reshape(-1, o) @ kernel.reshape(taps * c, o).T).reshape(n, length, taps, c)
    out = np.zeros((n, length + taps - 1, c))
    for j in range(taps):
        out[:, j : j + length] += spread[:, :, j]
    return out[:, pad : pad + length]


def _pool(a: np.ndarray, size: int) -> np.ndarray:
    """AveragePooling1D with ``strides == pool_size`` and "valid" padding."""
    if size == 1:
        return a
    kept = a.shape[1] // size
    return a[:, : kept * size].reshape(a.shape[0], kept, size, a.shape[2]).mean(axis=2)


def _unpool(m: np.ndarray, size: int, length: int) -> np.ndarray:
    """The transpose of :func:`_pool` on ``(..., kept, channels)``: each pooled position's
    multiplier over its ``size`` samples, divided by ``size``; dropped tail samples get 0."""
    if size == 1:
        return m
    out = np.zeros((*m.shape[:-2], length, m.shape[-1]))
    kept = m.shape[-2]
    out[..., : kept * size, :] = np.repeat(m, size, axis=-2) / size
    return out


def conv_member_from_model(model: Any, m: int, names: set[str], by_function: dict, dense_of):
    """Member ``m`` of a medinn CNN (layer names of :mod:`medinn_core.network`) as a
    :class:`ConvMember`, and the names of the layers it read. ``dense_of(previous)`` reads the
    member's dense chain from the layer whose output feeds it."""
    n_inputs = model.inputs[0].shape[1]
    used = {"sequence"}
    n_tabular = 0
    if "tabular" in names:
        n_tabular = n_inputs - _cropping(model.get_layer("tabular"))[1]
        used |= {"tabular", "tabular_flat"}
    branches, outputs = [], []
    g = 0
    while f"signal_{g}" in names:
        start, end = _cropping(model.get_layer(f"signal_{g}"))
        used.add(f"signal_{g}")
        kernels, biases, activations, pools = [], [], [], []
        previous = model.get_layer(f"signal_{g}").output
        i = 0
        while f"member_{m}_signal_{g}_conv_{i}" in names:
            layer = model.get_layer(f"member_{m}_signal_{g}_conv_{i}")
            cfg = layer.get_config()
            if (
                type(layer).__name__ != "Conv1D"
                or layer.input is not previous
                or cfg["padding"] != "same"
                or tuple(cfg["strides"]) != (1,)
                or tuple(cfg["dilation_rate"]) != (1,)
                or cfg.get("groups", 1) != 1
                or cfg["kernel_size"][0] % 2 == 0
            ):
                raise ModelError(f"Layer '{layer.name}' of model '{model.name}' is out of place.")
            name = by_function.get(layer.activation)
            if name is None or name == "softmax":
                raise ModelError(
                    f"Layer '{layer.name}' uses an activation DeepLIFT does not handle here."
                )
            kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
            kernels.append(kernel)
            biases.append(bias)
            activations.append(name)
            used.add(layer.name)
            previous = layer.output
            pool_name = f"member_{m}_signal_{g}_pool_{i}"
            pools.append(1)
            if pool_name in names:
                pool = model.get_layer(pool_name)
                pc = pool.get_config()
                size = pc["pool_size"][0]
                if (
                    type(pool).__name__ != "AveragePooling1D"
                    or pool.input is not previous
                    or tuple(pc["strides"]) != (size,)
                    or pc["padding"] != "valid"
                ):
                    raise ModelError(
                        f"Layer '{pool_name}' of model '{model.name}' is out of place."
                    )
                pools[-1] = size
                used.add(pool_name)
                previous = pool.output
            i += 1
        mean = model.get_layer(f"member_{m}_signal_{g}_mean")
        if type(mean).__name__ != "GlobalAveragePooling1D" or mean.input is not previous:
            raise ModelError(f"Layer '{mean.name}' of model '{model.name}' is out of place.")
        if not kernels or pools[-1] != 1:
            raise ModelError(f"Signal branch {g} of member {m} of '{model.name}' is malformed.")
        used.add(mean.name)
        outputs.append(mean.output)
        branches.append(
            ConvBranch(
                start,
                n_inputs - end,
                tuple(kernels),
                tuple(biases),
                tuple(activations),
                tuple(pools[:-1]),
            )
        )
        g += 1
    feeds = outputs[0] if n_tabular == 0 and len(outputs) == 1 else None
    if feeds is None:
        join = model.get_layer(f"member_{m}_join")
        expected = ([model.get_layer("tabular_flat").output] if n_tabular else []) + outputs
        inputs = join.input if isinstance(join.input, list) else [join.input]
        if (
            type(join).__name__ != "Concatenate"
            or len(inputs) != len(expected)
            or any(a is not b for a, b in zip(inputs, expected, strict=True))
        ):
            raise ModelError(f"Layer '{join.name}' of model '{model.name}' is out of place.")
        used.add(join.name)
        feeds = join.output
    dense, dense_names = dense_of(feeds)
    return ConvMember(n_tabular, tuple(branches), dense), used | dense_names


def _cropping(layer: Any) -> tuple[int, int]:
    if type(layer).__name__ != "Cropping1D":
        raise ModelError(f"Layer '{layer.name}' must be a Cropping1D layer.")
    start, end = layer.get_config()["cropping"]
    return int(start), int(end)
