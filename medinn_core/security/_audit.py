"""The audit log: one JSON line per action on patients or models, never a patient's values.

Each line says when (UTC), where from (app or cli), who (the logged-in user's name, or
"anonymous"; the OS user for the CLI), how they logged in, a random session token, the
action, the model (name and manifest hash) and how many patients. An event has no free-text
field, so no cell value and no error message (which may quote one) can reach the log.

The log is ``$MEDINN_AUDIT_LOG``, by default ``$MEDINN_HOME/audit.jsonl`` (or
``~/.medinn/audit.jsonl``); ``MEDINN_AUDIT_LOG=off`` turns it off. Lines are appended under a
lock (a thread lock, and ``flock`` between processes where the OS has it); the file is
created readable by its owner only. A log that cannot be written is an error, not a silence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medinn_core.errors import ConfigError

try:  # POSIX only; elsewhere the thread lock and O_APPEND remain
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

AUDIT_ENV = "MEDINN_AUDIT_LOG"
OFF = frozenset({"off", "0", "false", "no", "none", "disabled"})
SOURCES = ("app", "cli")
ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "train_start",
    "train_finish",
    "save_model",
    "predict",
    "export_predictions",
    "explain",
    "evaluate",
    "report",
    "export_model",
    "import_model",
    "rename_model",
    "delete_model",
)
MAX_TEXT = 200
_LOCK = threading.Lock()


def audit_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the audit log goes, or None when ``MEDINN_AUDIT_LOG`` turns it off."""
    env = os.environ if environ is None else environ
    configured = (env.get(AUDIT_ENV) or "").strip()
    if configured.lower() in OFF:
        return None
    if configured:
        return Path(configured).expanduser()
    home = env.get("MEDINN_HOME")
    return (Path(home) if home else Path.home() / ".medinn") / "audit.jsonl"


def manifest_hash(folder: str | os.PathLike) -> str | None:
    """A bundle's hash (:func:`manifest_digest` of its manifest), or None if it has none."""
    try:
        return manifest_digest((Path(folder) / "manifest.json").read_bytes())
    except OSError:
        return None


def manifest_digest(manifest: bytes) -> str:
    """The bundle hash: the SHA-256 of the manifest as medinn writes it (sorted keys, indent
    2), so that whitespace added to a manifest, which its signature ignores, does not make
    the same bundle look like another one in the audit log."""
    try:
        parsed = json.loads(manifest)
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON: as it is
        return hashlib.sha256(manifest).hexdigest()
    return hashlib.sha256(json.dumps(parsed, indent=2, sort_keys=True).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _short(text: str | None) -> str | None:
    return None if text is None else str(text)[:MAX_TEXT]


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log.

    Raises
    ------
    ConfigError
        For an unknown action or source, or a negative or non-integer patient count.
    """

    action: str
    source: str
    user: str
    session: str
    auth: str = "none"  # how the user logged in: oidc, password, os (CLI) or none
    model: str | None = None
    model_hash: str | None = None
    n_patients: int | None = None
    time: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"Unknown audit action {self.action!r}; use one of {ACTIONS}.")
        if self.source not in SOURCES:
            raise ConfigError(f"Unknown audit source {self.source!r}; use 'app' or 'cli'.")
        n = self.n_patients
        if n is not None and (isinstance(n, bool) or int(n) != n or n < 0):
            raise ConfigError(f"n_patients must be a count of patients, not {n!r}.")
        if n is not None:
            object.__setattr__(self, "n_patients", int(n))
        for name in ("user", "session", "auth", "model", "model_hash"):
            object.__setattr__(self, name, _short(getattr(self, name)))

    def to_json(self) -> str:
        data = asdict(self)
        order = ("time", "source", "user", "auth", "session", "action", "model", "model_hash")
        return json.dumps({k: data[k] for k in (*order, "n_patients")}, ensure_ascii=False)


def append_event(event: AuditEvent, path: Path | None) -> None:
    """Append ``event`` as one line to ``path`` (nothing when ``path`` is None).

    Raises
    ------
    ConfigError
        If the log cannot be written, with the fix.
    """
    if path is None:
        return
    line = (event.to_json() + "\n").encode("utf-8")
    try:
        with _LOCK:
            fd = _open(path)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)
            finally:
                os.close(fd)  # closing releases the flock
    except OSError as exc:
        raise _unwritable(path, exc) from None


def check_log(path: Path | None) -> None:
    """Make sure a line can be appended to the audit log at ``path`` (creating it if need be),
    writing nothing: called before an action whose output must not exist without its line.

    Raises
    ------
    ConfigError
        If the log cannot be written, with the fix.
    """
    if path is None:
        return
    try:
        os.close(_open(path))
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"Cannot write the audit log '{path}': {exc.strerror or exc}. Make its folder "
        f"writable, point {AUDIT_ENV} at a writable file, or set {AUDIT_ENV}=off."
    )


def record_event(action: str, path: Path | None, **fields) -> AuditEvent:
    """Build an :class:`AuditEvent` and append it to ``path`` (None: the log is off).

    Raises
    ------
    ConfigError
        As :class:`AuditEvent` and :func:`append`.
    """
    event = AuditEvent(action=action, **fields)
    append_event(event, path)
    return event


def read_log(path: str | os.PathLike) -> list[dict]:
    """Every event of an audit log, oldest first."""
    # Lines end at "\n" only: str.splitlines() also splits at U+2028 and other separators,
    # which a model's name may hold (JSON does not escape them).
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]
