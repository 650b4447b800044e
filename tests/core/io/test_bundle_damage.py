"""Damaged and forged bundles: each fault is the crafted file itself, and each must end in a
BundleError (one clear sentence), before the signature check for a damaged zip and at load for
a signed bundle whose parts do not fit together; never a zlib, zipfile or Keras traceback."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile

import numpy as np
import pytest

from medinn_core.config import TrainConfig
from medinn_core.errors import BundleError
from medinn_core.io import Registry, export_bundle_zip, load_bundle, verify_bundle, write_manifest
from medinn_core.io._registry import extract_bundle_zip
from medinn_core.security import SigningPolicy, manifest_hash

SECRET = b"bundle-damage-secret-0123456789-abcdefgh"
POLICY = SigningPolicy(SECRET)

# Offsets of fields in a local file header (PK\3\4) and a central directory record (PK\1\2).
LOCAL = {"flag": 6, "method": 8, "crc": 14, "size": 22}
CENTRAL = {"flag": 8, "method": 10, "crc": 16, "size": 24}
WIDTH = {"flag": "<H", "method": "<H", "crc": "<I", "size": "<I"}


@pytest.fixture(scope="module")
def signed_zip(saved_binary) -> bytes:
    return export_bundle_zip(saved_binary, SECRET)


def _patch(data: bytes, entry: str, field: str, value: int) -> bytes:
    """``data`` with ``field`` of ``entry`` set to ``value`` in both of the zip's headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        local = zf.getinfo(entry).header_offset
    struct.pack_into(WIDTH[field], out, local + LOCAL[field], value)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        (name_len,) = struct.unpack_from("<H", out, at + 28)
        if out[at + 46 : at + 46 + name_len] == entry.encode():
            struct.pack_into(WIDTH[field], out, at + CENTRAL[field], value)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def _corrupt_stream(data: bytes, entry: str) -> bytes:
    """Bytes in the middle of ``entry``'s deflate stream replaced: zlib fails on them."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(entry)
    (name_len, extra_len) = struct.unpack_from("<HH", out, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    out[start : start + 8] = b"\xff" * 8
    return bytes(out)


def _lying_zip(tmp_path) -> bytes:
    """A zip whose metadata.json holds 20 MB of zeros but whose headers say 100 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", b"0" * 20_000_000)
        zf.writestr("manifest.json", b"{}")
    return _patch(buffer.getvalue(), "metadata.json", "size", 100)


DAMAGE = {
    "zlib error in the deflate stream": (
        lambda z: _corrupt_stream(z, "metadata.json"),
        "damaged: 'metadata.json'",
    ),
    "unknown compression method": (
        lambda z: _patch(z, "schema.json", "method", 99),
        "'schema.json' uses compression method 99",
    ),
    "encrypted flag": (lambda z: _patch(z, "manifest.json", "flag", 1), "is encrypted"),
    "CRC error": (lambda z: _patch(z, "preprocess.json", "crc", 12345), "damaged"),
    "header understates the size": (
        lambda z: _patch(z, "model.keras", "size", 1000),
        "'model.keras' states 1,000 bytes unpacked",
    ),
}


@pytest.mark.parametrize("fault", sorted(DAMAGE))
def test_a_damaged_zip_is_refused_before_the_signature(fault, signed_zip, tmp_path):
    damage, message = DAMAGE[fault]
    with pytest.raises(BundleError, match=message):
        Registry(tmp_path / "models", POLICY).import_zip(damage(signed_zip))
    assert list((tmp_path / "models").iterdir()) == []  # nothing left behind


def test_a_header_that_lies_about_its_size_unpacks_no_more_than_it_states(tmp_path):
    with pytest.raises(BundleError, match="'metadata.json' states 100 bytes unpacked"):
        extract_bundle_zip(_lying_zip(tmp_path), tmp_path / "out")


