"""Access control, the audit trail and uploads kept in memory, driven by AppTest.

The password and OIDC gates come first in ``app.py``: while they are closed, the page holds
the login form and nothing else, on every address. The audit log records the app's actions
(with the logged-in user) and the CLI's, without a patient's values.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import tomllib

import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from medinn_app import auth, state
from medinn_core.security import _audit as audit
from medinn_core.security import hash_password

from ..conftest import ROOT, SAMPLES
from ..core.security.test_audit import assert_no_patient_values
from .helpers import APP, TIMEOUT, new_app, texts

PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD, n=2**12)  # cheap for tests; the default costs about a second
OIDC = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret",
    "client_id": "medinn",
    "client_secret": "test-client-secret",
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty registry, a fresh audit log, no gate unless a test sets one, and a fresh
    process-wide limiter (it is shared by every session of the process)."""
    monkeypatch.setenv("MEDINN_HOME", str(tmp_path))
    monkeypatch.setenv("MEDINN_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    for name in ("MEDINN_PASSWORD_HASH", "MEDINN_SECRET", "MEDINN_ALLOW_UNSIGNED"):
        monkeypatch.delenv(name, raising=False)
    auth._server_limiter.clear()
    yield tmp_path
    auth._server_limiter.clear()


def is_gated(at: AppTest) -> bool:
    """Only the login form: no page content, no navigation, no sidebar, no patient data."""
    assert not at.exception, [e.value for e in at.exception]
    keys = {w.key for w in (*at.button, *at.text_input)}
    return (
        keys <= {state.W_AUTH_PASSWORD, state.W_AUTH_SUBMIT, f"{state.W_AUTH_LOGIN}.default"}
        and texts(at.title) == ["medinn"]
        and not at.sidebar.children
        and not at.get("page_link")
        and state.DATASET not in at.session_state
    )


def log_in(at: AppTest, password: str) -> AppTest:
    at.text_input(key=state.W_AUTH_PASSWORD).input(password)
    at.button(key=state.W_AUTH_SUBMIT).click()
    return at.run()


# -- password gate ------------------------------------------------------------------------------
def test_without_a_gate_the_app_opens():
    at = new_app()
    assert not at.exception
    assert at.button(key=state.W_HOME_SAMPLE)
    assert state.W_AUTH_PASSWORD not in {w.key for w in at.text_input}


def test_with_a_password_hash_only_the_form_shows(monkeypatch):
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", HASH)
    at = new_app()
    assert is_gated(at)
    assert at.text_input(key=state.W_AUTH_PASSWORD).proto.type == 1  # PASSWORD: masked
    at.switch_page("pages/predict.py").run()  # a page's address shows the form too
    assert is_gated(at)


def test_a_page_address_in_a_fresh_server_shows_the_form(monkeypatch):
    """A server's first run on a page address runs the page file alone (see runtime.py); the
    page reruns through app.py before it draws anything."""
    monkeypatch.setattr(app_test_module, "PagesManager", PagesManager)
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", HASH)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("pages/predict.py").run()
    assert is_gated(at)


def test_wrong_password_shows_an_error_and_no_content_right_one_opens(monkeypatch):
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", HASH)
    at = log_in(new_app(), "wrong horse")
    assert "Wrong password." in texts(at.error)
    assert is_gated(at)
    log_in(at, PASSWORD)
    assert not at.exception
    assert at.session_state[state.AUTH_OK]
    assert at.button(key=state.W_HOME_SAMPLE)
    at.button(key=state.W_AUTH_LOGOUT).click().run()
    assert is_gated(at)
    events = audit.read_log(audit.audit_path())
    assert [e["action"] for e in events] == ["login_failed", "login", "logout"]
    assert events[1]["auth"] == "password" and events[0]["user"] == "anonymous"
    assert PASSWORD not in audit.audit_path().read_text()


def test_the_hash_can_come_from_streamlit_secrets():
    at = new_app(password_hash=HASH)
    assert is_gated(at)
    log_in(at, PASSWORD)
    assert at.button(key=state.W_HOME_SAMPLE)


def test_a_broken_hash_keeps_the_gate_closed(monkeypatch):
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", "my-plain-password")
    at = new_app()
    assert any("login settings of this server are broken" in e for e in texts(at.error))
    assert is_gated(at) and not at.text_input


def test_repeated_failures_lock_the_session_out(monkeypatch):
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", HASH)
    monkeypatch.setattr(auth, "BACKOFF_BASE", 60.0)
    at = new_app()
    for _ in range(auth.SESSION_FREE):
        log_in(at, "guess")
    assert any("Too many failed attempts. Try again in 60 s" in e for e in texts(at.error))
    log_in(at, PASSWORD)  # even the right password waits: a lockout is not an oracle
    assert any("Too many failed attempts" in e for e in texts(at.error))
    assert is_gated(at)
    at.run()  # the page shows the wait before anyone types again
    assert any("Too many failed attempts" in w for w in texts(at.warning))
    assert at.session_state[state.AUTH_LIMITER].failures == auth.SESSION_FREE


def test_new_sessions_cannot_bypass_the_process_wide_limit(monkeypatch):
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", HASH)
    monkeypatch.setattr(auth, "BACKOFF_BASE", 60.0)
    monkeypatch.setattr(auth, "GLOBAL_FREE", 3)
    auth._server_limiter.clear()
    for _ in range(3):
        log_in(new_app(), "guess")  # a fresh browser session each time
    at = log_in(new_app(), PASSWORD)
    assert any("Too many failed attempts" in e for e in texts(at.error))
    assert is_gated(at)
    assert any("Too many failed attempts" in w for w in texts(new_app().warning))


# -- OIDC ---------------------------------------------------------------------------------------
def test_oidc_shows_a_login_button_until_the_user_logs_in(monkeypatch):
    monkeypatch.setattr(auth, "_authlib_missing", lambda: False)
    monkeypatch.setenv("MEDINN_PASSWORD_HASH", HASH)  # OIDC wins over the password gate
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = OIDC
    at.user = {"is_logged_in": False}
    at.run()
    assert is_gated(at)
    assert at.button(key=f"{state.W_AUTH_LOGIN}.default").label == "Log in"
    at.user = {"is_logged_in": True, "name": "Dr Ada Example", "email": "ada@example.org"}
    at.run()
    assert at.button(key=state.W_HOME_SAMPLE)
    assert "Logged in as Dr Ada Example." in texts(at.sidebar.caption)


def test_oidc_names_providers_and_a_missing_authlib(monkeypatch):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": OIDC["redirect_uri"], "cookie_secret": "x"} | {
        "microsoft": {k: OIDC[k] for k in ("client_id", "client_secret")}
    }
    at.user = {"is_logged_in": False}
    monkeypatch.setattr(auth, "_authlib_missing", lambda: True)
    at.run()
    assert any("Authlib" in e for e in texts(at.error)) and is_gated(at)
    monkeypatch.setattr(auth, "_authlib_missing", lambda: False)
    at.run()
    assert at.button(key=f"{state.W_AUTH_LOGIN}.microsoft").label == "Log in with microsoft"


