"""Test settings: the embedded default, with fast hashing and the locmem delivery backend."""

from portal.env import env

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-use-anywhere-else-0123456789"  # noqa: S105
PASSWORD_HASHERS = [
    "portal.hashers.PortalArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Tasks run in-process even when REDIS_URL is set; the integration tests start a real worker
# and point Celery at Redis themselves.
CELERY_TASK_ALWAYS_EAGER = True
# Without a broker the portal sends from a background thread; the suite sends in the caller's
# thread instead, because most tests run inside a transaction that another thread cannot see.
# tests/delivery/test_inprocess.py and tests/portal/test_embedded_concurrency.py run the
# background thread of the embedded default.
DELIVERY_WITHOUT_BROKER = "inline"
DELIVERY_SMS_BACKEND = "delivery.backends.locmem.LocmemBackend"
DELIVERY_EMAIL_BACKEND = "delivery.backends.locmem.LocmemBackend"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": env.str("TEST_DATABASE_NAME", default="test_portal"),
    }
# Tests answer the CAPTCHA through the real form; the fixed-word shortcut is DEBUG-only.
CAPTCHA_TEST_MODE = False
# Serve static files from the finders, as in development; no collectstatic before tests.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Two-factor enrollment is required for everyone in production (TWOFACTOR_REQUIRED_FOR="all").
# Most tests are about something else and sign in people without devices; the two-factor tests
# set the production policy themselves (tests/twofactor/conftest.py).
TWOFACTOR_REQUIRED_FOR = ()
TWOFACTOR_REQUIRED_FOR_STAFF = False
# The portal-wide failure count is read on every attempt, so that a test sees its own failures
# and never a reading left by the one before.
ACCOUNTS_SIGNIN_PRESSURE_CHECK_SECONDS = 0
