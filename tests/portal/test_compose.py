"""The production deployment files: docker-compose.yml, the Dockerfile and .env.example.

No container engine is needed: the files are read as data, and the commands they hold (the web
container's start command, its health check, the image's gunicorn command) are run here against
the portal with production settings.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")
PRODUCTION_SETTINGS = "portal.settings.production"

# Read by the settings but meaningless in a production .env: production forces DEBUG off,
# CAPTCHA_TEST_MODE is refused without DEBUG, and TEST_DATABASE_NAME only names the database the
# test suite creates.
NOT_FOR_PRODUCTION = {"DEBUG", "CAPTCHA_TEST_MODE", "TEST_DATABASE_NAME"}

ENV_CALL = re.compile(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


# READING THE FILES --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example() -> tuple[dict[str, str], set[str]]:
    """The variables .env.example sets, and the names it documents (set or commented out)."""
    assigned: dict[str, str] = {}
    documented: set[str] = set()
    for line in (REPO / ".env.example").read_text().splitlines():
        match = ENV_LINE.match(line.strip())
        if not match:
            continue
        documented.add(match[1])
        if not line.startswith("#"):
            assigned[match[1]] = match[2]
    return assigned, documented


def settings_variables() -> set[str]:
    """Every environment variable a settings module reads."""
    names: set[str] = set()
    for module in (REPO / "portal" / "settings").glob("*.py"):
        names.update(ENV_CALL.findall(module.read_text()))
    return names


def compose_variables() -> set[str]:
    return set(COMPOSE_VARIABLE.findall((REPO / "docker-compose.yml").read_text()))


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return environment


def command_text(command: str | list[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def uninterpolated(text: str) -> str:
    """A compose string as the container receives it (``$$`` is compose's escaped ``$``)."""
    return text.replace("$$", "$")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_cmd() -> list[str]:
    commands = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    return json.loads(commands[-1])


# COMPOSE ------------------------------------------------------------------------------------------


def test_compose_defines_the_five_services(services):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_postgres_is_checked_and_keeps_its_data(services):
    postgres = services["postgres"]

    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in command_text(postgres["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


def test_redis_is_checked(services):
    redis = services["redis"]

    assert redis["image"].startswith("redis:")
    assert "redis-cli ping" in command_text(redis["healthcheck"]["test"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_application_containers_run_the_production_settings(services, name):
    service = services[name]

    assert environment_of(service)["DJANGO_SETTINGS_MODULE"] == PRODUCTION_SETTINGS
    env_files = service["env_file"]
    assert ".env" in ([env_files] if isinstance(env_files, str) else env_files)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_application_containers_wait_for_healthy_database_and_broker(services, name):
    depends_on = services[name]["depends_on"]

    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_web_migrates_before_serving(services):
    command = command_text(services["web"]["command"])

    assert "manage.py migrate --noinput" in command
    assert "gunicorn portal.wsgi" in command
    assert command.index("migrate") < command.index("gunicorn")


def test_web_health_check_asks_healthz(services):
    test = services["web"]["healthcheck"]["test"]

    assert "/healthz" in command_text(test)


@pytest.mark.parametrize("role", ["worker", "beat"])
def test_celery_roles(services, role):
    assert command_text(services[role]["command"]).startswith(f"celery -A portal {role}")


# .env.example -------------------------------------------------------------------------------------


def test_every_compose_variable_is_in_the_env_example():
    _, documented = env_example()

    assert compose_variables() - documented == set()


def test_env_example_sets_what_production_requires():
    assigned, _ = env_example()

    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"} <= set(assigned)
    assert assigned.get("REDIS_URL") or assigned.get("CELERY_BROKER_URL")
    assert assigned["SMS_BACKEND"] == "twilio"
    assert assigned["EMAIL_BACKEND"] == "smtp"


def test_env_example_ships_no_secret():
    """Secrets are left empty, so that a copied example refuses to start until filled in."""
    assigned, _ = env_example()

    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "TWILIO_AUTH_TOKEN", "EMAIL_HOST_PASSWORD"):
        assert assigned[name] == "", name


def test_env_example_leaves_no_empty_broker_url():
    """An empty CELERY_BROKER_URL would mean "no broker": messages sent from the web process."""
    assigned, _ = env_example()

    assert assigned.get("CELERY_BROKER_URL", "unset") != ""


def test_env_example_database_is_the_compose_postgres(services):
    assigned, _ = env_example()
    url = urlsplit(assigned["DATABASE_URL"])
    postgres = environment_of(services["postgres"])

    assert url.scheme in {"postgres", "postgresql"}
    assert url.hostname == "postgres"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_env_example_sets_only_variables_that_are_read():
    """Commented-out entries document optional variables and are not held to this."""
    assigned, _ = env_example()

    assert set(assigned) - settings_variables() - compose_variables() == set()


def test_env_example_lists_every_variable_the_settings_read():
    _, documented = env_example()

    assert settings_variables() - NOT_FOR_PRODUCTION - documented == set()


def test_readme_documents_every_variable_the_settings_read():
    readme = (REPO / "README.md").read_text()
    missing = {name for name in settings_variables() if f"`{name}`" not in readme}

    assert missing == set()


# DOCKERFILE ---------------------------------------------------------------------------------------


def test_image_is_python_311_or_newer():
    base = next(rest for keyword, rest in dockerfile_instructions() if keyword == "FROM")
    match = re.match(r"python:3\.(\d+)", base)

    assert match, base
    assert int(match[1]) >= 11


def test_image_runs_as_an_unprivileged_user():
    users = [rest for keyword, rest in dockerfile_instructions() if keyword == "USER"]

    assert users
    assert users[-1] not in {"root", "0"}


def test_image_serves_gunicorn_with_the_portal():
    command = " ".join(dockerfile_cmd())

    assert "gunicorn portal.wsgi" in command
    assert "0.0.0.0:${PORT:-8000}" in command


def test_docker_context_leaves_out_secrets_and_local_state():
    ignored = set((REPO / ".dockerignore").read_text().split())

    assert {".env", ".git", ".venv", "var"} <= ignored


# THE COMMANDS, RUN --------------------------------------------------------------------------------


def free_port() -> int:
    """A port below Linux's ephemeral range (32768-60999), so that no outgoing connection of
    another test can take it between this check and the server's bind, as one did."""
    for port in random.sample(range(20_000, 30_000), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - where the container command binds
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 30000")


@pytest.fixture
def container_env(tmp_path) -> dict[str, str]:
    """What a web container's environment would hold, on SQLite and a free local port."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": PRODUCTION_SETTINGS,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.edu,.example.edu",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        # A broker nobody listens on: the health check reports it and still answers 200.
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SMS_BACKEND": "twilio",
        "EMAIL_BACKEND": "smtp",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
    }


def health_check(services, env) -> subprocess.CompletedProcess[str]:
    """The web container's health check, with this interpreter standing in for the image's."""
    test = services["web"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1] == "python"
    return subprocess.run(
        [sys.executable, *[uninterpolated(arg) for arg in test[2:]]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class Server:
    def __init__(self, argv: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def stop(self) -> str:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.communicate()[0]


def wait_until_healthy(server: Server, services, env, attempts: int = 120):
    """Run the health check until it passes; None if the server died or never became healthy."""
    for _ in range(attempts):
        result = health_check(services, env)
        if result.returncode == 0:
            return result
        if server.process.poll() is not None:
            return None
        time.sleep(0.5)
    return None


def test_web_command_migrates_serves_and_passes_its_health_check(services, container_env):
    command = services["web"]["command"]
    argv = [uninterpolated(arg) for arg in command] if isinstance(command, list) else command
    server = Server(argv, container_env)
    try:
        healthy = wait_until_healthy(server, services, container_env)
    finally:
        output = server.stop()

    assert healthy is not None, output
    assert "Apply all migrations" in output


def test_health_check_fails_when_the_database_is_down(services, container_env):
    """The image's own command, against a database nobody listens on: the container is unhealthy."""
    container_env["DATABASE_URL"] = f"postgres://portal@127.0.0.1:{free_port()}/portal"
    server = Server(dockerfile_cmd(), container_env)
    try:
        port = int(container_env["PORT"])
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.process.poll() is None, server.stop()
                time.sleep(0.5)
        result = health_check(services, container_env)
    finally:
        output = server.stop()

    assert result.returncode != 0, output
    assert "503" in result.stderr
