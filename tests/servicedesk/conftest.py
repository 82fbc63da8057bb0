"""Fixtures of the console's tests: a service-desk agent, signed in or not."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from tests.factories import UserFactory


def staff_in(group: str | None, **extra):
    """A staff account in the console group ``group`` (None: in no group)."""
    account = UserFactory(is_staff=True, **extra)
    if group:
        account.groups.add(Group.objects.get(name=group))
    return account


@pytest.fixture
def agent():
    """A member of the "Service desk" group."""
    return staff_in("Service desk")


@pytest.fixture
def desk(client, agent):
    """The test client, signed in as ``agent``."""
    client.force_login(agent)
    return client
