"""Keeping patient data and models safe: password hashes, signed bundles, the audit log.

Private modules, public names here (``from medinn_core.security import record_event``):

- ``_passwords``: scrypt hashes, constant-time checks and a limiter of failed attempts;
- ``_signing``: HMAC-SHA256 signatures of bundle manifests and the import policy;
- ``_audit``: the JSON-lines audit log (who did what to which model, for how many patients).
"""

from __future__ import annotations

from medinn_core.security._audit import (
    ACTIONS,
    AUDIT_ENV,
    MAX_TEXT,
    OFF,
    SOURCES,
    AuditEvent,
    append_event,
    audit_path,
    check_log,
    manifest_digest,
    manifest_hash,
    read_log,
    record_event,
)
from medinn_core.security._passwords import (
    KEY_BYTES,
    MAX_PASSWORD_BYTES,
    SALT_BYTES,
    SCHEME,
    AttemptLimiter,
    check_hash,
    hash_password,
    verify_password,
)
from medinn_core.security._signing import (
    ALGORITHM,
    ALLOW_UNSIGNED_ENV,
    MAX_SIGNATURE_BYTES,
    MIN_SECRET_BYTES,
    SECRET_ENV,
    SIGNATURE_FILE,
    SIGNATURE_FORMAT,
    SigningPolicy,
    canonical_manifest,
    check_signature,
    key_id,
    parse_flag,
    policy_from_env,
    sign_manifest,
)

__all__ = [
    "ACTIONS",
    "ALGORITHM",
    "ALLOW_UNSIGNED_ENV",
    "AUDIT_ENV",
    "KEY_BYTES",
    "MAX_PASSWORD_BYTES",
    "MAX_SIGNATURE_BYTES",
    "MAX_TEXT",
    "MIN_SECRET_BYTES",
    "OFF",
    "SALT_BYTES",
    "SCHEME",
    "SECRET_ENV",
    "SIGNATURE_FILE",
    "SIGNATURE_FORMAT",
    "SOURCES",
    "AttemptLimiter",
    "AuditEvent",
    "SigningPolicy",
    "append_event",
    "audit_path",
    "canonical_manifest",
    "check_hash",
    "check_log",
    "check_signature",
    "hash_password",
    "key_id",
    "manifest_digest",
    "manifest_hash",
    "parse_flag",
    "policy_from_env",
    "read_log",
    "record_event",
    "sign_manifest",
    "verify_password",
]
