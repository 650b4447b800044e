"""The architecture table read from a trained network, and which networks a schema can train."""

import pytest

from medinn_core.architecture import (
    ARCHITECTURE_COLUMNS,
    describe_architecture,
    network_choices,
)
from medinn_core.config import TrainConfig
from medinn_core.errors import ModelError
from medinn_core.model import MedinnModel
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_heartbeat_cohort
from medinn_core.train import train_model

CNN = TrainConfig(
    epochs=2, folds=3, hidden_units=(8, 4), conv_filters=(4, 6), conv_kernel=5, seed=0
)


@pytest.fixture(scope="module")
def heartbeat():
    df, _ = make_heartbeat_cohort(300, samples=48, seed=7)
    return df, infer_schema(df, "event", id_column="patient_id")


@pytest.fixture(scope="module")
def cnn(heartbeat):
    df, schema = heartbeat
    return train_model(df, schema, CNN, baselines=False).model


def _parts(arch) -> dict[str, tuple[str, int]]:
    return {row.part: (row.layers, row.parameters) for row in arch.table.itertuples()}


def test_cnn_table_shows_each_members_conv_branch_dense_layers_and_paths(cnn):
    arch = describe_architecture(cnn)
    assert arch.kind == "cnn" and arch.n_members == 3
    assert list(arch.table.columns) == list(ARCHITECTURE_COLUMNS)
    assert (
        arch.sentence.startswith("Convolutional network") and "'ecg' (48 samples)" in arch.sentence
    )
    parts = _parts(arch)
    layers, params = parts["signal 'ecg' (48 samples)"]
    assert layers == (
        "Conv1D 4 × 5 (relu) → average pool 4 → Conv1D 6 × 5 (relu) → mean over the trace"
    )
    # one input channel into 4 filters, then 4 channels into 6, each with a bias per filter
    assert params == (5 * 1 * 4 + 4) + (5 * 4 * 6 + 6)
    n_tabular = cnn.preprocessor_.signal_spans()[0][1]
    dense, dense_params = parts["dense layers"]
    assert dense == (
        f"{n_tabular} tabular inputs + 6 signal features → Dense 8 (relu) → Dense 4 (relu) → "
        "output 1"
    )
    assert dense_params == ((n_tabular + 6) * 8 + 8) + (8 * 4 + 4) + (4 * 1 + 1)
    assert parts["linear path"][1] == cnn.n_inputs  # one weight per input, no bias
    assert set(arch.table["members"]) <= {"each of 3", "shared"}


def test_the_parts_add_up_to_every_parameter_of_the_network(cnn):
    arch = describe_architecture(cnn)
    each = arch.table.loc[arch.table["members"] == "each of 3", "parameters"].sum()
    shared = arch.table.loc[arch.table["members"] == "shared", "parameters"].sum()
    assert each * 3 + shared == arch.n_parameters == cnn.model_.count_params()


def test_mlp_on_signal_columns_has_no_conv_branch(heartbeat):
    df, schema = heartbeat
    config = TrainConfig(epochs=1, folds=3, hidden_units=(8,), network="mlp")
    model = train_model(df, schema, config, baselines=False).model
    arch = describe_architecture(model)
    assert arch.kind == "mlp" and arch.sentence.startswith("Multilayer perceptron")
    parts = _parts(arch)
    assert not any(p.startswith("signal") for p in parts)
    assert parts["dense layers"][0] == f"{model.n_inputs} inputs → Dense 8 (relu) → output 1"
    each = arch.table.loc[arch.table["members"] != "shared", "parameters"].sum()
    shared = arch.table.loc[arch.table["members"] == "shared", "parameters"].sum()
    assert each * 3 + shared == model.model_.count_params()


def test_an_unfitted_model_is_refused(heartbeat):
    with pytest.raises(ModelError, match="not trained"):
        describe_architecture(MedinnModel(heartbeat[1], CNN))


def test_the_cnn_is_offered_only_with_a_signal(heartbeat):
    _, schema = heartbeat
    with_signal = network_choices(schema)
    assert with_signal.options == ("auto", "mlp", "cnn") and with_signal.auto == "cnn"
    assert "'ecg' (48 samples)" in with_signal.reason
    assert with_signal.label("auto") == "Automatic: the convolutional network for this data"
    flat = network_choices(schema.without_signal("ecg"))
    assert flat.options == ("auto", "mlp") and flat.auto == "mlp"
    assert "not offered" in flat.reason and "16 or more" in flat.reason
    assert flat.label("auto") == "Automatic: the dense network for this data"
