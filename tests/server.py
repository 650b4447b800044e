"""A real medinn server for the browser tests and the benchmarks: ``streamlit run app.py``.

::

    from tests.server import streamlit_server

    with streamlit_server(home) as server:  # a free local port, MEDINN_HOME=home
        page.goto(server.url)

The server runs headless on ``127.0.0.1`` with ``MEDINN_HOME`` set (and TensorFlow's logging
quiet); its output goes to a log file. The context manager waits for ``/_stcore/health`` to
answer, yields a :class:`Server`, and stops the process when the block ends. If the block
fails, the last lines of the log go to stderr; if the server does not start,
:class:`ServerError` says why with the log's last lines.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_TAIL = 3000  # characters of the log shown when something went wrong


class ServerError(RuntimeError):
    """The server did not start (the message ends with its log)."""


@dataclass(frozen=True)
class Server:
    """A running server: its address, process and log, and when it started and answered
    (``time.perf_counter()`` values, for benchmarks)."""

    url: str
    process: subprocess.Popen
    log_path: Path
    started: float
    healthy: float

    def log(self, last: int | None = LOG_TAIL) -> str:
        """The server's output so far (its ``last`` characters; all with None)."""
        text = self.log_path.read_text(errors="replace")
        return text if last is None else text[-last:]

    def print_log(self, last: int | None = LOG_TAIL) -> None:
        """Print :meth:`log` to stderr."""
        print(f"-- server log ({self.log_path}) --\n{self.log(last)}", file=sys.stderr)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    """Whether the Streamlit server at ``url`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def _environment(home: Path, env: Mapping[str, str | None]) -> dict[str, str]:
    merged: dict[str, str | None] = {
        **os.environ,
        "MEDINN_HOME": str(home),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **env,
    }
    return {name: value for name, value in merged.items() if value is not None}


def _stop(process: subprocess.Popen, timeout: float) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def streamlit_server(
    home: Path | str,
    *,
    root: Path | str = ROOT,
    env: Mapping[str, str | None] | None = None,
    args: Sequence[str] = (),
    log: Path | str | None = None,
    timeout: float = 120.0,
    poll: float = 0.05,
    stop_timeout: float = 20.0,
) -> Iterator[Server]:
    """Run ``streamlit run app.py`` of ``root`` on a free port until the block ends.

    Parameters
    ----------
    home : the model registry and settings folder (``MEDINN_HOME``).
    root : the medinn checkout to serve (default this one).
    env : variables to set over this process's environment; a value of None removes one
        (``{"MEDINN_PASSWORD_HASH": None}``: no password gate).
    args : more options for ``streamlit run`` (``("--server.fileWatcherType", "none")``).
    log : the file the server's output goes to; default ``home/server.log``.
    timeout : seconds to wait for the health check to answer.
    poll : seconds between two health checks (small when the start-up time is measured).
    stop_timeout : seconds the server has to stop before it is killed.

    Raises
    ------
    ServerError
        If the server exits or does not answer within ``timeout`` seconds.
    """
    home = Path(home)
    log_path = Path(log) if log is not None else home / "server.log"
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        *args,
    ]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=root,
            env=_environment(home, env or {}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = started + timeout
            while not healthy(url):
                if process.poll() is not None or time.perf_counter() > deadline:
                    why = "exited" if process.poll() is not None else f"timed out ({timeout:g} s)"
                    out.flush()
                    raise ServerError(
                        f"The server did not start: {why}.\n"
                        f"{log_path.read_text(errors='replace')[-LOG_TAIL:]}"
                    )
                time.sleep(poll)
            server = Server(url, process, log_path, started, time.perf_counter())
            try:
                yield server
            except Exception:
                out.flush()
                server.print_log()
                raise
        finally:
            _stop(process, stop_timeout)
