"""Password hashing parameters, and what a verification that must not run costs instead.

Django's Argon2 hasher uses parallelism 8, which on a two-core server makes concurrent sign-ins
queue behind each other. OWASP's Password Storage Cheat Sheet recommends Argon2id with
m=19 MiB, t=2, p=1; this subclass pins those parameters. Existing hashes with other parameters
are upgraded on the next successful sign-in (``must_update``).

Some answers must take as long as a verification without having anything to verify: an unknown
name, the old-password trap of an account with a short history. ``verification_wait`` spends that
time asleep, as long as this process's verifications have lately taken, instead of hashing a
dummy password: the answer takes the same time, and a spray of unknown names costs no core.
"""

from __future__ import annotations

import threading
import time

from django.contrib.auth.hashers import Argon2PasswordHasher


class VerificationClock:
    """How long one verification takes in this process: a moving average of the real ones."""

    SMOOTHING = 0.2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.typical: float | None = None

    def record(self, seconds: float) -> None:
        with self._lock:
            if self.typical is None:
                self.typical = seconds
            else:
                self.typical += self.SMOOTHING * (seconds - self.typical)


verification_clock = VerificationClock()


class PortalArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1

    def verify(self, password: str, encoded: str) -> bool:
        started = time.perf_counter()
        try:
            return super().verify(password, encoded)
        finally:
            verification_clock.record(time.perf_counter() - started)


def verification_wait() -> None:
    """Take as long as one password verification takes here, without using a core.

    The first time in a process, before any verification has been timed, it times one of a
    password that cannot match, which gives the clock its first reading.
    """
    typical = verification_clock.typical
    if typical is None:
        _first_reading()
        return
    time.sleep(typical)


def _first_reading() -> None:
    hasher = PortalArgon2PasswordHasher()
    encoded = hasher.encode("portal timing sample", hasher.salt())
    started = time.perf_counter()
    Argon2PasswordHasher.verify(hasher, "no password matches this", encoded)
    verification_clock.record(time.perf_counter() - started)
