import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from medinn_core.errors import BundleError
from medinn_core.io import (
    BUNDLE_FILES,
    Registry,
    export_bundle_zip,
    load_bundle,
    safe_name,
    verify_bundle,
)
from medinn_core.security import SigningPolicy

from ...conftest import ROOT


def test_saved_bundle_predicts_identically(saved_binary, binary_result, cardiology_df):
    bundle = load_bundle(saved_binary)
    expected = binary_result.model.predict_proba(cardiology_df)
    assert np.array_equal(bundle.model.predict_proba(cardiology_df), expected)
    assert bundle.model.threshold_ == binary_result.model.threshold_
    meta = bundle.metadata
    assert meta["task"] == "binary" and meta["target"] == "mace_1y"
    assert meta["metrics"]["auroc"] == binary_result.metrics["auroc"]
    assert meta["libraries"]["keras"] != "not installed"
    assert meta["data_fingerprint"].startswith("sha256:")
    assert sorted(p.name for p in saved_binary.iterdir()) == sorted(
        [*BUNDLE_FILES, "manifest.json"]
    )


def test_loaded_in_a_new_process_predicts_identically(
    saved_binary, binary_result, cardiology_df, tmp_path
):
    data = tmp_path / "patients.csv"
    cardiology_df.head(50).to_csv(data, index=False)
    script = (
        "import sys, numpy as np; from medinn_core.io import load_bundle;"
        "from medinn_core.io import read_table;"
        f"p = load_bundle({str(saved_binary)!r}).model.predict_proba(read_table({str(data)!r}));"
        "np.save(sys.argv[1], p)"
    )
    out = tmp_path / "p.npy"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, cwd=ROOT)
    from medinn_core.io import read_table

    expected = binary_result.model.predict_proba(read_table(data))
    assert np.array_equal(np.load(out), expected)


def test_zip_export_import_round_trip(saved_binary, cardiology_df, tmp_path):
    # Unsigned zips, as on a single-user laptop; tests/core/test_signing.py covers signing.
    registry = Registry(tmp_path / "models", policy=SigningPolicy(allow_unsigned=True))
    data = export_bundle_zip(saved_binary)
    name = registry.import_zip(data, "imported")
    assert name == "imported" and registry.names() == ["imported"]
    again = registry.load("imported")
    original = load_bundle(saved_binary)
    assert np.array_equal(
        again.model.predict_proba(cardiology_df), original.model.predict_proba(cardiology_df)
    )
    assert registry.export_zip("imported") == export_bundle_zip(registry.path("imported"))


def test_one_changed_byte_is_refused(saved_binary, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(saved_binary, copy)
    path = copy / "model.keras"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="model.keras does not match its checksum"):
        load_bundle(copy)


def test_extra_files_and_missing_manifest_are_refused(saved_binary, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(saved_binary, copy)
    (copy / "evil.pkl").write_bytes(b"\x80\x04.")
    with pytest.raises(BundleError, match="unexpected files: 'evil.pkl'"):
        load_bundle(copy)
    (copy / "evil.pkl").unlink()
    (copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nothing")


def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"../escape.json": "{}"}, "entries a medinn bundle never has: '../escape.json'"),
        ({"/etc/passwd": "x"}, "never has"),
        ({"model.pkl": "x"}, "'model.pkl'"),
        ({"manifest.json": "0" * 3_000_000}, "unpack to"),
    ],
)
def test_hostile_zips_are_refused(entries, message, tmp_path):
    from medinn_core.io import extract_bundle_zip

    with pytest.raises(BundleError, match=message):
        extract_bundle_zip(_zip(entries), tmp_path / "out", max_bytes=1_000_000)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_not_a_zip_is_refused(tmp_path):
    with pytest.raises(BundleError, match="not a zip"):
        Registry(tmp_path).import_zip(b"hello")
    assert Registry(tmp_path).names() == []


def test_registry_lifecycle(binary_result, tmp_path):
    registry = Registry(tmp_path / "models")
    registry.save(binary_result, "Cardio v1", "first")
    assert registry.names() == ["Cardio v1"]
    assert registry.list()[0]["note"] == "first"
    with pytest.raises(BundleError, match="already exists"):
        registry.save(binary_result, "Cardio v1")
    registry.rename("Cardio v1", "cardio-final")
    assert registry.names() == ["cardio-final"]
    verify_bundle(registry.path("cardio-final"))
    assert registry.load("cardio-final").metadata["name"] == "cardio-final"
    registry.delete("cardio-final")
    assert registry.names() == []
    with pytest.raises(BundleError, match="No model called 'x'"):
        registry.load("x")
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]


def test_names_cannot_escape_the_registry(tmp_path):
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("My model (v2)") == "My model -v2"
    registry = Registry(tmp_path)
    assert registry.path("../x").parent == tmp_path.resolve()
    with pytest.raises(BundleError, match="no usable characters"):
        safe_name("../..")


def test_bundle_holds_no_patient_rows(saved_binary, cardiology_df):
    text = " ".join((saved_binary / f).read_text() for f in BUNDLE_FILES if f.endswith(".json"))
    ids = cardiology_df["patient_id"].tolist()
    assert not [i for i in ids if i in text]
    background = json.loads((saved_binary / "background.json").read_text())
    assert len(background) <= 100


def test_a_bundle_whose_network_runs_code_is_refused(saved_binary, tmp_path):
    """A crafted bundle with a valid manifest but a Lambda layer: Keras safe_mode refuses it."""
    import shutil

    import keras

    from medinn_core.io import write_manifest

    copy = tmp_path / "crafted"
    shutil.copytree(saved_binary, copy)
    n_inputs = len(load_bundle(saved_binary).model.preprocessor_.feature_names_)
    inputs = keras.Input((n_inputs,))
    outputs = keras.layers.Lambda(lambda x: x[:, :1] * 0 + 0.5)(inputs)
    keras.Model(inputs, outputs).save(copy / "model.keras")
    write_manifest(copy)  # the attacker also rewrites the checksums
    with pytest.raises(BundleError, match="cannot be loaded.*(Lambda|safe_mode)"):
        load_bundle(copy)
