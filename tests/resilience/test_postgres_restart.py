"""PostgreSQL restarts under a running stack: /healthz says 503 while it is down (promptly: a
load balancer must not wait), and the same web processes serve again once it is back.

The stack's database lives on the private cluster (port 5441, tests/resilience/conftest.py)
that the test stops with ``pg_ctl stop -m fast`` (connections are cut, as in a failover or a
restart for an upgrade) and starts again; the machine's shared PostgreSQL is never touched.
"""

from __future__ import annotations

import pytest
import requests

from tests.resilience.services import CLIENT_TIMEOUT, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(portal_stack):
    return portal_stack


@pytest.fixture
def cluster(postgres_cluster):
    return postgres_cluster


def get(stack, path: str) -> requests.Response:
    """A request that must be answered within the client's timeout: a hang fails the test."""
    return requests.get(f"{stack.url}{path}", timeout=CLIENT_TIMEOUT, allow_redirects=False)


@pytest.fixture
def postgres_down(cluster, stack):
    """PostgreSQL stopped for the test's body, and always started again after it."""
    assert get(stack, "/healthz").status_code == 200
    cluster.stop("fast")
    try:
        yield
    finally:
        cluster.start()
        wait_for(lambda: stack.healthz() == 200, "the stack to see PostgreSQL again", timeout=30)


def test_healthz_is_503_while_postgres_is_down_and_200_again_with_the_same_web_workers(
    cluster, stack
):
    workers = stack.web_worker_pids()
    assert len(workers) == 2
    # Each worker holds a persistent connection (CONN_MAX_AGE) that the restart will cut.
    for _ in range(6):
        assert get(stack, "/healthz").status_code == 200

    cluster.stop("fast")
    try:
        # Every worker answers, several times, and none of them hangs or fails with a 500.
        answers = [get(stack, "/healthz") for _ in range(6)]
        assert [answer.status_code for answer in answers] == [503] * 6
        assert {answer.json()["database"] for answer in answers} == {"unreachable"}
    finally:
        cluster.start()

    wait_for(lambda: stack.healthz() == 200, "/healthz to answer 200 again", timeout=30)
    assert [get(stack, "/healthz").status_code for _ in range(6)] == [200] * 6
    assert stack.web_worker_pids() == workers, "the web processes were restarted"
    signin = get(stack, "/login/")
    assert signin.status_code == 200
    assert 'name="password"' in signin.text
    assert stack.processes["web"].poll() is None


def test_a_page_that_needs_no_database_still_serves_while_postgres_is_down(stack, postgres_down):
    home = get(stack, "/")
    assert home.status_code == 200
    assert "Welcome to the HMS Account Portal" in home.text


def test_pages_answer_503_not_500_while_postgres_is_down(stack, postgres_down):
    answers = {path: get(stack, path).status_code for path in ("/login/", "/unlock/")}
    assert answers == {"/login/": 503, "/unlock/": 503}
