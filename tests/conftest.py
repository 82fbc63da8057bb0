"""Fixtures shared by the whole suite, and how it is spread over two processes.

The suite runs in two pytest-xdist processes (``--numprocesses=auto`` in pyproject.toml), each
with its own test database. Tests are handed out one by one in pytest-django's order
(``--no-loadscope-reorder``), which runs the tests that flush the database
(``transaction=True``) after the ones that need what the migrations made, such as the
console's groups. The modules in ``WHOLE`` start processes on
fixed ports, flush a Redis database of their own or start an expensive server once per module,
so each runs whole in one process.
"""

from __future__ import annotations

import pytest

# Node-id prefixes that run whole in one process. The fault tests share one private Redis,
# PostgreSQL and stack port, so they are one unit.
WHOLE = {
    "tests/resilience/": "resilience",
    "tests/integration/test_celery_worker.py": "celery_worker",
    "tests/integration/test_load_smoke.py": "load_smoke",
    "tests/portal/test_bench_smoke.py": "bench_smoke",
    "tests/portal/test_embedded_concurrency.py": "embedded",
    "tests/portal/test_compose.py": "compose",
}


def _unit(nodeid: str) -> str | None:
    for prefix, unit in WHOLE.items():
        if nodeid.startswith(prefix):
            return unit
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Each unit of ``WHOLE`` together, where its last test falls in pytest-django's order:
    a unit that mixes tests on the migrated database with tests that flush it then runs after
    every test of the process that needs the migrations' data."""
    units: dict[str, list] = {}
    for item in items:
        unit = _unit(item.nodeid)
        if unit is not None:
            units.setdefault(unit, []).append(item)
    if not units:
        return
    last = {unit: members[-1] for unit, members in units.items()}
    ordered = []
    for item in items:
        unit = _unit(item.nodeid)
        if unit is None:
            ordered.append(item)
        elif item is last[unit]:
            ordered.extend(units[unit])
    items[:] = ordered


def pytest_xdist_make_scheduler(config, log):
    """xdist's ``loadgroup``, keyed on where a test lives rather than on a marker: it reads its
    ``xdist_group`` marker from a node-id suffix that pytest 9.2 no longer keeps."""
    from xdist.scheduler import LoadScopeScheduling

    class WholeModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid) or nodeid

    return WholeModules(config, log)


@pytest.fixture(autouse=True)
def _locmem_outbox():
    """Every test starts with an empty in-memory outbox."""
    from delivery.backends import locmem

    locmem.outbox.clear()
    yield locmem.outbox
    locmem.outbox.clear()


@pytest.fixture
def outbox(_locmem_outbox):
    """Messages the delivery service handed to the (in-memory) provider, oldest first."""
    return _locmem_outbox
