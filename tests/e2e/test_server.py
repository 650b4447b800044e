"""The server helper the browser tests and the benchmarks share (``tests/server.py``)."""

from __future__ import annotations

import pytest

from ..server import ServerError, healthy, streamlit_server


def test_the_running_server_answers_its_health_check(server):
    assert healthy(server)


def test_a_server_that_cannot_start_says_why_with_its_log(tmp_path):
    with (
        pytest.raises(ServerError, match=r"(?s)The server did not start: exited\..*no-such-option"),
        streamlit_server(tmp_path, root=tmp_path, args=("--no-such-option",), timeout=60),
    ):
        pass
    assert (tmp_path / "server.log").exists()
