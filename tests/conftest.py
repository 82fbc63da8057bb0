"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


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
