"""Password hashes for the app's optional password gate, and a limiter for failed attempts.

A hash is ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key in URL-safe base64): scrypt from
the standard library with OWASP's parameters (n = 2**17, r = 8, p = 1, 128 MiB per check), so
a leaked hash is slow to attack. Checks compare in constant time. Make a hash with
``python -m medinn_core hash-password``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections import deque

from medinn_core.errors import ConfigError

SCHEME = "scrypt"
N, R, P = 2**17, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_N, MAX_N = 2**12, 2**20  # a hash outside these is a typo or an attack on the server
MAX_PASSWORD_BYTES = 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    raw = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    return hashlib.scrypt(
        raw, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p, dklen=KEY_BYTES
    )  # maxmem: twice what scrypt needs; OpenSSL's default (32 MiB) is too small


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A salted scrypt hash of ``password`` in medinn's format.

    Raises
    ------
    ConfigError
        If the password is empty or the cost parameters are out of range.
    """
    if not password:
        raise ConfigError("The password is empty; choose a long passphrase.")
    _check_cost(n, r, p)
    salt = os.urandom(SALT_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(_derive(password, salt, n, r, p))}"


def _check_cost(n: int, r: int, p: int) -> None:
    if not (MIN_N <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ConfigError(
            f"scrypt parameters n={n}, r={r}, p={p} are out of range: n must be a power of two "
            f"from {MIN_N} to {MAX_N}, r from 1 to 32, p from 1 to 16."
        )


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        scheme, n, r, p, salt, key = stored.strip().split("$")
        if scheme != SCHEME:
            raise ValueError(f"scheme {scheme!r}")
        parsed = int(n), int(r), int(p), _unb64(salt), _unb64(key)
    except (ValueError, binascii.Error) as exc:
        raise ConfigError(
            f"The password hash is not in medinn's format ({exc}): expected "
            "scrypt$<n>$<r>$<p>$<salt>$<key>. Make one with "
            "'python -m medinn_core hash-password'."
        ) from None
    _check_cost(*parsed[:3])
    if len(parsed[3]) < 8 or len(parsed[4]) < 16:
        raise ConfigError("The password hash has a short salt or key; make it again.")
    return parsed


def check_hash(stored: str) -> None:
    """Check that a configured hash can be used, without a password.

    Raises
    ------
    ConfigError
        If the hash is malformed or its parameters are out of range.
    """
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time.

    Raises
    ------
    ConfigError
        If ``stored`` is malformed (the gate then stays closed).
    """
    n, r, p, salt, key = _parse(stored)
    candidate = _derive(password or "", salt, n, r, p)
    return hmac.compare_digest(candidate, key) and bool(password)


class AttemptLimiter:
    """Exponential back-off after repeated failures, forgetting failures after ``window`` s.

    The first ``free`` failures cost nothing; after that each attempt waits ``base * 2**k``
    seconds (k = failures beyond ``free``), at most ``cap``. Thread-safe; ``lock`` lets a
    caller hold it across a check, a password check and the failure that follows.
    """

    def __init__(
        self, free: int = 5, base: float = 1.0, cap: float = 300.0, window: float = 900.0
    ) -> None:
        self.free, self.base, self.cap, self.window = free, base, cap, window
        self.lock = threading.RLock()
        self._failures: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self.window:
            self._failures.popleft()

    def wait(self, now: float | None = None) -> float:
        """Seconds to wait before the next attempt is allowed (0: now)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            self._forget(now)
            extra = len(self._failures) - self.free
            if extra < 0:
                return 0.0
            delay = min(self.base * 2.0**extra, self.cap)
            return max(0.0, self._failures[-1] + delay - now)

    def failed(self, now: float | None = None) -> None:
        with self.lock:
            self._failures.append(time.monotonic() if now is None else now)

    def reset(self) -> None:
        with self.lock:
            self._failures.clear()

    @property
    def failures(self) -> int:
        with self.lock:
            return len(self._failures)
