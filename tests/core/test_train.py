from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from medinn_core.config import TrainConfig
from medinn_core.errors import ConfigError, DataError, ModelError, SchemaError
from medinn_core.model import MedinnModel
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_cardiology_cohort
from medinn_core.train import split_rows, train_model

from ..conftest import FAST


def test_split_is_stratified_and_seeded(cardiology_df):
    schema = infer_schema(cardiology_df, "mace_1y")
    a = split_rows(cardiology_df, schema, TrainConfig(seed=1))
    b = split_rows(cardiology_df, schema, TrainConfig(seed=1))
    for part in ("train", "validation", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    c = split_rows(cardiology_df, schema, TrainConfig(seed=2))
    assert not np.array_equal(a.test, c.test)
    sizes = a.sizes()
    assert sum(sizes.values()) == len(cardiology_df)
    assert sizes["test"] == pytest.approx(0.15 * len(cardiology_df), abs=2)
    prevalence = cardiology_df["mace_1y"].mean()
    for part in (a.train, a.validation, a.test):
        assert cardiology_df.loc[part, "mace_1y"].mean() == pytest.approx(prevalence, abs=0.02)


def test_split_never_puts_a_patient_in_two_splits():
    df = make_cardiology_cohort(300, seed=2)
    repeated = df.sample(150, random_state=0).assign(age=lambda d: d["age"] + 1)
    df = pd.concat([df, repeated], ignore_index=True)
    schema = infer_schema(df, "mace_1y")
    split = split_rows(df, schema, TrainConfig(seed=0))
    assert split.grouped
    ids = [set(df.loc[part, "patient_id"]) for part in (split.train, split.validation, split.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(split.sizes().values()) == len(df)


def test_validation_auroc_is_exact_and_can_drive_early_stopping(cardiology_df):
    """The epoch's val_auroc is scikit-learn's AUROC of the validation patients, and with
    monitor='val_auroc' the weights kept are those of the epoch with the best one."""
    from sklearn.metrics import roc_auc_score

    schema = infer_schema(cardiology_df, "mace_1y")
    config = replace(
        FAST, monitor="val_auroc", epochs=5, patience=5, scheme="split", split_members=1
    )
    result = train_model(cardiology_df, schema, config, baselines=False)
    history = result.history
    assert len(history["val_auroc"]) == len(history["loss"]) == 5
    model = result.model
    validation = cardiology_df.loc[result.split.validation]
    kept = roc_auc_score(model.encode_target(validation), model.predict_proba(validation)[:, 1])
    best = int(np.argmax(history["val_auroc"]))
    assert model.best_epoch_ == best + 1
    assert kept == pytest.approx(history["val_auroc"][best], abs=1e-6)


def test_binary_end_to_end(binary_result, cardiology_df):
    model = binary_result.model
    proba = model.predict_proba(cardiology_df)
    assert proba.shape == (len(cardiology_df), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    assert np.allclose(proba.sum(axis=1), 1)
    assert 0.5 < binary_result.metrics["auroc"] <= 1
    assert set(binary_result.baselines) == {"logistic_regression", "gradient_boosting"}
    assert 0 < model.threshold_ < 1
    labels = model.predict(cardiology_df)
    assert set(labels) <= {"0", "1"}
    assert np.array_equal(labels == "1", proba[:, 1] >= model.threshold_)
    assert len(binary_result.history["loss"]) <= FAST.epochs
    assert binary_result.background.shape[1] == len(model.preprocessor_.feature_names_)


def test_predictions_ignore_column_order_and_extra_columns(binary_result, cardiology_df):
    model = binary_result.model
    base = model.predict_proba(cardiology_df)
    shuffled = cardiology_df[cardiology_df.columns[::-1]].assign(unused="x")
    assert np.array_equal(model.predict_proba(shuffled), base)


def test_missing_column_is_refused_by_name(binary_result, cardiology_df):
    with pytest.raises(SchemaError, match="'systolic_bp'"):
        binary_result.model.predict_proba(cardiology_df.drop(columns="systolic_bp"))


def test_unseen_categories_and_missing_values_still_score(binary_result, cardiology_df):
    new = cardiology_df.head(5).copy()
    new["smoking"] = "vaping"
    new["hdl"] = np.nan
    proba = binary_result.model.predict_proba(new)
    assert np.all(np.isfinite(proba))


def test_multiclass_end_to_end(multiclass_result):
    from medinn_core.synthetic import make_toxicity_cohort

    df = make_toxicity_cohort(50, seed=99)
    model = multiclass_result.model
    proba = model.predict_proba(df)
    assert proba.shape == (50, 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(model.predict(df)) <= set(model.classes_)
    assert {"accuracy", "macro_auroc"} <= set(multiclass_result.metrics)


def test_regression_end_to_end(regression_result):
    from medinn_core.synthetic import make_drug_response

    df = make_drug_response(50, seed=99)
    model = regression_result.model
    pred = model.predict(df)
    assert pred.shape == (50,)
    # the output is in the target's own unit (mg/week), not standardised
    assert 5 < np.median(pred) < 100
    assert regression_result.metrics["r2"] > 0
    with pytest.raises(ModelError, match="regression model"):
        model.predict_proba(df)


def test_same_seed_same_model(cardiology_df):
    schema = infer_schema(cardiology_df, "mace_1y")
    cfg = replace(FAST, epochs=3)
    a = train_model(cardiology_df, schema, cfg, baselines=False)
    b = train_model(cardiology_df, schema, cfg, baselines=False)
    assert np.allclose(
        a.model.predict_proba(cardiology_df), b.model.predict_proba(cardiology_df), atol=1e-6
    )


def test_user_stop_keeps_best_weights(cardiology_df):
    schema = infer_schema(cardiology_df, "mace_1y")
    seen = []

    def stop_after_two(epoch, logs):
        seen.append(logs["val_loss"])
        return epoch < 1

    result = train_model(
        cardiology_df, schema, replace(FAST, epochs=50), on_epoch=stop_after_two, baselines=False
    )
    assert len(seen) == 2 and result.model.stopped_by_user_
    assert result.model.best_epoch_ == int(np.argmin(seen)) + 1


def test_validation_errors_stop_training():
    df = pd.DataFrame({"x": np.arange(40.0), "y": [0] * 36 + [1] * 4})
    with pytest.raises(DataError, match="'y'.*'1' has 4"):
        train_model(df, infer_schema(df, "y"), FAST)


def test_unfitted_model_refuses(cardiology_df):
    model = MedinnModel(infer_schema(cardiology_df, "mace_1y"))
    with pytest.raises(ModelError, match="not trained yet"):
        model.predict_proba(cardiology_df)


def test_config_validation_names_the_setting():
    with pytest.raises(ConfigError, match="activation.*'gelu'"):
        TrainConfig(activation="gelu")
    with pytest.raises(ConfigError, match="dropout"):
        TrainConfig(dropout=1.5)
    assert TrainConfig.from_dict(TrainConfig(hidden_units=(8,)).to_dict()) == TrainConfig(
        hidden_units=(8,)
    )
