"""The embedded default: runs with no environment at all (SQLite, in-process tasks, dev outbox)."""

from portal.env import embedded_secret_key, env

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="") or embedded_secret_key()
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
