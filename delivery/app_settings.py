"""Tunables of the delivery app, read lazily so ``override_settings`` works in tests.

Each can be set in Django settings under the name ``DELIVERY_<NAME>``. The backends themselves
are chosen by ``DELIVERY_SMS_BACKEND`` (texts and voice calls) and ``DELIVERY_EMAIL_BACKEND``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _get(name: str, default):
    return getattr(settings, f"DELIVERY_{name}", default)


class DeliverySettings:
    @property
    def SMS_BACKEND(self) -> str:
        """Dotted path of the backend class for text messages and voice calls."""
        return _get("SMS_BACKEND", "delivery.backends.outbox.OutboxBackend")

    @property
    def EMAIL_BACKEND(self) -> str:
        """Dotted path of the backend class for email."""
        return _get("EMAIL_BACKEND", "delivery.backends.outbox.OutboxBackend")

    @property
    def MAX_ATTEMPTS(self) -> int:
        """Provider calls a message may take, the first included, before it is marked failed."""
        return _get("MAX_ATTEMPTS", 6)

    @property
    def BACKOFF_BASE(self) -> float:
        """Seconds before the first retry; each further retry doubles it (with jitter)."""
        return float(_get("BACKOFF_BASE_SECONDS", 5))

    @property
    def BACKOFF_CAP(self) -> float:
        """The longest wait between two attempts, in seconds."""
        return float(_get("BACKOFF_CAP_SECONDS", 5 * 60))

    @property
    def LEASE(self) -> timedelta:
        """How long a claimed message belongs to the worker sending it.

        Longer than any provider timeout, so a slow send is never taken over; after it, a
        message left in ``sending`` (its worker was killed) can be claimed again.
        """
        return timedelta(seconds=_get("LEASE_SECONDS", 5 * 60))

    @property
    def SWEEP_AGE(self) -> timedelta:
        """A queued message untouched this long is handed to the broker again by the sweep."""
        return timedelta(seconds=_get("SWEEP_AGE_SECONDS", 2 * 60))

    @property
    def SWEEP_BATCH(self) -> int:
        """Messages one sweep re-enqueues at most."""
        return _get("SWEEP_BATCH", 500)

    @property
    def WITHOUT_BROKER(self) -> str:
        """How messages leave when no broker is configured (Celery runs tasks eagerly).

        ``"thread"`` (the embedded default): a background thread of the portal's own process
        sends them, retries them and sweeps, so that no request ever waits for a provider.
        ``"inline"``: the caller's thread sends before returning; only the test suite uses it,
        so that a test can read what was sent as soon as its request returns.
        """
        mode = _get("WITHOUT_BROKER", "thread")
        if mode not in ("thread", "inline"):
            raise ImproperlyConfigured(
                f'DELIVERY_WITHOUT_BROKER must be "thread" or "inline"; got {mode!r}.'
            )
        return mode

    @property
    def INPROCESS_SWEEP_INTERVAL(self) -> float:
        """Seconds between two sweeps by the background thread (there is no beat without a
        broker); the same cadence as the beat schedule's sweep."""
        return float(_get("INPROCESS_SWEEP_SECONDS", 60))

    @property
    def INPROCESS_EXIT_WAIT(self) -> float:
        """At process exit, how long the background thread may still send the messages that are
        due; anything left stays queued in the database for the next sweep."""
        return float(_get("INPROCESS_EXIT_WAIT_SECONDS", 5))


app_settings = DeliverySettings()
