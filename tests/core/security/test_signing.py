"""Signed bundle zips: HMAC-SHA256 over the manifest, checked on import before Keras loads."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from medinn_core.errors import BundleError, ConfigError
from medinn_core.io import Registry, export_bundle_zip, load_bundle
from medinn_core.security import (
    SIGNATURE_FILE,
    SigningPolicy,
    check_signature,
    key_id,
    policy_from_env,
    sign_manifest,
)

SECRET = b"this-server-secret-0123456789-abcdefghijkl"
OTHER = b"another-server-secret-9876543210-zyxwvuts"


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _registry(tmp_path, policy):
    return Registry(tmp_path / "models", policy=policy)


def test_signed_round_trip(saved_binary, cardiology_df, tmp_path):
    signed = export_bundle_zip(saved_binary, SECRET)
    signature = json.loads(_entries(signed)[SIGNATURE_FILE])
    assert signature["algorithm"] == "HMAC-SHA256"
    assert signature["key_id"] == key_id(SECRET)
    name = _registry(tmp_path, SigningPolicy(SECRET)).import_zip(signed, "signed")
    registry = _registry(tmp_path, SigningPolicy(SECRET))
    assert registry.names() == [name]
    assert not (registry.path(name) / SIGNATURE_FILE).exists()  # a bundle folder is unchanged
    again = registry.load(name).model.predict_proba(cardiology_df.head(50))
    assert np.array_equal(
        again, load_bundle(saved_binary).model.predict_proba(cardiology_df.head(50))
    )
    # The registry exports with its own key, and another server with that key imports it.
    exported = registry.export_zip(name)
    assert SIGNATURE_FILE in _entries(exported)
    assert _registry(tmp_path / "other", SigningPolicy(SECRET)).import_zip(exported) == "cardio"


@pytest.mark.parametrize("secret", [SECRET, None])
def test_unsigned_import_is_refused_by_default(saved_binary, tmp_path, secret):
    unsigned = export_bundle_zip(saved_binary)
    registry = _registry(tmp_path, SigningPolicy(secret))
    with pytest.raises(BundleError, match="not signed.*MEDINN_ALLOW_UNSIGNED=1"):
        registry.import_zip(unsigned)
    assert registry.names() == []
    assert [p.name for p in registry.root.iterdir()] == []  # no staging folder left behind


def test_defaults_come_from_the_environment(saved_binary, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDINN_SECRET", raising=False)
    monkeypatch.delenv("MEDINN_ALLOW_UNSIGNED", raising=False)
    registry = Registry(tmp_path / "models")  # no policy: MEDINN_SECRET, MEDINN_ALLOW_UNSIGNED
    unsigned = export_bundle_zip(saved_binary)
    with pytest.raises(BundleError, match="no MEDINN_SECRET"):
        registry.import_zip(unsigned)
    monkeypatch.setenv("MEDINN_SECRET", SECRET.decode())
    assert registry.import_zip(export_bundle_zip(saved_binary, SECRET), "a") == "a"
    assert SIGNATURE_FILE in _entries(registry.export_zip("a"))
    monkeypatch.delenv("MEDINN_SECRET")
    monkeypatch.setenv("MEDINN_ALLOW_UNSIGNED", "1")
    assert registry.import_zip(unsigned, "b") == "b"


def test_a_bundle_signed_with_another_key_is_refused(saved_binary, tmp_path):
    theirs = export_bundle_zip(saved_binary, OTHER)
    registry = _registry(tmp_path, SigningPolicy(SECRET))
    with pytest.raises(BundleError, match=f"another key \\(key id {key_id(OTHER)}.*MEDINN_SECRET"):
        registry.import_zip(theirs)
    with pytest.raises(BundleError, match="no MEDINN_SECRET to check"):
        _registry(tmp_path, SigningPolicy()).import_zip(theirs)
    assert registry.names() == []


def test_a_tampered_bundle_with_rewritten_checksums_is_refused(saved_binary, tmp_path):
    """The attacker swaps the preprocessing and rewrites the manifest to match: the checksums
    pass, the signature does not."""
    entries = _entries(export_bundle_zip(saved_binary, SECRET))
    pre = json.loads(entries["preprocess.json"])
    pre["min_frequency"] = pre["min_frequency"] + 1
    entries["preprocess.json"] = json.dumps(pre).encode()
    manifest = json.loads(entries["manifest.json"])
    manifest["files"]["preprocess.json"] = hashlib.sha256(entries["preprocess.json"]).hexdigest()
    entries["manifest.json"] = json.dumps(manifest).encode()
    registry = _registry(tmp_path, SigningPolicy(SECRET))
    with pytest.raises(BundleError, match="signature does not match its manifest"):
        registry.import_zip(_zip(entries))
    # Even where unsigned imports are allowed, a bad signature made with this key is refused.
    lax = _registry(tmp_path, SigningPolicy(SECRET, allow_unsigned=True))
    with pytest.raises(BundleError, match="changed after it was signed"):
        lax.import_zip(_zip(entries))
    assert registry.names() == []


def test_a_damaged_signature_file_is_refused(saved_binary, tmp_path):
    entries = _entries(export_bundle_zip(saved_binary, SECRET))
    entries[SIGNATURE_FILE] = b"not json"
    with pytest.raises(BundleError, match="signature.json is damaged"):
        _registry(tmp_path, SigningPolicy(SECRET, allow_unsigned=True)).import_zip(_zip(entries))


def test_allow_unsigned_accepts_unsigned_and_unknown_keys(saved_binary, tmp_path):
    registry = _registry(tmp_path, SigningPolicy(SECRET, allow_unsigned=True))
    assert registry.import_zip(export_bundle_zip(saved_binary), "plain") == "plain"
    assert registry.import_zip(export_bundle_zip(saved_binary, OTHER), "theirs") == "theirs"
    assert registry.names() == ["plain", "theirs"]
    manifest = (saved_binary / "manifest.json").read_bytes()
    outcome = check_signature(manifest, None, SigningPolicy(allow_unsigned=True))
    assert outcome.startswith("unsigned; accepted")


def test_the_key_is_never_written_into_the_zip(saved_binary):
    signed = export_bundle_zip(saved_binary, SECRET)
    hex_key = SECRET.hex().encode()
    assert SECRET not in signed and hex_key not in signed
    for name, content in _entries(signed).items():
        assert SECRET not in content and hex_key not in content, name
    assert SECRET.decode() not in repr(SigningPolicy(SECRET))  # nor in a log or traceback


def test_whitespace_does_not_change_the_signature(saved_binary):
    manifest = (saved_binary / "manifest.json").read_bytes()
    signature = sign_manifest(manifest, SECRET)
    reformatted = json.dumps(json.loads(manifest)).encode()  # other spacing, same content
    assert check_signature(reformatted, signature, SigningPolicy(SECRET)).startswith("signed")


def test_weak_secrets_and_bad_flags_are_refused():
    with pytest.raises(ConfigError, match="MEDINN_SECRET is 6 characters long; use at least 32"):
        SigningPolicy(b"secret")
    with pytest.raises(ConfigError, match="MEDINN_ALLOW_UNSIGNED is 'maybe'"):
        policy_from_env({"MEDINN_ALLOW_UNSIGNED": "maybe"})
    policy = policy_from_env({"MEDINN_SECRET": SECRET.decode(), "MEDINN_ALLOW_UNSIGNED": "true"})
    assert policy.secret == SECRET and policy.allow_unsigned
    assert policy_from_env({}) == SigningPolicy(None, allow_unsigned=False)
