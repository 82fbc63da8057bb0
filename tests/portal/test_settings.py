"""The settings modules, loaded the way a deployment loads them: in a fresh process whose
environment holds only what the test gives it, so the suite's own settings cannot leak in."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Prints what a person running the portal would care about, after Django has loaded the settings.
PROBE = """
import json
import django
from django.conf import settings
django.setup()
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "sms": settings.DELIVERY_SMS_BACKEND,
    "email": settings.DELIVERY_EMAIL_BACKEND,
}))
"""

OUTBOX = "delivery.backends.outbox.OutboxBackend"


def bare_environment(**variables: str) -> dict[str, str]:
    """PATH and HOME, and nothing else but ``variables``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    env.update(variables)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def probe(env: dict[str, str]) -> dict:
    result = run(["-c", PROBE], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """A complete production environment on SQLite, with real message providers."""
    return bare_environment(
        DJANGO_SETTINGS_MODULE="portal.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="portal.example.edu",
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        REDIS_URL="redis://127.0.0.1:6379/0",
        SMS_BACKEND="twilio",
        EMAIL_BACKEND="smtp",
    )


# EMBEDDED DEFAULT ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variables",
    [{"DJANGO_SETTINGS_MODULE": "portal.settings.dev"}, {}],
    ids=["dev-settings", "no-settings-module"],
)
def test_embedded_default_passes_the_system_check(variables):
    result = run(["manage.py", "check"], bare_environment(**variables))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_embedded_default_uses_sqlite_in_process_tasks_and_the_outbox():
    settings = probe(bare_environment(DJANGO_SETTINGS_MODULE="portal.settings.dev"))

    assert settings["debug"] is True
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["broker"] == ""
    assert settings["eager"] is True
    assert settings["sms"] == OUTBOX
    assert settings["email"] == OUTBOX


def test_redis_url_turns_on_the_broker():
    settings = probe(
        bare_environment(
            DJANGO_SETTINGS_MODULE="portal.settings.dev", REDIS_URL="redis://127.0.0.1:6379/0"
        )
    )

    assert settings["broker"] == "redis://127.0.0.1:6379/0"
    assert settings["eager"] is False


def test_celery_broker_url_takes_precedence_over_redis_url():
    settings = probe(
        bare_environment(
            DJANGO_SETTINGS_MODULE="portal.settings.dev",
            REDIS_URL="redis://127.0.0.1:6379/0",
            CELERY_BROKER_URL="redis://127.0.0.1:6379/5",
        )
    )

    assert settings["broker"] == "redis://127.0.0.1:6379/5"
    assert settings["eager"] is False


# PRODUCTION ---------------------------------------------------------------------------------------


def test_production_passes_the_deployment_checks(production_env):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_ignores_a_debug_switch_in_the_environment(production_env):
    settings = probe({**production_env, "DEBUG": "true"})

    assert settings["debug"] is False


def test_production_uses_the_real_providers(production_env):
    settings = probe(production_env)

    assert settings["sms"] == "delivery.backends.twilio.TwilioBackend"
    assert settings["email"] == "delivery.backends.smtp.SMTPBackend"


def test_production_refuses_to_start_without_a_secret_key(production_env):
    del production_env["SECRET_KEY"]

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_short_secret_key(production_env):
    production_env["SECRET_KEY"] = "x" * 49

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert "SECRET_KEY must be at least 50 characters" in result.stderr


@pytest.mark.parametrize(
    ("variable", "message"), [("DATABASE_URL", "DATABASE_URL"), ("REDIS_URL", "broker")]
)
def test_production_refuses_to_fall_back_to_the_embedded_default(production_env, variable, message):
    del production_env[variable]

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_to_start_without_allowed_hosts(production_env):
    del production_env["ALLOWED_HOSTS"]

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMS_BACKEND", "outbox"),
        ("SMS_BACKEND", "locmem"),
        ("SMS_BACKEND", None),
        ("EMAIL_BACKEND", "outbox"),
        ("EMAIL_BACKEND", "locmem"),
        ("EMAIL_BACKEND", None),
    ],
)
def test_production_refuses_development_message_backends(production_env, variable, value):
    """A fake gateway in production would show codes to no one; an unset one defaults to it."""
    if value is None:
        del production_env[variable]
    else:
        production_env[variable] = value

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert variable in result.stderr


def test_production_refuses_an_unknown_message_backend(production_env):
    production_env["SMS_BACKEND"] = "twillio"

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert "twillio" in result.stderr
