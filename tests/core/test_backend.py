"""TensorFlow's start-up lines stay out of the command line's output."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import ROOT, SAMPLES


def test_cli_stderr_holds_medinn_lines_only(saved_binary, tmp_path):
    out = tmp_path / "scores.csv"
    done = subprocess.run(
        [sys.executable, "-m", "medinn_core", "predict", str(saved_binary),
         str(SAMPLES / "new_patients.csv"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    assert "absl" not in done.stderr and "oneDNN" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Scored 200 patients")
