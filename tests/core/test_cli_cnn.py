"""The CLI with signal columns: --network, the architecture it reports, explain per sample,
and one-line errors."""

import pandas as pd
import pytest

from medinn_core.cli import main
from medinn_core.synthetic import make_heartbeat_cohort


@pytest.fixture(scope="module")
def heartbeat_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_cnn")
    path = folder / "heartbeat.csv"
    make_heartbeat_cohort(200, samples=48, seed=5)[0].to_csv(path, index=False)
    return path


def test_train_cnn_names_the_architecture_and_explains_each_sample(heartbeat_csv, tmp_path, capsys):
    out = tmp_path / "model"
    args = ["train", str(heartbeat_csv), "--target", "event", "--id-column", "patient_id"]
    assert main([*args, "--epochs", "2", "--network", "cnn", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Signal 'ecg': 48 samples" in err
    assert "Architecture: Convolutional network" in err
    explained = tmp_path / "why.csv"
    assert main(["explain", str(out), str(heartbeat_csv), "--out", str(explained)]) == 0
    columns = pd.read_csv(explained, nrows=1).columns
    assert any("ecg_000" in c for c in columns)


def test_cnn_without_a_signal_is_one_error_line(heartbeat_csv, tmp_path, capsys):
    flat = tmp_path / "flat.csv"
    table = pd.read_csv(heartbeat_csv)
    table.loc[:, ~table.columns.str.startswith("ecg")].to_csv(flat, index=False)
    args = ["train", str(flat), "--target", "event", "--id-column", "patient_id"]
    assert main([*args, "--network", "cnn", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "needs a signal group" in err[-1]
    assert not (tmp_path / "m").exists()
