"""No patient's identifiers or rows in a saved bundle, its exported zip, or the logs.

The training file has an identifier, names, dates of birth, free-text notes and two
measurements with distinctive values (four decimals, unlike anything a network stores). A
bundle may hold summaries: medians and the 0.5th/99.5th percentiles of each measurement (a
median can equal one patient's value) and the category levels, which are the schema, not
rows. It must not hold an identifier, a name, a date of birth, a note, or any two of one
patient's distinctive values together.
"""

from __future__ import annotations

import io
import json
import logging
import re
import struct
import zipfile

import numpy as np
import pandas as pd
import pytest

from medinn_core.config import TrainConfig
from medinn_core.io import BUNDLE_FILES, MANIFEST, export_bundle_zip, load_table, save_bundle
from medinn_core.schema import infer_schema
from medinn_core.synthetic import make_cardiology_cohort
from medinn_core.validate import validate

SECRET = b"privacy-test-secret-0123456789-abcdefgh"
PRIVATE = ("mrn", "patient_name", "date_of_birth", "referral_note")
DISTINCTIVE = ("lab_marker", "troponin_ng_l")
FIRST = ["Zelda", "Quentin", "Marisol", "Oswin", "Perpetua", "Ignatius", "Rosalind", "Barnaby"]
LAST = ["Marchbanks", "Quillfeather", "Vexmoor", "Ashdown", "Pennyworth", "Lockhart"]


def patients(n: int = 320) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    df = make_cardiology_cohort(n, seed=5).drop(columns=["patient_id"])
    df.insert(0, "mrn", [f"MRN-ZQ{700000 + i}" for i in range(n)])
    df.insert(1, "patient_name", [f"{FIRST[i % 8]} {LAST[i // 8 % 6]}-{i // 48}" for i in range(n)])
    df["date_of_birth"] = [
        f"19{40 + i % 50:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)
    ]
    df["referral_note"] = [f"seen by dr {LAST[i % 6]} ward {i} re chest pain" for i in range(n)]
    df["lab_marker"] = np.round(1234.5 + rng.normal(0, 50, n), 4)
    df["troponin_ng_l"] = np.round(3000.25 + rng.normal(0, 40, n), 4)
    return df


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A bundle and its signed zip, made from a CSV on disk, with every log line kept."""
    from medinn_core.train import train_model

    folder = tmp_path_factory.mktemp("privacy")
    df = patients()
    df.to_csv(folder / "patients.csv", index=False)
    handler = _Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        frame, _ = load_table(folder / "patients.csv")
        schema = infer_schema(frame, "mace_1y", id_column="mrn")
        validate(frame, schema)
        result = train_model(frame, schema, TrainConfig(hidden_units=(8,), epochs=3, seed=0))
        bundle = save_bundle(result, folder / "bundle", "privacy")
        zipped = export_bundle_zip(bundle, SECRET)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return df, frame, schema, result, bundle, zipped, handler.lines


def _unzip(data: bytes) -> dict[str, bytes]:
    """Every entry of a zip, with a nested zip (model.keras) opened too."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            content = zf.read(name)
            out[name] = content
            if content[:4] == b"PK\x03\x04":
                out |= {f"{name}/{k}": v for k, v in _unzip(content).items()}
    return out


def _bundle_files(bundle, zipped) -> dict[str, bytes]:
    files = {name: (bundle / name).read_bytes() for name in (*BUNDLE_FILES, MANIFEST)}
    files |= {f"model.keras/{k}": v for k, v in _unzip(files["model.keras"]).items()}
    files |= {f"zip:{k}": v for k, v in _unzip(zipped).items()}
    return files


def _number_found(value: float, text: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(repr(float(value)))}(?!\d)", text) is not None


def test_private_columns_are_not_inputs(trained):
    _, _, schema, *_ = trained
    assert schema.id_column == "mrn"
    assert not set(PRIVATE) & set(schema.feature_names)
    assert set(DISTINCTIVE) <= set(schema.feature_names)


def test_no_identifier_name_birth_date_or_note_in_the_bundle_or_zip(trained):
    df, _, _, _, bundle, zipped, _ = trained
    files = _bundle_files(bundle, zipped)
    assert "zip:signature.json" in files and "model.keras/model.weights.h5" in files
    for column in PRIVATE:
        for value in df[column].astype(str):
            needle = value.encode()
            hits = [name for name, content in files.items() if needle in content]
            assert not hits, f"{column} value {value!r} found in {hits}"
    for word in ("Quillfeather", "Marchbanks", "MRN-ZQ"):  # not even a part of one
        assert not [name for name, content in files.items() if word.encode() in content]


def test_no_patient_row_in_the_bundle(trained):
    df, _, _, _, bundle, zipped, _ = trained
    files = _bundle_files(bundle, zipped)
    text = " ".join(c.decode("utf-8", "replace") for n, c in files.items() if n.endswith(".json"))
    binary = b"".join(files.values())
    median = trained[3].model.preprocessor_.imputed_value("lab_marker")
    assert _number_found(median, text)  # the search finds the summaries that are there
    found = {c: {v for v in df[c] if _number_found(v, text)} for c in DISTINCTIVE}
    for column, values in found.items():
        assert len(values) <= 3, f"{len(values)} raw values of {column} in the bundle: {values}"
    together = df[df["lab_marker"].isin(found["lab_marker"])]
    assert not together["troponin_ng_l"].isin(found["troponin_ng_l"]).any()
    for column in DISTINCTIVE:  # nor as the network's binary numbers
        for value in df[column]:
            for packed in (struct.pack("<f", value), struct.pack("<d", value)):
                assert packed not in binary, f"{column} value {value} stored as a binary number"


def test_background_is_a_summary_not_rows(trained):
    _, frame, _, result, bundle, *_ = trained
    background = np.asarray(json.loads((bundle / "background.json").read_text()))
    encoded = result.model.transform(frame.loc[result.split.train])
    assert len(background) <= len(encoded) // 3  # each centroid averages three rows or more
    nearest = np.min(np.abs(background[:, None, :] - encoded[None, :, :]).sum(axis=2), axis=1)
    assert nearest.min() > 1e-4  # no centroid is a patient's encoded row


def test_logs_carry_no_cell_values(trained, tmp_path, caplog):
    """Reading, checking, training and saving log file and column names and counts, never
    a cell; not at DEBUG either, and not for a messy file whose problems are reported."""
    df, *_, lines = trained
    messy = df.head(60).astype({c: object for c in DISTINCTIVE})
    messy.loc[3, "lab_marker"] = "?"
    messy.loc[4, "troponin_ng_l"] = "high-ish 9981.1234"
    messy.to_csv(tmp_path / "messy.csv", index=False)
    with caplog.at_level(logging.DEBUG):
        frame, _ = load_table(tmp_path / "messy.csv")
        report = validate(frame, infer_schema(frame, "mace_1y", id_column="mrn"))
    assert report.warnings  # the problems are reported to the user, in the report...
    logged = "\n".join([*lines, caplog.text])  # ...but not in the logs
    assert "messy.csv" in logged and "patients.csv" in logged
    assert "9981.1234" not in logged
    for column in (*PRIVATE, *DISTINCTIVE):
        for value in df[column].astype(str):
            assert value not in logged, f"{column} value {value!r} in the logs"
