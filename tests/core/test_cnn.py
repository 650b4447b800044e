"""The convolutional network for signal groups: the graph, training, exact explanations, the
bundle and the CLI."""

import json
import shutil

import numpy as np
import pytest

from medinn_core.config import TrainConfig
from medinn_core.errors import BundleError, ConfigError
from medinn_core.explain import (
    dense_stack_from_model,
    explain_bundle,
    explain_encoded,
)
from medinn_core.io import export_bundle_zip, load_bundle, save_bundle
from medinn_core.io._registry import Registry
from medinn_core.network import BACKGROUND_SIZES
from medinn_core.schema import infer_schema
from medinn_core.security import SigningPolicy
from medinn_core.synthetic import make_heartbeat_cohort
from medinn_core.train import train_model

CONFIG = TrainConfig(epochs=4, folds=3, hidden_units=(16, 8), seed=0)


@pytest.fixture(scope="module")
def heartbeat():
    df, risk = make_heartbeat_cohort(400, samples=48, seed=3)
    df.loc[[1, 2], "ecg_010"] = np.nan  # a gap inside two traces
    return df, risk


@pytest.fixture(scope="module")
def cnn_result(heartbeat):
    df, _ = heartbeat
    schema = infer_schema(df, "event", id_column="patient_id")
    return train_model(df, schema, CONFIG)


@pytest.fixture(scope="module")
def saved_cnn(cnn_result, tmp_path_factory):
    return save_bundle(cnn_result, tmp_path_factory.mktemp("cnn") / "bundle", "heartbeat")


def test_auto_builds_a_conv_branch_per_member(cnn_result):
    model = cnn_result.model
    names = {layer.name for layer in model.model_.layers}
    assert model.n_members == 3
    for k in range(3):
        assert {f"member_{k}_signal_0_conv_0", f"member_{k}_signal_0_mean"} <= names
    kinds = {type(layer).__name__ for layer in model.model_.layers}
    assert "Lambda" not in kinds and "MaxPooling1D" not in kinds
    assert len(cnn_result.background) == BACKGROUND_SIZES["cnn"]
    assert set(cnn_result.baselines) >= {"logistic_regression", "gradient_boosting"}


def test_mlp_on_request_and_cnn_without_a_signal_is_refused(heartbeat):
    df, _ = heartbeat
    schema = infer_schema(df, "event", id_column="patient_id")
    mlp = train_model(df, schema, TrainConfig(epochs=1, folds=3, network="mlp"))
    assert not any("conv" in layer.name for layer in mlp.model.model_.layers)
    flat = schema.without_signal("ecg")
    with pytest.raises(ConfigError, match="needs a signal group"):
        train_model(df, flat, TrainConfig(epochs=1, folds=3, network="cnn"))


@pytest.mark.parametrize("space", ["probability", "logit"])
def test_deeplift_is_exact_and_equals_shap(cnn_result, heartbeat, space):
    model = cnn_result.model
    x = model.transform(heartbeat[0].head(12))
    bg = cnn_result.background
    ours = explain_encoded(model.model_, x, bg, method="deeplift", space=space)
    shap = explain_encoded(model.model_, x, bg, method="deep", space=space)
    assert ours.method == "deeplift"
    assert ours.additivity_error <= 1e-6
    scale = max(1.0, float(np.abs(ours.values).max()))
    np.testing.assert_allclose(ours.values, shap.values, atol=2e-5 * scale)
    stack = dense_stack_from_model(model.model_)
    np.testing.assert_allclose(
        stack.forward(x, space=space)[:, 0], ours.outputs.reshape(-1), atol=1e-5
    )


def test_explanations_per_sample_and_the_signal_as_one_feature(saved_cnn, heartbeat):
    from medinn_core.signals import group_total

    bundle = load_bundle(saved_cnn)
    df = heartbeat[0].head(20)
    explanation = explain_bundle(bundle, df)
    columns = list(explanation.contributions.columns)
    assert "ecg_000" in columns and "ecg_047" in columns
    assert explanation.additivity_error <= 1e-6
    summed = group_total(explanation.contributions, bundle.model.schema.signals)
    assert "ecg" in summed.columns and "ecg_000" not in summed.columns
    np.testing.assert_allclose(
        summed.sum(axis=1), explanation.contributions.sum(axis=1), atol=1e-12
    )


def test_bundle_reloads_exports_imports_and_refuses_tampering(
    saved_cnn, cnn_result, heartbeat, tmp_path
):
    df = heartbeat[0]
    bundle = load_bundle(saved_cnn)
    assert np.array_equal(bundle.model.predict_proba(df), cnn_result.model.predict_proba(df))
    meta = json.loads((saved_cnn / "metadata.json").read_text())
    assert meta["architecture"].startswith("Convolutional network")
    assert "'ecg' (48 samples)" in meta["architecture"]
    registry = Registry(tmp_path / "models", policy=SigningPolicy(allow_unsigned=True))
    registry.import_zip(export_bundle_zip(saved_cnn), "imported")
    again = registry.load("imported")
    assert np.array_equal(again.model.predict_proba(df), bundle.model.predict_proba(df))
    copy = tmp_path / "tampered"
    shutil.copytree(saved_cnn, copy)
    raw = bytearray((copy / "model.keras").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (copy / "model.keras").write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="model.keras does not match its checksum"):
        load_bundle(copy)


def test_scoring_compiled_in_batches_gives_the_networks_numbers(cnn_result, heartbeat):
    from medinn_core.model import CNN_SCORING_ROWS
    from medinn_core.network import member_network

    model = cnn_result.model
    df = heartbeat[0]
    x = np.tile(model.transform(df), (CNN_SCORING_ROWS // len(df) + 2, 1))  # several batches
    assert len(x) > CNN_SCORING_ROWS
    eager = np.asarray(model.model_([x], training=False), dtype=np.float64)
    np.testing.assert_allclose(model.raw_output(x), eager, atol=1e-6)
    out, members = model.output_and_members(x)
    np.testing.assert_allclose(out, eager, atol=1e-6)
    logits = np.asarray(member_network(model.model_)([x], training=False), dtype=np.float64)
    np.testing.assert_allclose(members, 1 / (1 + np.exp(-logits)), atol=1e-6)
    # fixed-shape batches: a row scores the same to the bit alone or among others
    alone = model.raw_output(x[5:6], fixed_shape=True)
    assert np.array_equal(alone, model.raw_output(x, fixed_shape=True)[5:6])


@pytest.mark.parametrize(("channels_in", "channels_out", "taps"), [(1, 8, 7), (8, 8, 7), (8, 4, 5)])
def test_the_transposed_convolution_is_the_convolutions_transpose(channels_in, channels_out, taps):
    """<conv(h), g> == <h, conv_transpose(g)> on either of the two ways it is computed."""
    from medinn_core.explain._conv import _conv, _conv_transpose

    rng = np.random.default_rng(taps)
    h = rng.normal(size=(6, 32, channels_in))
    g = rng.normal(size=(6, 32, channels_out))
    kernel = rng.normal(size=(taps, channels_in, channels_out))
    left = float(np.sum(_conv(h, kernel) * g))
    right = float(np.sum(h * _conv_transpose(g, kernel)))
    assert abs(left - right) <= 1e-9 * max(1.0, abs(left))
