"""Which class of a binary target is the event (the risk medinn predicts), and how to choose it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from medinn_core.cli import main
from medinn_core.errors import SchemaError
from medinn_core.schema import Task, infer_schema, reads_as_absence, target_classes


@pytest.mark.parametrize(
    ("labels", "counts", "event"),
    [
        (("ckd", "notckd"), (250, 150), "ckd"),  # the rarer label reads as an absence
        (("notckd", "ckd"), (100, 300), "ckd"),
        (("dead", "alive"), (80, 20), "dead"),
        (("died", "survived"), (70, 30), "died"),
        (("abnormal", "normal"), (70, 30), "abnormal"),
        (("Presence", "Absence"), (40, 60), "Presence"),
        (("diabetic", "non-diabetic"), (80, 20), "diabetic"),
        (("stroke", "no stroke"), (95, 5), "stroke"),
        (("malignant", "benign"), (10, 90), "malignant"),
        (("M", "B"), (40, 60), "M"),  # no word either way: the rarer
        (("1", "0"), (90, 10), "1"),  # a recognised event label
    ],
)
def test_a_label_that_reads_as_an_absence_is_never_the_default_event(labels, counts, event):
    target = pd.Series([labels[0]] * counts[0] + [labels[1]] * counts[1])
    assert target_classes(target, "outcome", Task.BINARY)[1] == event


@pytest.mark.parametrize("label", ["notckd", "no", "No", "non-smoker", "normal", "healthy",
                                   "negative", "absent", "alive", "survived", "none"])  # fmt: skip
def test_absence_words(label):
    assert reads_as_absence(label)


@pytest.mark.parametrize("label", ["ckd", "nodule", "stroke", "1", "present", "M", "dead"])
def test_words_that_are_not_absences(label):
    assert not reads_as_absence(label)


def test_the_user_chooses_the_event_and_every_name_follows():
    frame = pd.DataFrame({"hb": np.arange(40.0), "classification": ["ckd", "notckd"] * 20})
    schema = infer_schema(frame, "classification")
    assert schema.positive_class == "ckd" and schema.event_text == "risk of ckd"
    flipped = schema.with_event("notckd")
    assert flipped.classes == ("ckd", "notckd") and flipped.event_text == "risk of notckd"
    with pytest.raises(SchemaError, match="'maybe' is not a value of the target 'classification'"):
        schema.with_event("maybe")
    coded = infer_schema(frame.assign(event=[0, 1] * 20), "event")
    assert coded.event_text == "risk of event = 1"
    regression = infer_schema(frame, "hb")
    with pytest.raises(SchemaError, match="binary target only"):
        regression.with_event("1")


def test_cli_train_takes_the_event(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 200
    marker = rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "marker": marker,
            "age": rng.integers(30, 80, n),
            "classification": np.where(marker + rng.normal(0, 1, n) > 0.8, "ckd", "notckd"),
        }
    )
    data = tmp_path / "ckd.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "model"
    args = ["train", str(data), "--target", "classification", "--epochs", "2"]
    assert main([*args, "--out", str(out)]) == 0
    assert "the risk of ckd" in capsys.readouterr().err
    assert json.loads((out / "metadata.json").read_text())["positive_class"] == "ckd"
    flipped = tmp_path / "flipped"
    assert main([*args, "--event", "notckd", "--out", str(flipped)]) == 0
    assert json.loads((flipped / "metadata.json").read_text())["positive_class"] == "notckd"
    assert main([*args, "--event", "kidney", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "'kidney' is not a value" in err[-1]
    assert not (tmp_path / "bad").exists()
