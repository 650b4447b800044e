"""The attack: plant distinctive values wherever a training warning can quote one or a schema
can name one, train with the CLI, and search every byte of the bundle folder, its signed zip
(with the network's own zip opened), the HTML report and the audit log for them.

What is planted: an identifier repeated over several rows, text in a numeric column, an
out-of-range number, an infinity written as text, a category one patient has (over many
rows), a category two patients have, duplicated rows and a missing target. The user still
reads every value at upload time (the validation messages quote them); the bundle keeps
counts and column names only.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from medinn_core.cli import main
from medinn_core.io import BUNDLE_FILES, MANIFEST, export_bundle_zip, load_bundle, read_table
from medinn_core.predict import score_frame
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_cardiology_cohort
from medinn_core.validate import validate

SECRET = b"bundle-privacy-secret-0123456789-abcdef"
PLANTED = (
    "ZQXPID00004",  # an identifier repeated over rows
    "SECRETAGE77",  # text in a numeric column
    "987.654",  # an out-of-range number
    "1e309",  # an infinity written as text
    "ZQXRARELEVEL",  # a category of one patient, in six rows
    "ZQXTWOPATIENTS",  # a category of two patients
)
ROW_NUMBER = re.compile(r"\brows? \(?\d|\bin rows\b|\be\.g\.")


def _planted(n: int = 400) -> pd.DataFrame:
    df = make_cardiology_cohort(n, seed=31)
    df = df.astype({"age": "str", "hba1c": "str", "mace_1y": "float64"})
    df.loc[3:8, "patient_id"] = "ZQXPID00004"  # one patient, six rows
    df.loc[3:8, "chest_pain"] = "ZQXRARELEVEL"
    df.loc[20:21, "smoking"] = "ZQXTWOPATIENTS"
    df.loc[11, "age"] = "SECRETAGE77"
    df.loc[12, "age"] = "987.654"
    df.loc[13, "hba1c"] = "1e309"
    df.loc[14, "hdl"] = 0.0  # impossible zero: quoted by row number
    df.loc[15, "mace_1y"] = np.nan
    return pd.concat([df, df.iloc[[30, 31]]], ignore_index=True)  # duplicated rows


def _unzip(data: bytes, prefix: str) -> dict[str, bytes]:
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            content = zf.read(name)
            out[f"{prefix}{name}"] = content
            if content[:4] == b"PK\x03\x04":
                out |= _unzip(content, f"{prefix}{name}/")
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("bundle_privacy")
    audit = folder / "audit.jsonl"
    monkeypatch_module.setenv("MEDINN_AUDIT_LOG", str(audit))
    train_csv, holdout_csv = folder / "train.csv", folder / "holdout.csv"
    _planted().to_csv(train_csv, index=False)
    make_cardiology_cohort(200, seed=32).to_csv(holdout_csv, index=False)
    bundle, report = folder / "model", folder / "report.html"
    common = ["--target", "mace_1y", "--id-column", "patient_id", "--epochs", "3"]
    assert main(["train", str(train_csv), *common, "--out", str(bundle)]) == 0
    args = [str(bundle), str(holdout_csv), "--out", str(report), "--bootstrap", "20"]
    assert main(["report", *args]) == 0
    files = {name: (bundle / name).read_bytes() for name in (*BUNDLE_FILES, MANIFEST)}
    files |= _unzip(files["model.keras"], "model.keras/")
    files |= _unzip(export_bundle_zip(bundle, SECRET), "zip:")
    files["report.html"] = report.read_bytes()
    files["audit.jsonl"] = audit.read_bytes()
    return train_csv, bundle, files


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_user_reads_the_values_at_upload(made):
    train_csv, *_ = made
    frame = read_table(train_csv)
    report = validate(frame, infer_schema(frame, "mace_1y", id_column="patient_id"))
    shown = " ".join(w.message for w in report.warnings)
    for value in ("ZQXPID00004", "SECRETAGE77", "987.654"):
        assert value in shown
    assert {"repeated_id", "not_numeric", "out_of_range", "infinite", "impossible_zero"} <= (
        report.codes()
    )
    assert {"duplicate_rows", "target_missing"} <= report.codes()
    stored = " ".join(w.stored for w in report.warnings)
    assert not any(value in stored for value in PLANTED) and not ROW_NUMBER.search(stored)


def test_no_planted_value_in_any_byte(made):
    _, _, files = made
    assert "zip:signature.json" in files and "model.keras/model.weights.h5" in files
    for name, content in files.items():
        for value in PLANTED:
            assert value.encode() not in content, f"{value!r} found in {name}"
            assert value.encode("utf-16-le") not in content, f"{value!r} found in {name}"


def test_the_warnings_are_kept_as_counts(made):
    _, bundle, _ = made
    warnings = json.loads((bundle / "metadata.json").read_text())["warnings"]
    assert len(warnings) >= 6
    assert any("'age'" in w and "not numbers" in w for w in warnings)
    assert not [w for w in warnings if ROW_NUMBER.search(w)]


def test_patients_of_a_folded_level_are_scored_as_unseen(made):
    train_csv, bundle_folder, _ = made
    bundle = load_bundle(bundle_folder)
    assert "ZQXRARELEVEL" not in bundle.schema.column("chest_pain").categories
    assert "(other)" in bundle.model.training_categories("chest_pain")
    rows = read_table(train_csv).iloc[3:9]
    rare = score_frame(bundle.model, rows)
    unseen = score_frame(bundle.model, rows.assign(chest_pain="never-seen"))
    np.testing.assert_allclose(rare["risk"], unseen["risk"], rtol=1e-6)
