"""A trained network's architecture as a clinician's table: per member, each signal's
convolutional branch, the dense layers, the linear path and the spline path, with their
parameters.

Read from the network itself (the layer names of :mod:`medinn_core.network` are the
contract), not from the settings, so the table shows what was built and saved: the Train
page shows it after training, the Models page for a saved model. The one-sentence summary
that the report and the CLI print is :func:`medinn_core.network.describe_network`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from medinn_core.errors import ModelError
from medinn_core.network import SPLINE_BASIS, describe_network, network_kind
from medinn_core.signals import MIN_SIGNAL_LENGTH

if TYPE_CHECKING:
    from medinn_core.model import MedinnModel
    from medinn_core.schema import Schema

#: The columns of :attr:`Architecture.table`.
ARCHITECTURE_COLUMNS = ("members", "part", "layers", "parameters")


@dataclass(frozen=True, eq=False)
class Architecture:
    """What a trained model's network is made of.

    Attributes
    ----------
    kind : ``"cnn"`` (a convolutional branch per signal) or ``"mlp"`` (dense layers only).
    sentence : the architecture in one sentence (the report's and the CLI's).
    table : one row per part of a member (``ARCHITECTURE_COLUMNS``): which members (every
        member when they are alike, as training builds them), the part (a signal's branch,
        the dense layers, the linear path, the spline path, or a layer every member shares),
        its layers in order ("Conv1D 8 × 7": 8 filters spanning 7 samples each), and its
        trainable and fixed parameters.
    n_members : networks in the ensemble.
    n_parameters : every parameter of the saved network: each member's parts times the
        members, plus the shared layers.
    """

    kind: str
    sentence: str
    table: pd.DataFrame
    n_members: int
    n_parameters: int


def describe_architecture(model: MedinnModel) -> Architecture:
    """The architecture of a fitted model's network.

    Parameters
    ----------
    model : a fitted :class:`~medinn_core.model.MedinnModel` (``bundle.model`` or
        ``result.model``).

    Raises
    ------
    ModelError
        If the model is not fitted, or its network lacks the layers medinn names (a network
        not built by medinn).
    """
    network = getattr(model, "model_", None)
    if network is None:
        raise ModelError("The model is not trained yet; train it to see its architecture.")
    layers = {layer.name: layer for layer in network.layers}
    spans = model.preprocessor_.signal_spans()
    n_inputs = model.n_inputs
    n_members = model.n_members
    if "member_0_output" not in layers:
        raise ModelError(
            "This network was not built by this version of medinn (no layer "
            "'member_0_output'); its architecture cannot be described. Train it again."
        )
    per_member = [_member_rows(layers, k, spans, n_inputs) for k in range(n_members)]
    rows = []
    if all(r == per_member[0] for r in per_member):
        who = "the only member" if n_members == 1 else f"each of {n_members}"
        rows += [(who, *r) for r in per_member[0]]
    else:  # never built so by medinn; shown member by member rather than hidden
        rows += [(f"member {k + 1}", *r) for k, rs in enumerate(per_member) for r in rs]
    if SPLINE_BASIS in layers:
        basis = layers[SPLINE_BASIS]
        rows.append(
            (
                "shared",
                "spline basis",
                f"{_units(basis)} hinges max(0, input − knot) at knots fixed in training",
                int(basis.count_params()),
            )
        )
    table = pd.DataFrame(rows, columns=list(ARCHITECTURE_COLUMNS))
    return Architecture(
        kind=network_kind(model.config, spans),
        sentence=describe_network(model.config, spans, n_inputs, n_members),
        table=table,
        n_members=n_members,
        n_parameters=int(network.count_params()),
    )


def _member_rows(
    layers: dict[str, Any], k: int, spans: tuple[tuple[str, int, int], ...], n_inputs: int
) -> list[tuple[str, str, int]]:
    """Member ``k``'s parts as ``(part, layers, parameters)``."""
    rows = []
    branch_features = 0
    for g, (name, start, stop) in enumerate(spans):
        prefix = f"member_{k}_signal_{g}"
        if f"{prefix}_conv_0" not in layers:
            continue  # an MLP on inputs that include a signal's samples
        steps, params, i = [], 0, 0
        while f"{prefix}_conv_{i}" in layers:
            conv = layers[f"{prefix}_conv_{i}"]
            config = conv.get_config()
            steps.append(
                f"Conv1D {config['filters']} × {_first(config['kernel_size'])} "
                f"({config['activation']})"
            )
            params += conv.count_params()
            if f"{prefix}_pool_{i}" in layers:
                pool = layers[f"{prefix}_pool_{i}"].get_config()
                steps.append(f"average pool {_first(pool['pool_size'])}")
            last = config["filters"]
            i += 1
        steps.append("mean over the trace")
        branch_features += last
        rows.append((f"signal '{name}' ({stop - start} samples)", " → ".join(steps), int(params)))
    n_tabular = spans[0][1] if spans and branch_features else n_inputs
    into = f"{n_tabular} inputs"
    if branch_features:
        into = f"{n_tabular} tabular inputs + {branch_features} signal features"
    steps, params, i = [into], 0, 0
    while f"member_{k}_hidden_{i}" in layers:
        hidden = layers[f"member_{k}_hidden_{i}"]
        steps.append(f"Dense {_units(hidden)} ({hidden.get_config()['activation']})")
        params += hidden.count_params()
        i += 1
    output = layers[f"member_{k}_output"]
    steps.append(f"output {_units(output)}")
    params += output.count_params()
    rows.append(("dense layers", " → ".join(steps), int(params)))
    if f"member_{k}_linear" in layers:
        linear = layers[f"member_{k}_linear"]
        rows.append(
            (
                "linear path",
                f"every one of the {n_inputs} inputs straight to the output",
                int(linear.count_params()),
            )
        )
    if f"member_{k}_spline" in layers:
        spline = layers[f"member_{k}_spline"]
        rows.append(
            (
                "spline path",
                "a weight per hinge of the shared spline basis, to the output",
                int(spline.count_params()),
            )
        )
    return rows


