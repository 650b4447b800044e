"""The app's side of the audit log: who (from :mod:`medinn_app.identity`), which session,
which model, how many patients. The lines themselves are written by :mod:`medinn_core.security`."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import streamlit as st

from medinn_app import identity, settings, state, ui

if TYPE_CHECKING:  # annotations only: a light import for Home
    from medinn_core.io import Bundle

T = TypeVar("T")


def session_token() -> str:
    """A random token for this browser session (not Streamlit's own session id)."""
    return st.session_state.setdefault(state.AUDIT_SESSION, secrets.token_hex(8))


def record(
    action: str,
    *,
    active: Bundle | None = None,
    model: str | None = None,
    model_hash: str | None = None,
    n_patients: int | None = None,
) -> None:
    """Append one event for this session; ``active`` fills in the model's name and hash.

    Raises
    ------
    medinn_core.errors.ConfigError
        If the audit log cannot be written (pages show it like any other error).
    """
    _line(action, active=active, model=model, model_hash=model_hash, n_patients=n_patients)()


def audited(
    action: str,
    produce: Callable[[], T],
    *,
    active: Bundle | None = None,
    model: str | None = None,
    model_hash: str | None = None,
    n_patients: int | None = None,
) -> Callable[[], T]:
    """``produce`` for a deferred ``st.download_button``, writing the audit line each time it
    makes the file: a client that asks for the file directly, without the click's rerun, is
    recorded too. The file is handed over only once its line is written.

    Streamlit runs the producer on a thread of its own, outside the page's run, where there is
    no session state: the user, the session and the log's path are read now.
    """
    write = _line(action, active=active, model=model, model_hash=model_hash, n_patients=n_patients)

    def producing() -> T:
        data = produce()
        write()  # raises if the line cannot be kept: Streamlit then serves no file
        return data

    return producing


def _line(
    action: str,
    *,
    active: Bundle | None,
    model: str | None,
    model_hash: str | None,
    n_patients: int | None,
) -> Callable[[], None]:
    """A function that appends this event, with who and which session read now."""
    from medinn_core.security import record_event

    if active is not None:
        model = model or active.name
        model_hash = model_hash or active.bundle_hash or None
    user, how = identity.current_user()
    fields = {
        "source": "app",
        "user": user,
        "auth": how,
        "session": session_token(),
        "model": model,
        "model_hash": model_hash,
        "n_patients": n_patients,
    }
    return functools.partial(record_event, action, settings.audit_path(), **fields)


def record_from_callback(action: str, **fields) -> None:
    """:func:`record` for an ``on_click`` callback, where an exception would show a traceback."""
    from medinn_core.errors import MedinnError

    try:
        record(action, **fields)
    except MedinnError as exc:
        st.error(ui.plain(exc))
