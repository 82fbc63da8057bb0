"""The desk's password-reset link: sent to a verified SafeCode contact, single use, one hour,
asks for the second factor of an account with two-factor, unlocks, tells the person, and never
signs anyone in."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailToken
from accounts.services.reset_link import RESET_LINK_TTL, reset_link_send
from audit.models import AuditEvent
from safecode.models import Channel
from tests.accounts.pages import FORGOT_DONE, FORGOT_NEW
from tests.factories import (
    DEFAULT_PASSWORD,
    PHONE,
    SAFECODE_EMAIL,
    ChannelFactory,
    UserFactory,
    lock,
)
from tests.twofactor.conftest import MOBILE_NUMBER, app_passcode, make_device

pytestmark = pytest.mark.django_db

CHECK = reverse("accounts:password_forgot_check")
RESET = reverse("twofactor:reset")
NEW_PASSWORD = "lantern by the old quay"
NEW_PASSWORDS = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}


@pytest.fixture
def account():
    user = UserFactory()
    ChannelFactory(user=user)
    ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    return user


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def act(client, account, reason="Caller asked, verified by callback", **data):
    fields = {"send_reset_link-reason": reason}
    fields.update({f"send_reset_link-{k}": v for k, v in data.items()})
    return client.post(
        reverse("admin:servicedesk_act", args=[account.pk, "send_reset_link"]), fields
    )


def link_in(outbox, recipient: str) -> str:
    links = [
        found.group(0)
        for m in outbox
        if m.recipient == recipient
        and (found := re.search(r"https?://\S+/password/link/[A-Za-z0-9_-]+/", m.body))
    ]
    assert links, f"no link was sent to {recipient}"
    return links[-1]


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def send(account, agent, capture, kind=Channel.Kind.PHONE) -> str:
    channel = Channel.objects.get(user=account, kind=kind, status=Channel.Status.VERIFIED)
    with capture(execute=True):
        reset_link_send(user=account, channel_id=channel.pk, agent=agent)
    from delivery.backends.locmem import outbox

    return path_of(link_in(outbox, channel.address))


def test_the_desk_sends_a_link_by_text_audited_and_told(
    desk, agent, account, outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(desk, account, channel="phone")
    assert response.status_code == HTTPStatus.FOUND and response.url == page(account)
    link = link_in(outbox, PHONE)
    token = link.rstrip("/").rsplit("/", 1)[1]
    record = EmailToken.objects.get(purpose=EmailToken.Purpose.PASSWORD_RESET_LINK)
    assert record.user == account and token not in record.token_hash
    assert abs(record.expires_at - record.created_at - RESET_LINK_TTL) < timedelta(seconds=1)
    done = AuditEvent.objects.get(event="desk.send_reset_link")
    assert done.actor == agent and "•••-•••-0123" in done.detail["done"]
    sent = AuditEvent.objects.get(event="password_reset_link.sent")
    assert token not in str(sent.detail) and sent.detail["channel"] == "***-***-0123"
    notices = [m for m in outbox if m.recipient == account.notice_email]
    assert notices and "password-reset link" in notices[0].body and token not in notices[0].body


def test_the_link_can_go_by_email(desk, account, outbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        act(desk, account, channel="email")
    assert link_in(outbox, SAFECODE_EMAIL)


def test_opening_sets_a_new_password_unlocks_and_signs_nobody_in(
    agent, account, outbox, django_capture_on_commit_callbacks
):
    lock(account)
    path = send(account, agent, django_capture_on_commit_callbacks)
    person = Client()
    landing = person.get(path)
    assert landing.status_code == HTTPStatus.OK and b"Continue" in landing.content
    assert person.get(path).status_code == HTTPStatus.OK, "a GET does not use the link"
    opened = person.post(path)
    assert opened.status_code == HTTPStatus.FOUND and opened.url == CHECK
    assert person.get(CHECK).url == FORGOT_NEW, "no device: straight to the new password"
    with django_capture_on_commit_callbacks(execute=True):
        done = person.post(FORGOT_NEW, NEW_PASSWORDS)
    assert done.url == FORGOT_DONE
    account.refresh_from_db()
    assert account.check_password(NEW_PASSWORD) and not account.is_locked
    assert "_auth_user_id" not in person.session
    assert AuditEvent.objects.filter(event="password_reset_link.opened", subject=account).exists()
    assert any("password" in m.body.lower() for m in outbox if m.recipient == account.notice_email)


def test_the_link_works_once(agent, account, django_capture_on_commit_callbacks):
    path = send(account, agent, django_capture_on_commit_callbacks)
    assert Client().post(path).status_code == HTTPStatus.FOUND
    again = Client()
    assert again.get(path).status_code == HTTPStatus.NOT_FOUND
    used = again.post(path)
    assert used.status_code == HTTPStatus.NOT_FOUND and b"This link is not valid" in used.content
    assert again.get(FORGOT_NEW).status_code == HTTPStatus.FOUND  # no run was started


def test_the_link_expires_after_one_hour(agent, account, django_capture_on_commit_callbacks):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        before = send(account, agent, django_capture_on_commit_callbacks)
    with time_machine.travel(start + RESET_LINK_TTL - timedelta(seconds=1), tick=False):
        assert Client().post(before).url == CHECK
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        after = send(account, agent, django_capture_on_commit_callbacks)
    with time_machine.travel(start + timedelta(minutes=2) + RESET_LINK_TTL, tick=False):
        assert Client().post(after).status_code == HTTPStatus.NOT_FOUND
    with time_machine.travel(
        start + timedelta(minutes=2) + RESET_LINK_TTL + timedelta(seconds=1), tick=False
    ):
        assert Client().post(after).status_code == HTTPStatus.NOT_FOUND
    account.refresh_from_db()
    assert account.check_password(DEFAULT_PASSWORD)


def test_a_newer_link_replaces_the_older(agent, account, django_capture_on_commit_callbacks):
    first = send(account, agent, django_capture_on_commit_callbacks)
    second = send(account, agent, django_capture_on_commit_callbacks, kind=Channel.Kind.EMAIL)
    assert Client().post(first).status_code == HTTPStatus.NOT_FOUND
    assert Client().post(second).status_code == HTTPStatus.FOUND


def test_an_account_with_two_factor_is_asked_for_its_second_factor(
    agent, account, django_capture_on_commit_callbacks
):
    device = make_device(account, name="My iPhone", number=MOBILE_NUMBER)
    path = send(account, agent, django_capture_on_commit_callbacks)
    person = Client()
    assert person.post(path).url == CHECK
    assert person.get(CHECK).url == RESET
    # The link alone never reaches the new password.
    assert person.post(FORGOT_NEW, NEW_PASSWORDS).url == CHECK
    wrong = person.post(RESET, {"device": device.pk, "method": "passcode", "code": "000000"})
    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    account.refresh_from_db()
    assert account.check_password(DEFAULT_PASSWORD)
    # django-otp makes the device wait a moment after a wrong passcode.
    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=False):
        passed = person.post(
            RESET, {"device": device.pk, "method": "passcode", "code": app_passcode(device)}
        )
        assert passed.url == CHECK and person.get(CHECK).url == FORGOT_NEW
        person.post(FORGOT_NEW, NEW_PASSWORDS)
    account.refresh_from_db()
    assert account.check_password(NEW_PASSWORD)
    assert "_auth_user_id" not in person.session


def test_a_bypass_code_stands_in_for_the_second_factor(
    agent, account, django_capture_on_commit_callbacks
):
    from twofactor.bypass import bypass_codes_issue

    make_device(account, name="My iPhone", number=MOBILE_NUMBER)
    (code,) = bypass_codes_issue(user=account, agent=agent, count=1)
    path = send(account, agent, django_capture_on_commit_callbacks)
    person = Client()
    person.post(path)
    assert person.get(CHECK).url == RESET
    passed = person.post(RESET, {"action": "bypass", "bypass-code": code})
    assert passed.url == CHECK and person.get(CHECK).url == FORGOT_NEW
    person.post(FORGOT_NEW, NEW_PASSWORDS)
    account.refresh_from_db()
    assert account.check_password(NEW_PASSWORD)


def test_a_tampered_or_unknown_link_is_refused(client):
    for token in ("x", "A" * 43, "A" * 200):
        response = client.post(reverse("accounts:reset_link", args=[token]))
        assert response.status_code == HTTPStatus.NOT_FOUND


def test_without_the_permission_it_is_forbidden(client, account, outbox):
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_deskaccount"))
    client.force_login(agent)
    assert act(client, account, channel="phone").status_code == HTTPStatus.FORBIDDEN
    assert not EmailToken.objects.exists() and not outbox


def test_it_needs_a_verified_safecode_contact(desk):
    bare = UserFactory()
    assert 'id="act-send_reset_link"' not in desk.get(page(bare)).content.decode()
    act(desk, bare, channel="phone")
    assert not EmailToken.objects.exists()


def test_links_an_hour_are_capped(agent, account, django_capture_on_commit_callbacks):
    from accounts.services.reset_link import LINKS_PER_HOUR, ResetLinkRefused

    for _ in range(LINKS_PER_HOUR):
        send(account, agent, django_capture_on_commit_callbacks)
    with pytest.raises(ResetLinkRefused):
        send(account, agent, django_capture_on_commit_callbacks)
