"""Frozen configuration dataclasses with defaults, passed explicitly (no module globals)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from medinn_core.errors import ConfigError

# Activations that shap's DeepExplainer (and medinn's own DeepLIFT) handle exactly.
# gelu, leaky_relu and swish are deliberately not offered.
ACTIVATIONS = ("relu", "elu", "tanh")
EARLY_STOPPING_MONITORS = ("val_loss", "val_auroc")
SCHEMES = ("auto", "folds", "split")
NETWORKS = ("auto", "mlp", "cnn")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Parameters
    ----------
    hidden_units : units of each hidden layer, first to last.
    activation : one of ``ACTIVATIONS``.
    dropout : dropout rate after each hidden layer, in [0, 0.9].
    l2 : L2 penalty on the weights of every dense layer; the linear path's eases as the cohort
        grows (see :func:`medinn_core.network.build_training_network`).
    learning_rate : Adam's learning rate.
    batch_size : rows per gradient step; 0 picks one that grows with the data (32 to 1024).
    epochs : upper bound on epochs; early stopping usually ends sooner.
    patience : epochs without improvement before stopping; the best weights are restored.
    monitor : ``"val_loss"`` or ``"val_auroc"`` (binary only). Never accuracy.
    class_weight : ``"balanced"`` reweights classes by inverse frequency; ``"none"`` does not.
    validation_fraction, test_fraction : shares of the rows held out (split scheme).
    seed : seeds the split, the weights and the shuffling.
    scheme : ``"auto"`` (cross-fitting up to ``FOLDS_UP_TO`` rows, else a split), ``"folds"``
        or ``"split"``; see :func:`medinn_core.train.choose_scheme`.
    folds : folds, and so members, of the cross-fitting scheme.
    split_members : members of the split scheme (each trained on the whole training split).
    wide : give each member a linear path from its inputs to its output (wide and deep).
    knots : knots per numeric input of the spline path (piecewise-linear curves beside the
        hidden layers, see :mod:`medinn_core.network`); 0 for none.
    coverage : the coverage of the conformal intervals (regression) and prediction sets
        (multiclass).
    network : ``"mlp"`` (dense layers on every input), ``"cnn"`` (a 1-D convolutional branch
        per signal group joined with the other inputs; see :mod:`medinn_core.network`) or
        ``"auto"``: the CNN when the schema has a signal group.
    conv_filters : filters of each convolution of a signal branch, first to last; an average
        pooling of ``conv_pool`` samples follows every convolution but the last, which is
        averaged over the whole trace.
    conv_kernel : samples each convolution spans (odd).
    conv_pool : samples each pooling averages.
    """

    hidden_units: tuple[int, ...] = (64, 32)
    activation: str = "relu"
    dropout: float = 0.2
    l2: float = 1e-3
    learning_rate: float = 1e-3
    batch_size: int = 0
    epochs: int = 100
    patience: int = 10
    monitor: str = "val_loss"
    class_weight: str = "none"
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    scheme: str = "auto"
    folds: int = 5
    split_members: int = 2
    wide: bool = True
    knots: int = 5
    coverage: float = 0.9
    network: str = "auto"
    conv_filters: tuple[int, ...] = (8, 8)
    conv_kernel: int = 7
    conv_pool: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_units", tuple(int(u) for u in self.hidden_units))
        object.__setattr__(self, "conv_filters", tuple(int(u) for u in self.conv_filters))
        problems = []
        if not self.hidden_units or any(u < 1 or u > 4096 for u in self.hidden_units):
            problems.append(
                f"hidden_units must be 1 to 4096 units per layer, got {self.hidden_units}"
            )
        if len(self.hidden_units) > 8:
            problems.append(f"at most 8 hidden layers, got {len(self.hidden_units)}")
        if self.activation not in ACTIVATIONS:
            problems.append(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not 0 <= self.dropout <= 0.9:
            problems.append(f"dropout must lie in [0, 0.9], got {self.dropout}")
        if self.l2 < 0:
            problems.append(f"l2 must be >= 0, got {self.l2}")
        if not 0 < self.learning_rate <= 1:
            problems.append(f"learning_rate must lie in (0, 1], got {self.learning_rate}")
        if self.batch_size < 0:
            problems.append(f"batch_size must be >= 1, or 0 for automatic, got {self.batch_size}")
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.patience < 1:
            problems.append(f"patience must be >= 1, got {self.patience}")
        if self.monitor not in EARLY_STOPPING_MONITORS:
            problems.append(
                f"monitor must be one of {', '.join(EARLY_STOPPING_MONITORS)}, got {self.monitor!r}"
            )
        if self.class_weight not in ("none", "balanced"):
            problems.append(f"class_weight must be 'none' or 'balanced', got {self.class_weight!r}")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.05 <= value <= 0.5:
                problems.append(f"{name} must lie in [0.05, 0.5], got {value}")
        if self.scheme not in SCHEMES:
            problems.append(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        if not 3 <= self.folds <= 10:
            problems.append(f"folds must lie in [3, 10], got {self.folds}")
        if not 1 <= self.split_members <= 10:
            problems.append(f"split_members must lie in [1, 10], got {self.split_members}")
        if not 0 <= self.knots <= 20:
            problems.append(f"knots must lie in [0, 20], got {self.knots}")
        if not 0.5 <= self.coverage < 1:
            problems.append(f"coverage must lie in [0.5, 1), got {self.coverage}")
        if self.network not in NETWORKS:
            problems.append(f"network must be one of {', '.join(NETWORKS)}, got {self.network!r}")
        if not 1 <= len(self.conv_filters) <= 4 or any(f < 1 or f > 256 for f in self.conv_filters):
            problems.append(
                f"conv_filters must be 1 to 4 convolutions of 1 to 256 filters, got "
                f"{self.conv_filters}"
            )
        if not (1 <= self.conv_kernel <= 31 and self.conv_kernel % 2 == 1):
            problems.append(f"conv_kernel must be odd, 1 to 31, got {self.conv_kernel}")
        if not 1 <= self.conv_pool <= 8:
            problems.append(f"conv_pool must lie in [1, 8], got {self.conv_pool}")
        if problems:
            raise ConfigError("Invalid training settings: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = asdict(self)
        data["hidden_units"] = list(self.hidden_units)
        data["conv_filters"] = list(self.conv_filters)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from :meth:`to_dict` output, ignoring unknown keys from newer versions."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