def test_random_damage_never_escapes_as_another_error(signed_zip, tmp_path):
    """Any byte of the zip replaced, 300 times: imported, or refused with a BundleError."""
    rng = np.random.default_rng(17)
    registry, refused = Registry(tmp_path / "models", POLICY), 0
    for i in range(300):
        data = bytearray(signed_zip)
        at = rng.integers(len(data), size=3)
        data[at[0]] ^= 0xFF
        data[at[1]] = 0
        data[at[2]] ^= 0x01
        try:
            registry.import_zip(bytes(data), name=f"m{i}")
        except BundleError:
            refused += 1
    assert refused > 250  # the checksums and the signature catch nearly every change


def _forged(saved_binary, tmp_path, change) -> bytes:
    """The bundle with ``change(folder)`` applied, its manifest rewritten and signed: what
    someone who holds the key (or a buggy tool) could make."""
    folder = tmp_path / "forged"
    shutil.copytree(saved_binary, folder)
    change(folder)
    write_manifest(folder)
    return export_bundle_zip(folder, SECRET)


def _json(name, value):
    def change(folder):
        (folder / name).write_text(value if isinstance(value, str) else json.dumps(value))

    return change


def _edit(name, edit):
    def change(folder):
        data = json.loads((folder / name).read_text())
        edit(data)
        (folder / name).write_text(json.dumps(data))

    return change


def _network(n_extra_inputs: int, task: str, n_outputs: int):
    def change(folder):
        from medinn_core.model import build_network

        n_inputs = len(json.loads((folder / "preprocess.json").read_text())["encoded"])
        config = TrainConfig(hidden_units=(4,))
        build_network(n_inputs + n_extra_inputs, task, n_outputs, config).save(
            folder / "model.keras"
        )

    return change


FORGED = {
    "metadata is a list": (_json("metadata.json", []), "metadata.json is not an object"),
    "schema columns is a number": (_json("schema.json", {"columns": 3}), "cannot be loaded"),
    "background is not JSON": (_json("background.json", "[[1, 2], [3"), "cannot be loaded"),
    "JSON nested too deep": (_json("baseline.json", "[" * 100_000), "cannot be loaded"),
    "baseline is a list": (_json("baseline.json", {"linear": [1, 2]}), "no linear model"),
    "a zero scale": (
        _edit("preprocess.json", lambda d: d["numbers"]["age"].update(scale=0)),
        "scaling of 'age'",
    ),
    "an input of no column": (
        _edit("preprocess.json", lambda d: d["encoded"][0].update(source="nowhere")),
        "'nowhere', not a feature",
    ),
    "the network takes one input more": (_network(1, "binary", 1), "takes .* inputs"),
    "five outputs read as a binary risk": (_network(0, "multiclass", 5), "gives 5 outputs"),
}


@pytest.mark.parametrize("fault", sorted(FORGED))
def test_a_signed_bundle_whose_parts_do_not_fit_is_refused_at_load(fault, saved_binary, tmp_path):
    change, message = FORGED[fault]
    data = _forged(saved_binary, tmp_path, change)
    with pytest.raises(BundleError, match=message):
        Registry(tmp_path / "models", POLICY).import_zip(data)
    assert list((tmp_path / "models").iterdir()) == []


def test_the_untouched_bundle_still_loads(saved_binary, tmp_path):
    data = _forged(saved_binary, tmp_path, lambda folder: None)
    name = Registry(tmp_path / "models", POLICY).import_zip(data)
    assert load_bundle(tmp_path / "models" / name).model.n_inputs > 0


def test_whitespace_added_to_a_signed_manifest_keeps_the_bundle_hash(
    saved_binary, signed_zip, tmp_path
):
    """The signature ignores whitespace; the bundle hash in the audit log must too."""
    padded = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(signed_zip)) as src, zipfile.ZipFile(padded, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "manifest.json":
                content = b"\n\n   " + json.dumps(json.loads(content), indent=7).encode() + b"  \n"
            dst.writestr(info.filename, content)
    name = Registry(tmp_path / "models", POLICY).import_zip(padded.getvalue())
    imported = tmp_path / "models" / name
    assert (imported / "manifest.json").read_bytes() != (
        saved_binary / "manifest.json"
    ).read_bytes()
    assert verify_bundle(imported) == verify_bundle(saved_binary)
    assert manifest_hash(imported) == manifest_hash(saved_binary) == verify_bundle(saved_binary)
