"""The bad-input corpus through ``python -m medinn_core``: exit code 2, one ``error:`` line that
names the file or column, no traceback, nothing half-written, and no TensorFlow for a file that
is refused before training."""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from ..conftest import ROOT
from ..data.bad.make_bad import BY_NAME, CASES, FORMULAS

REFUSED = [c for c in CASES if c.stage in ("read", "train") and c.outcome == "error"]
# Refused before training: importing either of these would fail the run (see no_tensorflow).
POISONED = ("tensorflow", "keras")


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """A folder that shadows TensorFlow and Keras with packages that raise when imported."""
    folder = tmp_path_factory.mktemp("no_tensorflow")
    for name in POISONED:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(
            f"raise RuntimeError('{name} was imported before the input was checked')\n"
        )
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """MEDINN_HOME of every run: the registry and the audit log stay in a temporary folder."""
    return tmp_path_factory.mktemp("medinn_home")


def medinn(args: list[str], home, pythonpath=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MEDINN_HOME": str(home)}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "medinn_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def refused_runs(bad_files, no_tensorflow, home, tmp_path_factory):
    """``train`` on every file refused before training, two at a time: name to (run, out)."""
    root = tmp_path_factory.mktemp("cli_bad")

    def run(case):
        out = root / case.name / "model"
        out.parent.mkdir()
        args = ["train", str(bad_files[case.name]), "--target", case.target, "--out", str(out)]
        return case.name, (medinn(args, home, no_tensorflow), out)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, REFUSED))


def assert_one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert sum(line.startswith("error:") for line in lines) == 1, proc.stderr
    return lines[-1]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in REFUSED])
def test_train_on_a_bad_file_exits_2_with_one_line(case, refused_runs, home):
    proc, out = refused_runs[case.name]
    line = assert_one_error_line(proc)
    assert re.search(case.match, line), line
    assert case.name in line  # the file is named, even for a problem with a column
    assert list(out.parent.iterdir()) == []  # no bundle, no .partial-* folder
    assert not list((home / "models").glob("*"))  # nothing in the registry either


def test_predict_with_columns_the_model_lacks(bad_files, saved_binary, home, tmp_path):
    case = BY_NAME["model_mismatch.csv"]
    out = tmp_path / "scores.csv"
    proc = medinn(
        ["predict", str(saved_binary), str(bad_files[case.name]), "--out", str(out)], home
    )
    line = assert_one_error_line(proc)
    assert re.search(case.match, line), line
    assert not out.exists()


def test_predict_escapes_formulas_in_its_output(bad_files, saved_binary, home, tmp_path):
    out = tmp_path / "scores.csv"
    proc = medinn(
        ["predict", str(saved_binary), str(bad_files["formulas.csv"]), "--out", str(out)], home
    )
    assert proc.returncode == 0, proc.stderr
    scores = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert scores["patient_id"].head(3).tolist() == ["'" + f for f in FORMULAS]
    assert not scores["patient_id"].iloc[6:].str.startswith(("=", "+", "-", "@")).any()
