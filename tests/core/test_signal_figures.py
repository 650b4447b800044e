"""Signal figures and the helpers pages call: traces, saliency, mean |contribution|."""

import numpy as np
import pandas as pd
import pytest

from medinn_core.errors import DataError, SchemaError
from medinn_core.figures import (
    signal_importance_figure,
    signal_saliency_figure,
    signal_traces_figure,
)
from medinn_core.signals import SignalGroup, mean_abs_along_trace, signal_contributions

GROUP = SignalGroup("ecg", ("ecg_0", "ecg_1", "ecg_2"))


def test_contributions_along_the_trace():
    contributions = pd.DataFrame(
        {"age": [1.0, 2.0], "ecg_2": [0.3, -0.1], "ecg_0": [-0.5, 0.5], "ecg_1": [0.0, 0.2]}
    )
    per_sample = signal_contributions(contributions, GROUP)
    assert list(per_sample.columns) == ["ecg_0", "ecg_1", "ecg_2"]
    np.testing.assert_allclose(mean_abs_along_trace(contributions, GROUP), [0.5, 0.1, 0.2])
    with pytest.raises(SchemaError, match="'ecg_2' of signal 'ecg'"):
        signal_contributions(contributions.drop(columns="ecg_2"), GROUP)


def test_saliency_colours_each_sample_by_its_contribution_on_a_symmetric_scale():
    fig = signal_saliency_figure([0.1, 0.9, 0.2], [0.02, -0.3, 0.1], "lead <b>II</b>")
    markers = fig.data[1].marker
    np.testing.assert_allclose(markers.color, [0.02, -0.3, 0.1])
    assert markers.cmin == -0.3 and markers.cmax == 0.3
    assert "<b>" not in fig.layout.title.text
    with pytest.raises(DataError, match="3 samples but 2 contributions"):
        signal_saliency_figure([0.1, 0.9, 0.2], [0.1, 0.2], "ecg")


def test_traces_and_importance_figures():
    traces = pd.DataFrame(np.arange(6.0).reshape(2, 3), columns=GROUP.columns)
    fig = signal_traces_figure(traces, "ecg", labels=["P1", "P2"])
    assert [t.name for t in fig.data] == ["P1", "P2"]
    np.testing.assert_allclose(fig.data[1].y, [3, 4, 5])
    mean_abs = pd.Series([0.1, 0.4, 0.2])
    fig = signal_importance_figure(mean_abs, "ecg")
    np.testing.assert_allclose(fig.data[0].y, [0.1, 0.4, 0.2])
