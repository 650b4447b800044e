"""Who is using the app, as the login gate and the audit log name them.

A module of its own so that :mod:`medinn_app.auth` (the gate, which writes login lines to the
audit log) and :mod:`medinn_app.audit` (which names the user on every line) both import it,
and neither imports the other's importer.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from medinn_app import settings, state


def oidc_settings() -> Mapping | None:
    """The ``[auth]`` table of the secrets, when OIDC login is configured."""
    found = settings.secrets().get("auth")
    return found if isinstance(found, Mapping) and found else None


def current_user() -> tuple[str, str]:
    """``(name, how)``: the OIDC user's name or e-mail and "oidc", else "anonymous" with
    "password" (the shared password was given) or "none"."""
    if oidc_settings() is not None and st.user.get("is_logged_in"):
        name = st.user.get("name") or st.user.get("email") or st.user.get("sub") or "unknown"
        return str(name), "oidc"
    if st.session_state.get(state.AUTH_OK):
        return "anonymous", "password"
    return "anonymous", "none"
