"""The one place that reads the process environment.

Settings modules import ``env`` and ``BASE_DIR`` from here; nothing else in the
code base looks at ``os.environ``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def embedded_secret_key() -> str:
    """A secret key for the embedded default, generated once into ``var/`` and reused.

    Only development and test settings call this; production requires ``SECRET_KEY``.
    """
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
