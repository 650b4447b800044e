"""Figures read as a clinician needs: the learning rate on a log axis, the calibration note
clear of the axis labels, and the outcomes named by the event, not "event" / "no event"."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from medinn_core import evaluation as plots
from medinn_core.evaluation import evaluate_binary
from medinn_core.figures import history_figure, outcome_names
from medinn_core.schema import infer_schema


def test_the_learning_rate_is_drawn_on_a_log_axis():
    history = {
        "loss": [0.7, 0.6, 0.55, 0.5],
        "val_loss": [0.72, 0.64, 0.6, 0.6],
        "learning_rate": [1e-3, 1e-3, 5e-4, 2.5e-4],
    }
    fig = history_figure(history)
    rate = next(t for t in fig.data if t.meta == "learning_rate")
    axis = fig.layout["yaxis" + rate.yaxis.removeprefix("y")]
    assert axis.type == "log" and axis.title.text == "Learning rate (log scale)"
    assert fig.layout.yaxis.type != "log"  # the loss stays linear


def test_the_calibration_note_sits_below_the_axis_title():
    rng = np.random.default_rng(1)
    lp = -1 + 1.5 * rng.normal(size=2000)
    ev = evaluate_binary(rng.binomial(1, expit(lp)), expit(2 * lp), n_boot=0)
    for distribution in (ev.risk_distribution, None):
        fig = plots.calibration_figure(ev.calibration, distribution)
        note = fig.layout.annotations[-1]
        assert "Slope" in note.text and "Intercept" in note.text
        # anchored in pixels below the plot's bottom edge, under tick labels and axis title
        # (about 45 px): a share of the plot's height overlapped them in a short figure
        assert note.yref == "paper" and note.y == 0 and note.yanchor == "top"
        assert note.yshift <= -50
        lines = note.text.count("<br>") + 1
        assert lines >= 2  # the interpretation is wrapped, not cut at the figure's edge
        assert max(len(line) for line in note.text.split("<br>")) <= 110
        assert fig.layout.margin.b >= -note.yshift + 15 * lines


def test_outcomes_are_named_by_the_event():
    kidney = pd.DataFrame({"hb": np.arange(20.0), "classification": ["ckd", "notckd"] * 10})
    schema = infer_schema(kidney, "classification")
    assert outcome_names(schema) == ("notckd", "ckd")
    assert outcome_names(schema.with_event("notckd")) == ("ckd", "notckd")
    coded = infer_schema(kidney.assign(mace=[0, 1] * 10), "mace")
    assert outcome_names(coded) == ("mace = 0", "mace = 1")
    counts = pd.DataFrame(
        [[5, 1], [2, 7]], index=["no event", "event"], columns=["no event", "event"]
    )
    heatmap = plots.confusion_matrix_figure(counts, outcomes=outcome_names(schema)).data[0]
    assert list(heatmap.x) == ["notckd", "ckd"] and list(heatmap.y) == ["notckd", "ckd"]
    assert np.asarray(heatmap.z)[1].tolist() == [2 / 9, 7 / 9]  # counts stay in their cells