def _units(layer: Any) -> int:
    return int(layer.get_config()["units"])


def _first(value: Any) -> int:
    """A Keras size given as an int or a one-element tuple or list."""
    return int(value[0] if isinstance(value, list | tuple) else value)


# -- which network ------------------------------------------------------------------------------
#: What each value of :attr:`medinn_core.config.TrainConfig.network` builds, in words.
NETWORK_LABELS = MappingProxyType(
    {
        "auto": "Automatic",
        "mlp": "Dense network (MLP)",
        "cnn": "Convolutional network (CNN)",
    }
)

_NOUNS = {"cnn": "convolutional network", "mlp": "dense network"}


@dataclass(frozen=True)
class NetworkChoices:
    """The networks a schema can train and what "auto" picks.

    Attributes
    ----------
    options : the values of ``TrainConfig.network`` that can train on the schema ("cnn" only
        when it has a signal group).
    auto : what ``"auto"`` builds for it: ``"cnn"`` or ``"mlp"``.
    reason : why, in a sentence; without a signal group, also why the CNN is not offered.
    """

    options: tuple[str, ...]
    auto: str
    reason: str

    def label(self, option: str) -> str:
        """How ``option`` reads in a list of choices ("Automatic: the convolutional network
        for this data")."""
        if option == "auto":
            return f"Automatic: the {_NOUNS[self.auto]} for this data"
        return NETWORK_LABELS[option]


def network_choices(schema: Schema) -> NetworkChoices:
    """The networks ``schema`` can train, as :func:`medinn_core.network.uses_cnn` decides:
    the CNN needs a signal group, and "auto" builds it whenever there is one."""
    if schema.signals:
        names = ", ".join(f"'{g.name}' ({g.length} samples)" for g in schema.signals)
        return NetworkChoices(
            ("auto", "mlp", "cnn"),
            "cnn",
            f"Automatic builds the convolutional network because the data has a signal "
            f"({names}): a 1-D convolutional branch reads each trace, so a shape is "
            "recognised wherever it lies along it, and dense layers read the other columns.",
        )
    return NetworkChoices(
        ("auto", "mlp"),
        "mlp",
        "Automatic builds the dense network: the data has no signal group. The convolutional "
        f"network is not offered: it needs a signal ({MIN_SIGNAL_LENGTH} or more numeric "
        "columns that are one trace's samples, such as ecg_000 ... ecg_127), read as one "
        "signal on the Data page.",
    )
