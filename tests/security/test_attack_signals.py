"""Sign-in notices an attack: a CAPTCHA after repeated failures, and alerts to the desk.

Spraying across accounts and mass lockouts used to raise nothing. The tests spray over HTTP.
"""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import SecurityAlert, SignInFailure, User
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import captcha_answer, page_text, post_login

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")


def raw_login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def test_after_failures_from_one_address_the_sign_in_page_asks_for_a_captcha(client, settings):
    settings.ACCOUNTS_SIGNIN_CAPTCHA_IP_FAILURES = 5
    assert b'name="captcha_0"' not in client.get(LOGIN).content
    for attempt in range(5):
        raw_login(client, f"sprayed.{attempt}", "Winter2026!")
    page = client.get(LOGIN)
    assert b'name="captcha_0"' in page.content
    assert b"Type the characters in the picture" in page.content
    # Without the picture answered, not even the right password is checked: the post is sent
    # back to the page, which asks for it.
    victim = UserFactory()
    refused = raw_login(client, victim.username, DEFAULT_PASSWORD)
    assert "_auth_user_id" not in client.session
    assert refused.status_code == HTTPStatus.FOUND and refused["Location"] == LOGIN
    assert not SignInFailure.objects.filter(user=victim).exists()
    again = client.get(refused["Location"])
    assert b"the portal now asks for the characters in the picture" in again.content
    # Answered, the sign-in goes through.
    signed = raw_login(client, victim.username, DEFAULT_PASSWORD, **captcha_answer(again))
    assert signed.status_code == HTTPStatus.FOUND and signed["Location"] != LOGIN
    assert "_auth_user_id" in client.session


def test_after_failures_for_one_name_the_captcha_is_asked_for_that_name_from_anywhere(client):
    victim = UserFactory()
    for attempt in range(3):
        raw_login(client, victim.username, f"guess {attempt}", REMOTE_ADDR=f"10.0.0.{attempt}")
    page = raw_login(client, victim.username, DEFAULT_PASSWORD, REMOTE_ADDR="10.0.0.99")
    assert b'name="captcha_0"' in page.content
    assert "_auth_user_id" not in client.session


def test_the_captcha_rule_reads_the_same_for_a_name_that_has_no_account(client):
    victim = UserFactory()
    for attempt in range(3):
        raw_login(client, victim.username, f"guess {attempt}", REMOTE_ADDR=f"10.0.1.{attempt}")
        raw_login(client, "nobody.at.all", f"guess {attempt}", REMOTE_ADDR=f"10.0.2.{attempt}")
    known = raw_login(client, victim.username, "again", REMOTE_ADDR="10.0.3.1")
    unknown = raw_login(client, "nobody.at.all", "again", REMOTE_ADDR="10.0.3.2")
    assert page_text(known, victim.username) == page_text(unknown, "nobody.at.all")


def test_spraying_across_accounts_raises_one_alert_and_emails_the_desk(client, settings):
    settings.ACCOUNTS_ALERT_FAILED_SIGNINS_PER_HOUR = 12
    settings.ACCOUNTS_SIGNIN_CAPTCHA_IP_FAILURES = 1000
    victims = UserFactory.create_batch(20)
    for victim in victims:
        raw_login(client, victim.username, "Spring2026!")
    assert SecurityAlert.objects.filter(kind=SecurityAlert.Kind.FAILED_SIGNINS).count() == 1
    assert AuditEvent.objects.filter(event="security.alert").count() == 1
    mails = Message.objects.filter(
        recipient=django_settings.SERVICE_DESK_EMAIL, purpose="security_alert"
    )
    assert mails.count() == 1
    assert "Failed sign-ins" in mails.get().subject or "failed sign-ins" in mails.get().subject


def test_mass_lockouts_raise_an_alert(client, settings):
    settings.ACCOUNTS_ALERT_LOCKOUTS_PER_HOUR = 3
    settings.ACCOUNTS_LOCKOUT_THRESHOLD = 2
    for victim in UserFactory.create_batch(4):
        for attempt in range(2):
            post_login(client, victim.username, f"guess {attempt}", REMOTE_ADDR="10.1.0.1")
    assert User.objects.filter(locked_at__lte=timezone.now()).count() == 4
    assert SecurityAlert.objects.filter(kind=SecurityAlert.Kind.LOCKOUTS).count() == 1
