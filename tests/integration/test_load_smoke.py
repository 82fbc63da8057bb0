"""A short run of the load test (bench/load/) against a real stack, with the same checks.

Fourteen simulated users for 20 seconds (eight people, half of whom change their password with
a SafeCode, and the two attackers of three users each) on port 8250, against its own database
``test_portal_load_smoke`` on the PostgreSQL server of DATABASE_URL (dropped at the end) and
Redis database 4 of REDIS_URL's server (flushed first). Needs a PostgreSQL DATABASE_URL and
REDIS_URL, as CI has.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.load.__main__ import Options, run

PORT = 8250
DATABASE = "test_portal_load_smoke"
REDIS_DB = 4

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL")
        or not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs REDIS_URL and a PostgreSQL DATABASE_URL for a real stack",
    ),
]


def _redis_url() -> str:
    parts = urlsplit(os.environ["REDIS_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


def test_a_short_load_passes_the_load_checks(tmp_path):
    result = run(
        Options(
            users=14,
            spawn_rate=14,
            run_time="20s",
            port=PORT,
            database=DATABASE,
            server=os.environ["DATABASE_URL"],
            redis_url=_redis_url(),
            out=tmp_path,
            report=tmp_path / "LOAD.md",
            change_share=0.5,
            think=(0.5, 1.5),
            pause=(1.0, 3.0),
            targets=5,
            directory=200,
            drop_database=True,
        )
    )
    for name in (
        "no 5xx",
        "every request answered",
        "no step of a person failed",
        "every code sent exactly once",
        "every other message sent exactly once",
        "attacker throttled",
        "attacker with CAPTCHAs solved throttled",
        "nobody locked out",
    ):
        check = result.check(name)
        assert check.passed, f"{name}: {check.figures}"
    signed_in = result.facts["signed_in"]
    assert signed_in >= 8, f"only {signed_in} sign-ins completed"
    report = (tmp_path / "LOAD.md").read_text()
    assert "| sign-in: passcode |" in report
    assert "| change: code arrives (text, outbox) |" in report or (
        "| change: code arrives (email, outbox) |" in report
    )
