"""Deployment settings of the app: the environment first, then Streamlit secrets.

A setting is read from an environment variable (``MEDINN_SECRET``), else from
``.streamlit/secrets.toml`` (``MEDINN_SECRET``, ``allow_unsigned``, ``password_hash``,
``audit_log``, and the ``[auth]`` table of Streamlit's OIDC login). No secrets file means no
settings; a secrets file that cannot be read is an error, so that a typo in it never opens a
gate it was meant to close.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from medinn_core.errors import ConfigError

_NO_SECRETS = "no-secrets-found"


def secrets() -> Mapping[str, Any]:
    """Streamlit's secrets as a plain mapping (empty without a secrets file).

    Raises
    ------
    ConfigError
        If a secrets file exists but cannot be parsed.
    """
    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError as exc:
        if getattr(exc, "error_id", None) == _NO_SECRETS:
            return {}
        raise ConfigError(
            f"Streamlit's secrets cannot be read: {exc}. Fix .streamlit/secrets.toml."
        ) from None


def setting(env: str, secret: str) -> Any:
    """The value of environment variable ``env``, else of secret ``secret``, else None."""
    value = os.environ.get(env)
    if value is not None and value.strip():
        return value
    return secrets().get(secret)


def signing_policy():
    """The bundle signing policy: ``MEDINN_SECRET`` and ``MEDINN_ALLOW_UNSIGNED``, or the
    secrets ``MEDINN_SECRET`` and ``allow_unsigned``.

    Raises
    ------
    ConfigError
        If the secret is too short or the flag is not a yes/no value.
    """
    from medinn_core.security import ALLOW_UNSIGNED_ENV, SECRET_ENV, SigningPolicy, parse_flag

    return SigningPolicy(
        secret=setting(SECRET_ENV, SECRET_ENV),
        allow_unsigned=parse_flag(setting(ALLOW_UNSIGNED_ENV, "allow_unsigned"), "allow_unsigned"),
    )


def audit_path():
    """Where the audit log goes (``MEDINN_AUDIT_LOG`` or the secret ``audit_log``), or None."""
    from medinn_core.security import AUDIT_ENV, audit_path

    configured = setting(AUDIT_ENV, "audit_log")
    environ = {**os.environ, AUDIT_ENV: str(configured)} if configured else os.environ
    return audit_path(environ)