# -- audit --------------------------------------------------------------------------------------
def test_app_and_cli_actions_are_audited_without_patient_values(
    isolated, saved_binary, cardiology_df, monkeypatch
):
    from medinn_core.cli import main

    shutil.copytree(saved_binary, isolated / "models" / "cardio")
    monkeypatch.setattr(auth, "_authlib_missing", lambda: False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["auth"] = OIDC
    at.user = {"is_logged_in": True, "name": "Dr Ada Example", "email": "ada@example.org"}
    at.run()
    at.switch_page("pages/models.py").run()
    at.button(key=state.W_MODELS_LOAD).click().run()
    at.switch_page("pages/predict.py").run()
    at.radio(key=state.W_PREDICT_SOURCE).set_value("sample").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/models.py").run()
    at.checkbox(key=state.W_MODELS_CONFIRM).check().run()
    at.button(key=state.W_MODELS_DELETE).click().run()
    assert not at.exception, [e.value for e in at.exception]

    patients = cardiology_df.head(25)
    patients.to_csv(isolated / "patients.csv", index=False)
    out = isolated / "predictions.csv"
    assert (
        main(["predict", str(saved_binary), str(isolated / "patients.csv"), "--out", str(out)]) == 0
    )

    log = audit.audit_path()
    events = audit.read_log(log)
    assert [(e["source"], e["action"]) for e in events] == [
        ("app", "predict"),
        ("app", "delete_model"),
        ("cli", "predict"),
    ]
    predicted, deleted, cli = events
    assert predicted["user"] == "Dr Ada Example" and predicted["auth"] == "oidc"
    assert predicted["model"] == "cardio" and predicted["n_patients"] == 200
    assert predicted["model_hash"] == deleted["model_hash"] == cli["model_hash"]
    assert predicted["session"] == deleted["session"] != cli["session"]
    assert deleted["n_patients"] is None and cli["n_patients"] == 25
    new_patients = pd.read_csv(SAMPLES / "new_patients.csv", dtype=str)
    assert_no_patient_values(log.read_text(), new_patients)
    assert_no_patient_values(log.read_text(), patients)


# -- downloads: audited when the file is made, not on the click ---------------------------------
class _KeptManagers(MediaFileManager):
    """AppTest makes a media file manager for each run and forgets it; keep the last one, where
    the page registered its deferred downloads."""

    last: MediaFileManager | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _KeptManagers.last = self


@pytest.fixture
def media(monkeypatch):
    monkeypatch.setattr(app_test_module, "MediaFileManager", _KeptManagers)


def fetch_deferred(at: AppTest, key: str) -> bytes:
    """What a client gets that asks the server for a deferred download directly, without
    clicking the button (no rerun, no callback): Streamlit makes the file on a thread of its
    own, as its DeferredFileHandler does, and serves it at a /media URL."""
    manager = _KeptManagers.last
    file_id = at.download_button(key=key).proto.deferred_file_id
    assert file_id, "the download must be made when it is asked for"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        url = pool.submit(manager.execute_deferred, file_id).result()
    return manager._storage.get_file(url.rsplit("/", 1)[-1]).content


def test_downloads_fetched_without_a_click_are_audited(isolated, saved_binary, media):
    shutil.copytree(saved_binary, isolated / "models" / "cardio")
    at = new_app()
    at.switch_page("pages/models.py").run()
    at.button(key=state.W_MODELS_LOAD).click().run()
    assert not audit.audit_path().exists()  # drawing the button exports nothing

    zipped = fetch_deferred(at, state.W_MODELS_DOWNLOAD)
    assert zipped[:4] == b"PK\x03\x04"
    at.switch_page("pages/predict.py").run()
    at.radio(key=state.W_PREDICT_SOURCE).set_value("sample").run()
    assert not at.exception, [e.value for e in at.exception]
    csv = fetch_deferred(at, state.W_PREDICT_DOWNLOAD)
    fetch_deferred(at, state.W_PREDICT_DOWNLOAD)  # each file made is one line

    events = audit.read_log(audit.audit_path())
    assert [e["action"] for e in events] == [
        "export_model",
        "predict",
        "export_predictions",
        "export_predictions",
    ]
    exported, predicted, downloaded = events[:3]
    assert exported["model"] == downloaded["model"] == "cardio"
    assert exported["model_hash"] == predicted["model_hash"] == downloaded["model_hash"]
    assert exported["session"] == downloaded["session"] and exported["user"] == "anonymous"
    assert downloaded["n_patients"] == predicted["n_patients"] == csv.count(b"\n") - 1


def test_a_download_whose_line_cannot_be_kept_is_not_served(isolated, saved_binary, media):
    from streamlit.runtime.media_file_storage import MediaFileStorageError

    shutil.copytree(saved_binary, isolated / "models" / "cardio")
    at = new_app()
    at.switch_page("pages/models.py").run()
    (isolated / "audit.jsonl").mkdir()  # the log's path is taken: no line can be written
    with pytest.raises(MediaFileStorageError, match="Cannot write the audit log"):
        fetch_deferred(at, state.W_MODELS_DOWNLOAD)


# -- signed imports on the Models page ------------------------------------------------------------
def import_zip(at: AppTest, data: bytes) -> AppTest:
    at.file_uploader(key=state.W_MODELS_IMPORT_FILE).set_value(
        ("cardio.zip", data, "application/zip")
    )
    at.run()
    at.button(key=state.W_MODELS_IMPORT).click()
    return at.run()


def test_models_page_refuses_unsigned_imports_unless_allowed(saved_binary):
    from medinn_core.io import export_bundle_zip

    unsigned = export_bundle_zip(saved_binary)
    at = new_app()
    at.switch_page("pages/models.py").run()
    import_zip(at, unsigned)
    assert any("not signed" in e and "allow_unsigned = true" in e for e in texts(at.error))
    assert not (audit.audit_path().exists() and audit.read_log(audit.audit_path()))

    at = new_app(allow_unsigned=True)  # a single-user laptop, in .streamlit/secrets.toml
    at.switch_page("pages/models.py").run()
    import_zip(at, unsigned)
    assert not at.error
    assert any("Imported 'cardio'; unsigned imports are allowed" in s for s in texts(at.success))
    assert [e["action"] for e in audit.read_log(audit.audit_path())] == ["import_model"]


def test_models_page_imports_bundles_signed_with_its_secret(saved_binary):
    from medinn_core.io import export_bundle_zip

    secret = "a-shared-server-secret-0123456789abcdef"
    at = new_app(MEDINN_SECRET=secret)
    at.switch_page("pages/models.py").run()
    import_zip(at, export_bundle_zip(saved_binary, b"another-server-secret-0123456789abcdef"))
    assert any("signed with another key" in e for e in texts(at.error))
    import_zip(at, export_bundle_zip(saved_binary, secret.encode()))
    assert any("its signature was checked" in s for s in texts(at.success))


# -- uploads ------------------------------------------------------------------------------------
def test_uploads_are_parsed_in_memory_not_spooled_to_disk():
    """Streamlit keeps uploads in memory, but Starlette's multipart parser spools a part over
    1 MB to a temporary file; app.py raises that threshold above server.maxUploadSize."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartParser
    from starlette.requests import Request

    new_app()
    assert MultiPartParser.spool_max_size > 200 * 1024 * 1024  # maxUploadSize = 200 (MB)
    boundary = "medinn-test-boundary"
    payload = b"patient_id,age\n" + b"P000001,63\n" * 300_000  # about 3.3 MB
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def parse():
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "PUT",
            "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
        }
        form = await Request(scope, receive).form()
        upload = form["file"]
        assert isinstance(upload, UploadFile)
        rolled = upload.file._rolled  # SpooledTemporaryFile: True once written to disk
        data = await upload.read()
        await form.close()
        return rolled, data

    # In a thread of its own: an earlier test (Playwright's sync API) may have left an event
    # loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        rolled, data = pool.submit(asyncio.run, parse()).result()
    assert data == payload
    assert not rolled


def test_the_server_ends_a_gone_session_sooner_and_shows_no_error_details():
    """A download's /media URL is not behind the login and lives until its session is cleaned
    up (README, Security): a session whose browser has gone ends after 30 s, not 120."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["disconnectedSessionTTL"] <= 30
    assert config["client"]["showErrorDetails"] == "none"
