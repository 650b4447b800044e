"""Which columns the target picker suggests first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medinn_core.schema import infer_schema, likely_targets


def test_outcome_names_then_binary_columns_then_the_last_column():
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "patient_id": np.arange(n),
            "age": rng.integers(20, 90, n),
            "sex": rng.choice(["f", "m"], n),
            "Diagnosis": rng.choice(["a", "b", "c"], n),
            "bmi": rng.normal(27, 4, n),
            "smoker": rng.choice([0, 1], n),
            "hba1c": rng.normal(6, 1, n),
        }
    )
    order = likely_targets(frame, infer_schema(frame))
    assert order == ("Diagnosis", "sex", "smoker", "hba1c", "age", "bmi", "patient_id")


def test_names_match_as_whole_words():
    frame = pd.DataFrame(
        {
            "classy_score": np.arange(30.0),
            "x": np.arange(30.0) * 2,
            "DEATH_EVENT": [0, 1, 1] * 10,
            "last": np.arange(30.0) % 7,
        }
    )
    order = likely_targets(frame, infer_schema(frame))
    assert order[:2] == ("DEATH_EVENT", "last")
    assert order[2:] == ("classy_score", "x")  # "class" inside a word names no outcome


def test_every_column_is_listed_once_and_the_chosen_target_is_not_pushed_down():
    frame = pd.DataFrame({"record_id": ["r1", "r2", "r3", "r4"], "y": [1.0, 2.0, 3.5, 4.0]})
    schema = infer_schema(frame)
    assert likely_targets(frame, schema) == ("y", "record_id")
    assert likely_targets(frame.iloc[:, :0], schema) == ()
