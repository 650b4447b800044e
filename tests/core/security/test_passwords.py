"""Password hashes for the app's gate, and the limiter of failed attempts (no Streamlit)."""

import hmac
import subprocess
import sys

import pytest

from medinn_core.cli import main
from medinn_core.errors import ConfigError
from medinn_core.security import AttemptLimiter, check_hash, hash_password, verify_password

from ...conftest import ROOT

FAST = {"n": 2**12}  # the default (2**17, 128 MiB) takes about a second per check


def test_hash_and_verify():
    stored = hash_password("correct horse battery staple", **FAST)
    assert stored.split("$")[:4] == ["scrypt", "4096", "8", "1"]
    assert "correct horse" not in stored
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not verify_password("", stored)
    assert hash_password("same", **FAST) != hash_password("same", **FAST)  # salted


def test_the_default_cost_follows_owasp():
    stored = hash_password("pw")
    assert stored.startswith("scrypt$131072$8$1$")
    assert verify_password("pw", stored)


def test_comparison_is_constant_time(monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr("medinn_core.security._passwords.hmac.compare_digest", spy)
    assert not verify_password("wrong", hash_password("right", **FAST))
    assert len(seen) == 1 and len(seen[0][0]) == len(seen[0][1]) == 32


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("plaintext-password", "not in medinn's format"),
        ("bcrypt$4096$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "scheme 'bcrypt'"),
        ("scrypt$1000$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "power of two"),
        ("scrypt$4194304$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "out of range"),
        ("scrypt$4096$8$1$c2Fs$a2V5a2V5a2V5a2V5a2V5a2V5", "short salt"),
    ],
)
def test_malformed_hashes_are_refused(stored, message):
    with pytest.raises(ConfigError, match=message):
        check_hash(stored)
    with pytest.raises(ConfigError, match=message):
        verify_password("anything", stored)


def test_limiter_backs_off_exponentially_and_forgets():
    limiter = AttemptLimiter(free=3, base=2.0, cap=10.0, window=100.0)
    for t in range(3):
        assert limiter.wait(now=t) == 0
        limiter.failed(now=t)
    assert limiter.wait(now=2.0) == pytest.approx(2.0)  # the 4th attempt waits 2 s
    assert limiter.wait(now=4.0) == 0
    limiter.failed(now=4.0)
    assert limiter.wait(now=4.0) == pytest.approx(4.0)  # then 4 s
    limiter.failed(now=8.0)
    limiter.failed(now=16.0)
    assert limiter.wait(now=16.0) == pytest.approx(10.0)  # capped
    assert limiter.wait(now=200.0) == 0  # failures older than the window are forgotten
    assert limiter.failures == 0
    limiter.failed(now=300.0)
    limiter.reset()
    assert limiter.failures == 0


def test_cli_makes_a_hash_from_stdin(capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret phrase\n"))
    assert main(["hash-password", "--stdin"]) == 0
    stored = capsys.readouterr().out.strip()
    assert stored.startswith("scrypt$") and verify_password("s3cret phrase", stored)


def test_cli_never_takes_the_password_as_an_argument():
    out = subprocess.run(
        [sys.executable, "-m", "medinn_core", "hash-password", "s3cret"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr
