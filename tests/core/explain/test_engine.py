"""The explanation engine: medinn's DeepLIFT against shap, additivity, grouping, safety."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

from medinn_core.config import TrainConfig
from medinn_core.errors import ConfigError, DataError, ModelError
from medinn_core.explain import (
    EncodedExplanation,
    background_weights,
    build_explanation,
    deeplift,
    dense_stack_from_model,
    explain_encoded,
    group_contributions,
    summarize_background,
    tensorflow_exclusive,
)
from medinn_core.explain import _engine as explain
from medinn_core.model import build_network

from ...conftest import ROOT

N_INPUTS = 7
# name: (task, n_outputs, config); every layer type and head that build_network makes
ARCHITECTURES = {
    "relu-1-sigmoid": ("binary", 1, TrainConfig(hidden_units=(16,), dropout=0.0)),
    "elu-2-sigmoid": ("binary", 1, TrainConfig(hidden_units=(16, 8), activation="elu", dropout=0)),
    "tanh-2-dropout-sigmoid": (
        "binary",
        1,
        TrainConfig(hidden_units=(16, 8), activation="tanh", dropout=0.3),
    ),
    "relu-2-softmax": ("multiclass", 3, TrainConfig(hidden_units=(16, 8), dropout=0.2)),
    "tanh-1-softmax": (
        "multiclass",
        4,
        TrainConfig(hidden_units=(12,), activation="tanh", dropout=0.1),
    ),
    "relu-2-linear": ("regression", 1, TrainConfig(hidden_units=(12, 6), dropout=0.1)),
}
NON_SOFTMAX = [name for name, (task, _, _) in ARCHITECTURES.items() if task != "multiclass"]


def _data(seed: int = 0, n: int = 400) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, N_INPUTS)).astype(np.float32)


def _target(task: str, n_outputs: int, X: np.ndarray) -> np.ndarray:
    signal = 1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 3]
    if task == "binary":
        return (signal > 0).astype(np.float32)
    if task == "multiclass":
        return np.digitize(signal, np.quantile(signal, np.linspace(0, 1, n_outputs + 1)[1:-1]))
    return (3.0 * signal + 10.0).astype(np.float32)


def _train(task: str, n_outputs: int, config: TrainConfig, X: np.ndarray, y: np.ndarray):
    import keras

    model = build_network(X.shape[1], task, n_outputs, config)
    loss = {
        "binary": "binary_crossentropy",
        "multiclass": "sparse_categorical_crossentropy",
        "regression": "mse",
    }[task]
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    with tensorflow_exclusive():
        model.fit(X, y, epochs=4, batch_size=32, verbose=0)
    return model


def _float64_copy(model, task: str, n_outputs: int, config: TrainConfig):
    """The same network computing in float64, to compare algorithms without float32 rounding."""
    import keras

    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        copy = build_network(N_INPUTS, task, n_outputs, config)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    copy.set_weights(model.get_weights())
    return copy


def _shap_deep(model, X: np.ndarray, background: np.ndarray) -> np.ndarray:
    """shap.DeepExplainer's values as ``(n, inputs, outputs)``: the reference."""
    import shap

    dtype = np.dtype(model.inputs[0].dtype)  # shap computes x - b in the arrays' own dtype
    X, background = X.astype(dtype), background.astype(dtype)
    with tensorflow_exclusive(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = shap.DeepExplainer(model, [background]).shap_values([X])
    return np.asarray(values, dtype=np.float64)


@pytest.fixture(scope="session")
def trained():
    """``trained(name)`` -> (model, X): each architecture is trained once per session."""
    cache = {}

    def get(name: str):
        if name not in cache:
            task, n_outputs, config = ARCHITECTURES[name]
            X = _data()
            cache[name] = (_train(task, n_outputs, config, X, _target(task, n_outputs, X)), X)
        return cache[name]

    return get


def _split(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(patients, background): 60 patients and 40 background rows that do not overlap."""
    return X[100:160], X[:40]


def test_importing_explain_does_not_import_tensorflow_or_shap():
    code = "import sys, medinn_core.explain; print(','.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
    )
    loaded = set(out.stdout.strip().split(","))
    assert not {"tensorflow", "keras", "shap", "sklearn", "streamlit"} & loaded


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_deeplift_computes_what_shap_deep_explainer_computes(trained, name):
    # shap run on a float64 copy of the network isolates the algorithm from float32 rounding:
    # same rules (softmax included, with softmax_rule="shap"), same numbers. shap's softmax
    # rule multiplies by (c_x - c_b) / (z_x - z_b), up to ~1e3 here, which magnifies the
    # rounding of TensorFlow's graph; medinn's float64 result equals a long-double one to 1e-14.
    model, X = trained(name)
    task, n_outputs, config = ARCHITECTURES[name]
    x, background = _split(X)
    reference = _shap_deep(_float64_copy(model, task, n_outputs, config), x, background)
    values, _, _ = deeplift(dense_stack_from_model(model), x, background, softmax_rule="shap")
    assert reference.shape == values.shape == (len(x), N_INPUTS, n_outputs)
    tolerance = 1e-6 if task == "multiclass" else 1e-9
    np.testing.assert_allclose(values, reference, rtol=0, atol=tolerance)


@pytest.mark.parametrize("name", NON_SOFTMAX)
def test_deeplift_matches_shap_on_the_float32_network(trained, name):
    # shap computes secant slopes (f(x) - f(b)) / (x - b) in float32: where x and b are close
    # (|x - b| ~ 1e-5) its slope carries ~1e-3 relative rounding error, so a handful of values
    # drift past 1e-5; medinn computes them in float64.
    model, X = trained(name)
    x, background = _split(X)
    reference = _shap_deep(model, x, background)
    values, _, _ = deeplift(dense_stack_from_model(model), x, background)
    _assert_close_to_float32_shap(values, reference)


def _assert_close_to_float32_shap(values: np.ndarray, reference: np.ndarray) -> None:
    """Within 1e-5 (relative to the values' scale) but for a few float32 cancellations."""
    scale = max(1.0, float(np.abs(reference).max()))
    error = np.abs(values - reference) / scale
    assert np.mean(error <= 1e-5) >= 0.99, np.quantile(error, [0.5, 0.99, 1])
    assert error.max() <= 5e-4


def test_blocks_and_threads_do_not_change_the_values(trained):
    from threadpoolctl import threadpool_info

    model, X = trained("tanh-1-softmax")
    x, background = _split(X)
    stack = dense_stack_from_model(model)
    threads_before = [info["num_threads"] for info in threadpool_info()]
    one = deeplift(stack, x, background)
    split = deeplift(stack, x, background, block_elements=1000, n_jobs=2)
    for a, b in zip(one, split, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)  # BLAS may sum in another order
    assert [info["num_threads"] for info in threadpool_info()] == threads_before


def test_shap_softmax_rule_is_ill_conditioned_and_stable_rule_is_not(trained):
    # shap maps the multiplier of the centred logit c = z - max(z) back onto z by
    # (c_x - c_b) / (z_x - z_b): huge when a logit barely moves while the maximum does.
    model, X = trained("relu-2-softmax")
    x, background = X[100:400], X[:40]
    stack = dense_stack_from_model(model)
    for rule in ("shap", "stable"):
        values, base, out = deeplift(stack, x, background, softmax_rule=rule)
        assert np.abs(base + values.sum(axis=1) - out).max() < 1e-8
    stable, _, _ = deeplift(stack, x, background, softmax_rule="stable")
    # a probability moves by at most 1: single contributions of the stable rule stay near that
    assert np.abs(stable).max() < 2.0


def test_stable_softmax_rule_agrees_with_expected_gradients(trained):
    model, X = trained("relu-2-softmax")
    x, background = _split(X)
    stable = explain_encoded(model, x, background)
    gradient = explain_encoded(model, x, background, method="gradient", gradient_samples=400)
    assert stable.method == "deeplift" and gradient.method == "gradient"
    assert np.corrcoef(stable.values.ravel(), gradient.values.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("name", ["elu-2-sigmoid", "relu-2-softmax", "relu-2-linear"])
def test_contributions_add_up_for_every_patient(trained, name):
    model, X = trained(name)
    task, n_outputs, _ = ARCHITECTURES[name]
    x, background = _split(X)
    result = explain_encoded(model, x, background)
    assert result.method == "deeplift" and result.note == ""
    keras_output = np.asarray(model([x], training=False), dtype=np.float64)
    expected_output = keras_output[:, 0] if n_outputs == 1 else keras_output
    np.testing.assert_allclose(result.outputs, expected_output, atol=1e-5)
    background_mean = np.asarray(model([background], training=False)).mean(axis=0)
    np.testing.assert_allclose(result.base_values, background_mean.squeeze(), atol=1e-5)
    total = result.base_values + result.values.sum(axis=1)
    assert np.abs(total - result.outputs).max() < 1e-4
    assert result.additivity_error < 1e-8
    if task == "multiclass":
        assert result.values.shape == (len(x), N_INPUTS, n_outputs)
        np.testing.assert_allclose(result.outputs.sum(axis=1), 1.0, atol=1e-9)
        # the contributions to all class probabilities cancel: probabilities still sum to 1
        np.testing.assert_allclose(result.values.sum(axis=2), 0.0, atol=1e-9)


def test_logit_space_explains_log_odds_and_matches_shap(trained):
    model, X = trained("elu-2-sigmoid")
    x, background = _split(X)
    logit = explain_encoded(model, x, background, space="logit")
    probability = explain_encoded(model, x, background)
    p = probability.outputs
    np.testing.assert_allclose(logit.outputs, np.log(p / (1 - p)), atol=1e-6)
    assert logit.additivity_error < 1e-8
    reference = explain_encoded(model, x, background, method="deep", space="logit")
    assert reference.method == "deep"
    _assert_close_to_float32_shap(logit.values, reference.values)


def test_one_class_of_a_multiclass_model_in_logit_space(trained):
    model, X = trained("tanh-1-softmax")
    x, background = _split(X)
    one = explain_encoded(model, x, background, space="logit", class_index=2)
    every = explain_encoded(model, x, background, space="logit")
    assert one.values.shape == (len(x), N_INPUTS) and one.output_indices == (2,)
    np.testing.assert_allclose(one.values, every.values[:, :, 2], atol=1e-12)
    assert one.additivity_error < 1e-8
    reference = explain_encoded(model, x, background, method="deep", space="logit", class_index=2)
    _assert_close_to_float32_shap(one.values, reference.values)


def test_logit_space_is_refused_for_regression(trained):
    model, X = trained("relu-2-linear")
    x, background = _split(X)
    with pytest.raises(ConfigError, match="space='logit' needs a sigmoid or softmax"):
        explain_encoded(model, x, background, space="logit")


def test_bad_inputs_are_refused_with_clear_messages(trained):
    model, X = trained("relu-1-sigmoid")
    x, background = _split(X)
    with pytest.raises(DataError, match="7 encoded columns, got shape"):
        explain_encoded(model, x[:, :5], background)
    holes = x.copy()
    holes[[3, 8], 1] = np.nan
    with pytest.raises(DataError, match="missing or infinite values in 2 rows, e.g. rows 3, 8"):
        explain_encoded(model, holes, background)
    with pytest.raises(ConfigError, match="method must be one of"):
        explain_encoded(model, x, background, method="kernel")
    with pytest.raises(ConfigError, match=r"class_index must lie in \[0, 0\]"):
        explain_encoded(model, x, background, class_index=1)
    with pytest.raises(DataError, match="background summary is empty"):
        explain_encoded(model, x, background[:0])
    with pytest.raises(DataError, match="no patients to explain"):
        explain_encoded(model, x[:0], background)


def test_other_layouts_go_to_shap_with_a_note():
    import keras

    X = _data(seed=5, n=200)
    inputs = keras.Input((N_INPUTS,))
    hidden = keras.layers.Dense(8, activation="softplus", name="soft")(inputs)
    model = keras.Model([inputs], keras.layers.Dense(1, activation="sigmoid")(hidden))
    with pytest.raises(ModelError, match="'soft' uses activation 'softplus'"):
        explain_encoded(model, X[:10], X[100:120], method="deeplift")
    result = explain_encoded(model, X[:10], X[100:120])
    assert result.method == "deep"
    assert "DeepLIFT cannot" in result.note and "softplus" in result.note
    assert result.additivity_error < 1e-4


def _tensorflow_state():
    from tensorflow.python.eager import execute
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    return execute.record_gradient, {name: dict(entry) for name, entry in registry.items()}


def _fit_fresh_model(seed: int = 1) -> None:
    X = _data(seed=seed, n=200)
    _train("binary", 1, TrainConfig(hidden_units=(8,), dropout=0.0), X, _target("binary", 1, X))


def test_a_deep_explainer_failing_midway_leaves_tensorflow_usable():
    import shap
    from tensorflow.python.eager import execute

    X = _data()
    model = _train("binary", 1, TrainConfig(hidden_units=(8,)), X, _target("binary", 1, X))
    before = _tensorflow_state()
    bad = np.full((2, N_INPUTS), "?", dtype=object)  # fails inside shap, after it patched TF
    with explain._shap_patches_undone():
        with pytest.raises(ValueError, match="could not convert string"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shap.DeepExplainer(model, [X[:20]]).shap_values([bad])
        # the hazard is real: shap left its recorder in place ...
        assert execute.record_gradient.__name__ == "custom_record_gradient"
    # ... and the guard put everything back
    assert _tensorflow_state() == before
    _fit_fresh_model()


def test_an_unsupported_activation_falls_back_to_gradients_and_training_still_works():
    import keras

    X = _data(seed=2, n=200)
    inputs = keras.Input((N_INPUTS,))
    hidden = keras.layers.Dense(8, activation="gelu")(inputs)  # DeepExplainer fails midway
    model = keras.Model([inputs], keras.layers.Dense(1, activation="sigmoid")(hidden))
    before = _tensorflow_state()
    with pytest.raises(ModelError, match="DeepExplainer failed .*shap_Erf"):
        explain_encoded(model, X[:5], X[100:120], method="deep")
    assert _tensorflow_state() == before
    result = explain_encoded(model, X[:5], X[100:120])
    assert result.method == "gradient"
    assert "DeepExplainer failed" in result.note and "approximately" in result.note
    assert result.values.shape == (5, N_INPUTS)
    assert _tensorflow_state() == before
    _fit_fresh_model()


def test_training_and_explaining_in_two_threads_both_succeed(trained):
    model, X = trained("relu-2-softmax")
    x, background = _split(X)
    start = threading.Barrier(2)
    errors, results = [], {}

    def train():
        try:
            start.wait()
            _fit_fresh_model(seed=3)
            results["train"] = True
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    def explain_with_shap():
        try:
            start.wait()
            results["explain"] = explain_encoded(model, x[:20], background, method="deep")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=train), threading.Thread(target=explain_with_shap)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert results["train"] and results["explain"].additivity_error < 1e-4


def test_grouping_sums_one_hot_and_indicator_columns_into_their_feature():
    values = np.array([[0.1, 0.2, -0.05, 0.3, 0.01], [-0.2, 0.0, 0.4, -0.1, 0.02]])
    feature_of = ["age", "smoking", "smoking", "cholesterol", "cholesterol"]
    grouped = group_contributions(values, feature_of, index=["p1", "p2"])
    assert list(grouped.columns) == ["age", "smoking", "cholesterol"]
    assert list(grouped.index) == ["p1", "p2"]
    np.testing.assert_allclose(grouped.to_numpy(), [[0.1, 0.15, 0.31], [-0.2, 0.4, -0.08]])
    np.testing.assert_allclose(grouped.sum(axis=1), values.sum(axis=1), atol=1e-15)
    with pytest.raises(ValueError, match="feature_of names 4 encoded columns"):
        group_contributions(values, feature_of[:4])
    with pytest.raises(ValueError, match="encoded columns 2 have no feature name"):
        group_contributions(values, ["age", "smoking", "", "cholesterol", "cholesterol"])


def test_grouped_values_sum_to_the_ungrouped_ones_on_a_model(trained):
    model, X = trained("relu-2-softmax")
    x, background = _split(X)
    encoded = explain_encoded(model, x, background)
    feature_of = ["a", "b", "b", "c", "a", "d", "d"]
    index = pd.Index([f"P{i:03d}" for i in range(len(x))], name="patient_id")
    raw = pd.DataFrame(x, index=index, columns=list("abcdefg"))
    result = build_explanation(encoded, feature_of, index, raw, class_index=1, class_name="mid")
    assert result.contributions.shape == (len(x), 4)
    assert result.contributions.index.equals(index)
    np.testing.assert_allclose(
        result.contributions.sum(axis=1), encoded.values[:, :, 1].sum(axis=1), atol=1e-12
    )
    assert result.base_value == pytest.approx(encoded.base_values[1])
    assert result.class_name == "mid" and result.method == "deeplift"
    assert result.additivity_error < 1e-8
    default = build_explanation(encoded, feature_of, index, raw)  # the last class
    np.testing.assert_allclose(default.output, encoded.outputs[:, 2])
    with pytest.raises(ValueError, match="output 5 was not explained"):
        build_explanation(encoded, feature_of, index, raw, class_index=5)


def test_importance_and_top_factors():
    contributions = pd.DataFrame(
        {"age": [0.30, -0.10], "smoking": [0.05, 0.20], "bp": [-0.20, 0.0], "bmi": [0.0, -0.5]},
        index=["p1", "p2"],
    )
    raw = pd.DataFrame(
        {"age": [67, 40], "smoking": ["current", "never"], "bp": [120, 150], "bmi": [22, 31]},
        index=["p1", "p2"],
    )
    result = build_explanation(
        EncodedExplanation(
            values=contributions.to_numpy(),
            base_values=np.asarray(0.2),
            outputs=0.2 + contributions.sum(axis=1).to_numpy(),
            method="deeplift",
            space="probability",
            output_indices=(0,),
        ),
        list(contributions.columns),
        contributions.index,
        raw,
    )
    importance = result.importance()
    assert list(importance.index) == ["bmi", "age", "smoking", "bp"]
    assert importance["bmi"] == pytest.approx(0.25)
    top = result.top_factors(0, n_up=3, n_down=2)
    assert list(top["feature"]) == ["age", "smoking", "bp"]
    assert list(top["direction"]) == ["raises", "raises", "lowers"]
    assert list(top["value"]) == [67, "current", 120]
    assert list(result.top_factors(1, n_up=1, n_down=1)["feature"]) == ["smoking", "bmi"]


def test_an_irrelevant_feature_gets_near_zero_importance_and_a_strong_one_ranks_first():
    # True risk model: logit = 2.5 * strong + 0.8 * weak + 1.2 * [smoking == current] - 0.8;
    # "noise" has no effect. smoking is one-hot (3 columns), cholesterol has a missing indicator.
    rng = np.random.default_rng(7)
    n = 1500
    strong, weak, noise, cholesterol = rng.normal(size=(4, n))
    smoking = rng.integers(0, 3, size=n)
    cholesterol_missing = (rng.random(n) < 0.2).astype(float)
    cholesterol = np.where(cholesterol_missing == 1, 0.0, cholesterol)
    logit = 2.5 * strong + 0.8 * weak + 1.2 * (smoking == 2) - 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    one_hot = np.eye(3)[smoking]
    X = np.column_stack([strong, weak, noise, one_hot, cholesterol, cholesterol_missing])
    X = X.astype(np.float32)
    feature_of = ["strong", "weak", "noise", *["smoking"] * 3, "cholesterol", "cholesterol"]
    config = TrainConfig(hidden_units=(16, 8), dropout=0.0, l2=1e-3)
    model = _train("binary", 1, config, X, y)
    background = summarize_background(X[:1000], k=50)
    encoded = explain_encoded(model, X[1000:], background)
    result = build_explanation(encoded, feature_of, range(1000, n), pd.DataFrame(X[1000:]))
    importance = result.importance()
    assert importance.index[0] == "strong"
    assert importance["noise"] < 0.1 * importance["strong"]
    assert importance["smoking"] > importance["noise"]


@pytest.mark.parametrize("name", ["relu-2-softmax", "elu-2-sigmoid", "relu-2-linear"])
def test_weighted_background_is_the_weighted_mean_of_single_references(name):
    """DeepLIFT adds up against each reference, so a weighted background gives the weighted
    mean of the per-reference contributions and base values, and still adds up."""
    task, n_outputs, config = ARCHITECTURES[name]
    X = _data(3)
    model = _train(task, n_outputs, config, X, _target(task, n_outputs, X))
    background, patients = X[:3], X[100:140]
    weights = np.array([0.6, 0.1, 0.3])
    weighted = explain_encoded(model, patients, background, background_weights=weights)
    single = [explain_encoded(model, patients, background[[b]]) for b in range(3)]
    expected = sum(w * e.values for w, e in zip(weights, single, strict=True))
    np.testing.assert_allclose(weighted.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        weighted.base_values,
        sum(w * e.base_values for w, e in zip(weights, single, strict=True)),
        rtol=0,
        atol=1e-12,
    )
    assert weighted.additivity_error <= 1e-6
    equal = explain_encoded(model, patients, background, background_weights=np.ones(3))
    plain = explain_encoded(model, patients, background)
    np.testing.assert_allclose(equal.values, plain.values, rtol=0, atol=1e-12)
    with pytest.raises(DataError, match="3 non-negative numbers"):
        explain_encoded(model, patients, background, background_weights=[1.0, -1.0, 1.0])
    with pytest.raises(DataError, match="got 2"):
        explain_encoded(model, patients, background, background_weights=[1.0, 1.0])


def test_background_weights_are_the_shares_of_the_nearest_rows():
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(0, 1, size=(900, 3)), rng.normal(8, 1, size=(100, 3))])
    background = summarize_background(X, k=10, seed=0)
    weights = background_weights(X, background)
    assert weights.shape == (10,) and abs(weights.sum() - 1) < 1e-5
    nearest = ((X[:, None, :] - background[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_allclose(weights, np.bincount(nearest, minlength=10) / len(X), atol=1e-6)
    far = background[:, 0] > 4  # the 10 % of rows around 8 get about 10 % of the weight
    assert 0.09 <= weights[far].sum() <= 0.11
    with pytest.raises(DataError, match="3 encoded columns, centroids 2"):
        background_weights(X, background[:, :2])


def test_background_summary_has_k_rows_and_no_patient_row():
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(500, 4))
    one_hot = np.eye(3)[rng.integers(0, 3, size=500)]
    X = np.column_stack([numeric, one_hot])
    X[400:] = X[0]  # 100 identical rows: their cluster's mean would be that row
    for n, k, expected in ((500, 50, 50), (130, 100, 43), (101, 100, 33)):
        summary = summarize_background(X[-n:], k=k, seed=1)
        assert summary.shape == (expected, X.shape[1])  # never more than a third of the rows
        distances = np.sqrt(((summary[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
        assert distances.min() > 1e-6
    np.testing.assert_array_equal(
        summarize_background(X, 50, seed=3), summarize_background(X, 50, 3)
    )
    small = summarize_background(X[:30], k=100)
    assert small.shape == (10, X.shape[1])
    assert np.sqrt(((small[:, None, :] - X[None, :30, :]) ** 2).sum(axis=2)).min() > 1e-6
    with pytest.raises(DataError, match="too few"):
        summarize_background(X[:5], k=100)
    with pytest.raises(DataError, match="all training rows are identical"):
        summarize_background(np.ones((200, 3)), k=10)
