"""Signed bundle zips: an HMAC-SHA256 over the manifest, keyed by a server secret.

The manifest holds the SHA-256 of every file of a bundle, so a signature over the manifest
vouches for the whole bundle. A zip exported by a server with a secret carries
``signature.json`` (the algorithm, a key id and the signature; never the key). On import the
signature is checked before the network is loaded. By default an unsigned zip, or one signed
with another key, is refused; :class:`SigningPolicy` ``allow_unsigned`` accepts them on a
single-user laptop. A bad signature made with this server's own key is always refused: the
bundle was changed after it was signed.

Everything here is pure: the caller reads the files and passes their bytes and the policy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medinn_core.errors import BundleError, ConfigError

ALGORITHM = "HMAC-SHA256"
SIGNATURE_FILE = "signature.json"
SIGNATURE_FORMAT = "medinn-signature"
SECRET_ENV = "MEDINN_SECRET"
ALLOW_UNSIGNED_ENV = "MEDINN_ALLOW_UNSIGNED"
MIN_SECRET_BYTES = 32
MAX_SIGNATURE_BYTES = 4096
_DOMAIN = b"medinn bundle manifest v1\n"  # a signature made for something else never matches
_KEY_ID_LABEL = b"medinn key id"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_FIX_SECRET = (
    "set MEDINN_SECRET (or MEDINN_SECRET in .streamlit/secrets.toml) to the secret of the "
    "server that exported it"
)
_FIX_UNSIGNED = (
    "on a single-user laptop, allow unsigned imports with MEDINN_ALLOW_UNSIGNED=1 (or "
    "allow_unsigned = true in .streamlit/secrets.toml)"
)


def parse_flag(value: Any, name: str) -> bool:
    """A yes/no setting from the environment or secrets: 1/true/yes/on or 0/false/no/off.

    Raises
    ------
    ConfigError
        For any other value (a typo must not silently mean "no").
    """
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"Setting {name} is {value!r}; use 1 or 0 (true or false).")


def key_id(secret: bytes) -> str:
    """A short public name for a key: it tells keys apart without revealing them."""
    return hmac.new(secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class SigningPolicy:
    """How bundle zips are signed on export and checked on import.

    ``secret`` signs exports and checks imports (None: exports are unsigned and no signature
    can be checked); ``allow_unsigned`` accepts zips without a usable signature.

    Raises
    ------
    ConfigError
        If the secret is shorter than 32 bytes.
    """

    secret: bytes | None = field(default=None, repr=False)  # never in a log or a traceback
    allow_unsigned: bool = False

    def __post_init__(self) -> None:
        secret = self.secret
        if isinstance(secret, str):
            secret = secret.strip().encode("utf-8")
        if secret is not None and len(secret) == 0:
            secret = None
        if secret is not None and len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{SECRET_ENV} is {len(secret)} characters long; use at least "
                f"{MIN_SECRET_BYTES}, for example the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'."
            )
        object.__setattr__(self, "secret", secret)

    @property
    def key_id(self) -> str | None:
        return None if self.secret is None else key_id(self.secret)


def policy_from_env(environ: Mapping[str, str] | None = None) -> SigningPolicy:
    """The policy set by ``MEDINN_SECRET`` and ``MEDINN_ALLOW_UNSIGNED``.

    Raises
    ------
    ConfigError
        If the secret is too short or the flag is not a yes/no value.
    """
    env = os.environ if environ is None else environ
    return SigningPolicy(
        secret=env.get(SECRET_ENV) or None,
        allow_unsigned=parse_flag(env.get(ALLOW_UNSIGNED_ENV), ALLOW_UNSIGNED_ENV),
    )


def canonical_manifest(manifest: bytes) -> bytes:
    """The manifest as sorted, compact JSON, so that whitespace never changes a signature.

    Raises
    ------
    BundleError
        If the manifest is not JSON.
    """
    try:
        parsed = json.loads(manifest)
    except (ValueError, UnicodeDecodeError):
        raise BundleError(
            "The bundle's manifest.json is not JSON; it is damaged or not medinn's."
        ) from None
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(manifest: bytes, secret: bytes) -> str:
    return hmac.new(secret, _DOMAIN + canonical_manifest(manifest), hashlib.sha256).hexdigest()


def sign_manifest(manifest: bytes, secret: bytes) -> bytes:
    """The ``signature.json`` content for a manifest (the key id, never the key).

    Raises
    ------
    BundleError
        If the manifest is not JSON.
    """
    signature = {
        "format": SIGNATURE_FORMAT,
        "version": 1,
        "algorithm": ALGORITHM,
        "key_id": key_id(secret),
        "signature": _mac(manifest, secret),
    }
    return json.dumps(signature, indent=2, sort_keys=True).encode()


def _read_signature(signature: bytes) -> dict[str, str]:
    try:
        if len(signature) > MAX_SIGNATURE_BYTES:
            raise ValueError("too large")
        parsed = json.loads(signature)
        if parsed.get("format") != SIGNATURE_FORMAT or parsed.get("algorithm") != ALGORITHM:
            raise ValueError(f"unknown format or algorithm {parsed.get('algorithm')!r}")
        if not all(isinstance(parsed.get(k), str) for k in ("key_id", "signature")):
            raise ValueError("no key id or signature")
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"The bundle's {SIGNATURE_FILE} is damaged or not medinn's ({exc}); refused. "
            "Export the model again."
        ) from None
    return parsed


def check_signature(manifest: bytes, signature: bytes | None, policy: SigningPolicy) -> str:
    """Check a bundle's signature against the policy; return what was found, in words.

    Raises
    ------
    BundleError
        If the bundle is unsigned or signed with another key and the policy does not allow
        unsigned imports, or if the signature does not match (the bundle was changed after it
        was signed), with the reason and the fix.
    """
    if signature is None:
        if policy.allow_unsigned:
            return "unsigned; accepted because unsigned imports are allowed"
        where = (
            "with this server's key"
            if policy.secret is not None
            else "and this server has no MEDINN_SECRET to check signatures with"
        )
        raise BundleError(
            f"The bundle is not signed, and this server imports only bundles signed {where}. "
            "Export it again from a medinn server that has the same MEDINN_SECRET as this "
            f"one, or, if you trust where it came from, {_FIX_UNSIGNED}."
        )
    found = _read_signature(signature)
    if policy.secret is None or found["key_id"] != policy.key_id:
        if policy.allow_unsigned:
            return (
                f"signed with an unknown key ({found['key_id']}), not checked; accepted because "
                "unsigned imports are allowed"
            )
        if policy.secret is None:
            raise BundleError(
                f"The bundle is signed (key id {found['key_id']}), but this server has no "
                f"MEDINN_SECRET to check the signature with. To import it, {_FIX_SECRET}; or, "
                f"{_FIX_UNSIGNED}."
            )
        raise BundleError(
            f"The bundle is signed with another key (key id {found['key_id']}; this server's "
            f"is {policy.key_id}), so its origin cannot be checked. To import it, "
            f"{_FIX_SECRET}, or export it again from a server that shares this server's "
            "secret."
        )
    expected = _mac(manifest, policy.secret).encode()
    if not hmac.compare_digest(found["signature"].encode("utf-8"), expected):
        raise BundleError(
            "The bundle's signature does not match its manifest: the bundle was changed after "
            "it was signed. Do not use it; export the model again from the original server."
        )
    return f"signed with this server's key ({found['key_id']}); signature checked"
