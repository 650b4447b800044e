"""Who may use the app: Streamlit's OIDC login, an optional password gate, or nobody asked.

:func:`require_login` runs first in ``app.py``. With an ``[auth]`` table in
``.streamlit/secrets.toml`` the user logs in with the hospital's identity provider
(``st.login``); else with ``MEDINN_PASSWORD_HASH`` (or the secret ``password_hash``) set, a
password form is all the page shows until the right password is given; else the app is open.

Failed passwords are limited twice: per session, and for the whole server process (a new
browser session does not start afresh). After the free attempts each one waits twice as long
as the last, up to five minutes. The gate is meant for demonstrations, not as a hospital's
access control; see the README.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping

import streamlit as st

from medinn_app import audit, identity, settings, state, ui
from medinn_core.errors import MedinnError
from medinn_core.security import AttemptLimiter, check_hash, verify_password

PASSWORD_ENV = "MEDINN_PASSWORD_HASH"
PASSWORD_SECRET = "password_hash"
SESSION_FREE = 5  # failed passwords a session may make before it has to wait
GLOBAL_FREE = 20  # ... and all sessions together, within a quarter of an hour
BACKOFF_BASE = 1.0  # seconds: the first wait; each further failure doubles it
BACKOFF_CAP = 300.0  # seconds


@st.cache_resource(show_spinner=False)
def _server_limiter() -> AttemptLimiter:
    """One limiter for the whole server process (cache_resource is shared by every session)."""
    return AttemptLimiter(free=GLOBAL_FREE, base=BACKOFF_BASE, cap=BACKOFF_CAP)


def _session_limiter() -> AttemptLimiter:
    return st.session_state.setdefault(
        state.AUTH_LIMITER, AttemptLimiter(free=SESSION_FREE, base=BACKOFF_BASE, cap=BACKOFF_CAP)
    )


def require_login() -> None:
    """Let the user through, or show only a login form and stop the script."""
    try:
        oidc = identity.oidc_settings()
        password_hash = None if oidc else settings.setting(PASSWORD_ENV, PASSWORD_SECRET)
        if password_hash:
            check_hash(str(password_hash))
    except MedinnError as exc:  # a broken setting keeps the gate closed
        st.title("medinn")
        st.error(f"The login settings of this server are broken: {ui.plain(exc)}")
        st.stop()
    if oidc is not None:
        _oidc_gate(oidc)
    elif password_hash:
        _password_gate(str(password_hash))


# -- OIDC (Streamlit's st.login) -----------------------------------------------------------------
def _authlib_missing() -> bool:
    return importlib.util.find_spec("authlib") is None


def providers(oidc: Mapping) -> list[str | None]:
    """The named providers of an ``[auth]`` table (``[auth.<name>]``), or [None] for one."""
    named = [name for name, value in oidc.items() if isinstance(value, Mapping)]
    return named or [None]


def _oidc_gate(oidc: Mapping) -> None:
    if st.user.get("is_logged_in"):
        with st.sidebar:
            name, _ = identity.current_user()
            st.caption(f"Logged in as {ui.plain(name)}.")
            if st.button("Log out", key=state.W_AUTH_LOGOUT, icon=":material/logout:"):
                audit.record("logout")
                st.logout()
        return
    st.title("medinn")
    st.info("Log in with your organisation's account to use medinn.")
    if _authlib_missing():
        st.error(
            "Login is configured in .streamlit/secrets.toml, but Authlib, which Streamlit's "
            "login needs, is not installed. Install it with pip install 'Authlib>=1.3.2'."
        )
        st.stop()
    for provider in providers(oidc):
        label = f"Log in with {provider}" if provider else "Log in"
        if st.button(label, key=f"{state.W_AUTH_LOGIN}.{provider or 'default'}", type="primary"):
            st.login(provider)
    st.stop()


# -- password gate -------------------------------------------------------------------------------
def _locked_message(wait: float) -> str:
    return (
        f"Too many failed attempts. Try again in {math.ceil(wait)} s; each further failure "
        "doubles the wait."
    )


def _password_gate(password_hash: str) -> None:
    if st.session_state.get(state.AUTH_OK):
        with st.sidebar:
            if st.button("Log out", key=state.W_AUTH_LOGOUT, icon=":material/logout:"):
                audit.record("logout")
                for key in list(st.session_state):  # patient data goes with the login
                    del st.session_state[key]
                st.rerun()
        return
    st.title("medinn")
    st.caption("This medinn server asks for a password.")
    with st.form(state.W_AUTH_FORM, clear_on_submit=True):
        password = st.text_input("Password", type="password", key=state.W_AUTH_PASSWORD)
        submitted = st.form_submit_button("Log in", key=state.W_AUTH_SUBMIT, type="primary")
    mine, everyone = _session_limiter(), _server_limiter()
    if not submitted:
        wait = max(mine.wait(), everyone.wait())
        if wait > 0:
            st.warning(_locked_message(wait))
        st.stop()
    with everyone.lock:  # one check at a time: no burst across sessions, bounded memory
        wait = max(mine.wait(), everyone.wait())
        ok = wait == 0 and verify_password(password, password_hash)
        if wait == 0 and not ok:
            mine.failed()
            everyone.failed()
    if ok:
        mine.reset()
        st.session_state[state.AUTH_OK] = True
        audit.record("login")
        st.rerun()
    if wait == 0:
        audit.record("login_failed")
        wait = max(mine.wait(), everyone.wait())
        st.error("Wrong password." + (f" {_locked_message(wait)}" if wait > 0 else ""))
    else:
        st.error(_locked_message(wait))
    st.stop()
