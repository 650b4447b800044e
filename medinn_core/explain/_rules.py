"""The per-layer rules of medinn's DeepLIFT (shap's rules, in NumPy, float64): forward
passes, activations and their gradients, the rescale multipliers and the backward chain of a
dense stack. Shared by :mod:`._deeplift` (dense and ensemble networks) and :mod:`._conv`
(convolutional members)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

# Below this |x - b| shap uses the gradient instead of the secant slope (deep_tf.py).
_RESCALE_EPS = 1e-6


def _backward(stack: Any, mult, pre_x, post_x, pre_b, post_b) -> np.ndarray:
    """Multipliers of the inputs, ``(p, b, s, inputs)``, from those of the chain's last
    pre-activation."""
    for layer in range(len(stack.kernels) - 1, 0, -1):
        mult = _matmul_last(mult, stack.kernels[layer].T)
        below = layer - 1
        rescale = _rescale(
            stack.activations[below], pre_x[below], post_x[below], pre_b[below], post_b[below]
        )
        if rescale is not None:
            mult = _multiply(mult, rescale[:, :, None, :])
    return _matmul_last(mult, stack.kernels[0].T)  # maybe broadcast


def _forward(stack: Any, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations and activations of every layer."""
    pre, post = [], []
    h = X
    for kernel, bias, name in zip(stack.kernels, stack.biases, stack.activations, strict=True):
        z = h @ kernel + bias
        h = _head(name, z)
        pre.append(z)
        post.append(h)
    return pre, post


def _head(name: str, z: np.ndarray) -> np.ndarray:
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return expit(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def _derivative(name: str, z: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The activation's gradient at ``z`` (value ``f``), as TensorFlow's Grad ops compute it."""
    if name == "linear":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "elu":
        return np.where(f < 0, f + 1.0, 1.0)
    if name == "tanh":
        return 1.0 - f * f
    if name == "sigmoid":
        return f * (1.0 - f)
    raise ValueError(f"unknown activation {name!r}")


def _rescale(
    name: str, z_x: np.ndarray, f_x: np.ndarray, z_b: np.ndarray, f_b: np.ndarray
) -> np.ndarray | None:
    """Rescale-rule multipliers ``(f(x) - f(b)) / (x - b)``, shape (patients, background, units).

    ``None`` for the identity. Where ``|x - b| < 1e-6``, the gradient at the background point.
    """
    if name == "linear":
        return None
    dz = np.subtract(z_x[:, None, :], z_b[None, :, :])
    out = np.subtract(f_x[:, None, :], f_b[None, :, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(out, dz, out=out)
    close = np.abs(dz, out=dz) < _RESCALE_EPS
    if close.any():
        gradient = np.broadcast_to(_derivative(name, z_b, f_b)[None, :, :], out.shape)
        out[close] = gradient[close]
    return out


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a * b``, in place when ``a`` already has the result's shape and owns its memory."""
    if a.shape == np.broadcast_shapes(a.shape, b.shape) and a.flags.writeable and a.base is None:
        a *= b
        return a
    return a * b


def _matmul_last(a: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``a @ matrix`` over the last axis as one 2-D product (numpy's stacked matmul is slow)."""
    flat = np.ascontiguousarray(a).reshape(-1, a.shape[-1]) @ matrix
    return flat.reshape(*a.shape[:-1], matrix.shape[1])
