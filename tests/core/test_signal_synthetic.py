"""The synthetic heartbeat cohort: a signal whose shape, not its place, drives the outcome."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medinn_core.errors import ConfigError
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_heartbeat_cohort


def test_same_seed_same_cohort_and_a_signal_group():
    a, risk_a = make_heartbeat_cohort(300, seed=4)
    b, risk_b = make_heartbeat_cohort(300, seed=4)
    assert a.equals(b) and np.array_equal(risk_a, risk_b)
    schema = infer_schema(a, "event", id_column="patient_id")
    (group,) = schema.signals
    assert group.name == "ecg" and group.length == 128
    assert set(schema.feature_names) - set(group.columns) == {"age", "sex", "systolic_bp"}


def test_the_outcome_follows_the_true_risk_but_not_the_trace_sum():
    df, risk = make_heartbeat_cohort(6000, seed=1)
    assert 0.3 < df["event"].mean() < 0.6
    assert roc_auc_score(df["event"], risk) > 0.8
    trace_sum = df.filter(like="ecg_").sum(axis=1)
    assert abs(np.corrcoef(trace_sum, risk)[0, 1]) < 0.05


def test_bad_arguments():
    with pytest.raises(ConfigError, match="samples must be an integer >= 48"):
        make_heartbeat_cohort(10, samples=20)
