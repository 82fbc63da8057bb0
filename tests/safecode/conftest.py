"""Fixtures for SafeCode: an account, its channels, a known code and a frozen clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from safecode.models import Channel

PHONE = "+16175550123"
PHONE_MASKED = "***-***-0123"
EMAIL = "jane.doe@gmail.com"
EMAIL_MASKED = "j***@gmail.com"
START = datetime(2025, 3, 4, 15, 0, 0, tzinfo=UTC)


def make_user(username: str = "jdoe", **extra):
    extra.setdefault("email", f"{username}@hms.harvard.edu")
    return get_user_model().objects.create_user(
        username=username, password="correct horse battery staple", **extra
    )


def make_channel(user, *, kind=Channel.Kind.PHONE, address=PHONE, status=Channel.Status.VERIFIED):
    return Channel.objects.create(
        user=user,
        kind=kind,
        address=address,
        region="US" if kind == Channel.Kind.PHONE else "",
        status=status,
        verified_at=timezone.now() if status == Channel.Status.VERIFIED else None,
    )


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def phone(user):
    return make_channel(user)


@pytest.fixture
def email_channel(user):
    return make_channel(user, kind=Channel.Kind.EMAIL, address=EMAIL)


@pytest.fixture
def clock(time_machine):
    """A frozen clock at ``START``; move it with ``clock.shift(seconds)``."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def codes(monkeypatch):
    """Make the issued codes predictable: 100001, 100002, ... in order; returns the list."""
    issued: list[str] = []
    counter = itertools.count(100001)

    def fake_generate_code() -> str:
        code = f"{next(counter):06d}"
        issued.append(code)
        return code

    monkeypatch.setattr("safecode.services.generate_code", fake_generate_code)
    return issued


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client
