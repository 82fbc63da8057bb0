"""What production and the production-like stack share: secrets from the environment with no
default, a named database and broker, HTTPS-only cookies and headers."""

from django.core.exceptions import ImproperlyConfigured

from portal.env import env

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# No silent fallback to the embedded default: production names its database and its broker.
DATABASES = {"default": {**DATABASES["default"], **env.db("DATABASE_URL")}}  # noqa: F405
if not CELERY_BROKER_URL:  # noqa: F405
    raise ImproperlyConfigured("Set REDIS_URL (or CELERY_BROKER_URL): production needs a broker.")

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None  # noqa: F405
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
