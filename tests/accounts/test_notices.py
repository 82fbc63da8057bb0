"""Notices reach the account's notice address and, where a change could be an attacker's, every
SafeCode contact, each once; text messages read as before, from their templates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.services.notices import EMAIL, Reach, notice_send
from delivery.models import Message
from delivery.services import sms_enqueue
from safecode.models import Channel
from tests.factories import PHONE, SAFECODE_EMAIL, ChannelFactory, UserFactory

pytestmark = pytest.mark.django_db


def sent(user: User) -> dict[str, Message]:
    return {m.recipient: m for m in Message.objects.filter(user=user)}


@pytest.fixture
def user() -> User:
    account = UserFactory()
    ChannelFactory(user=account)
    ChannelFactory(user=account, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    return account


# Where a notice goes -------------------------------------------------------------------------


def test_the_notice_address_is_the_contact_email_else_the_directorys():
    account = UserFactory(email="pat@partners.org")
    assert account.notice_email == "pat@partners.org"
    account.email = ""
    assert account.notice_email == account.person.email
    assert UserFactory(person=None, email="").notice_email == ""


def test_an_account_notice_goes_to_the_notice_address_only(user):
    assert notice_send(user=user, name="accounts/old_password_used") == 1
    assert set(sent(user)) == {user.email}


def test_an_account_without_any_address_is_told_nothing():
    account = UserFactory(person=None, email="")
    assert notice_send(user=account, name="accounts/old_password_used") == 0
    assert not Message.objects.exists()


def test_a_lock_is_told_to_every_mailbox_and_no_phone(user):
    notice_send(user=user, name="accounts/account_locked", reach=Reach.ACCOUNT_AND_SAFECODE_EMAILS)
    assert set(sent(user)) == {user.email, SAFECODE_EMAIL}


def test_a_notice_to_every_contact_reaches_each_address_once(user):
    Channel.objects.filter(kind=Channel.Kind.EMAIL).update(address=user.email.upper())
    assert (
        notice_send(user=user, name="accounts/account_unlocked", reach=Reach.ACCOUNT_AND_SAFECODE)
        == 2
    )
    assert set(sent(user)) == {user.email, PHONE}


def test_a_given_address_gets_the_notice_and_the_account_does_not(user):
    notice_send(
        user=user,
        name="accounts/account_exists",
        reach=Reach.address("directory@hms.harvard.edu"),
        purpose="registration_account_exists",
    )
    (message,) = Message.objects.all()
    assert (message.recipient, message.purpose) == (
        "directory@hms.harvard.edu",
        "registration_account_exists",
    )


def test_the_channel_a_notice_is_about_is_skipped_and_the_one_replaced_is_told_first(user):
    phone = Channel.objects.get(kind=Channel.Kind.PHONE)
    notice_send(
        user=user,
        name="accounts/account_unlocked",
        reach=Reach(
            first=((EMAIL, "old@example.org"),),
            safecode=frozenset(Channel.Kind.values),
            skip_channel=phone.pk,
        ),
    )
    recipients = list(Message.objects.order_by("pk").values_list("recipient", flat=True))
    assert recipients == ["old@example.org", user.email, SAFECODE_EMAIL]


def test_a_report_link_is_the_same_for_every_recipient(user):
    notice_send(
        user=user,
        name="accounts/email_changed_notice",
        reach=Reach(account=True, safecode=frozenset({EMAIL})),
        report_change="contact email changed",
    )
    bodies = [m.body for m in Message.objects.all()]
    assert len(bodies) == 2
    links = {line for body in bodies for line in body.splitlines() if "/report/" in line}
    assert len(links) == 1


# What a text message says ------------------------------------------------------------------


def sms_body(user: User) -> str:
    return Message.objects.get(user=user, channel=Message.Channel.SMS).body


def test_the_unlock_text_reads_as_it_always_has(user, settings):
    notice_send(user=user, name="accounts/account_unlocked", reach=Reach.ACCOUNT_AND_SAFECODE)
    assert sms_body(user) == (
        f"{settings.INSTITUTION_SHORT_NAME}: your account {user.username} was unlocked. "
        f"If this was not you, call {settings.SERVICE_DESK_PHONE}."
    )


@pytest.mark.parametrize(
    ("unlocked", "end"), [(False, "was changed."), (True, "was changed and the account unlocked.")]
)
def test_the_password_text_says_whether_the_account_was_unlocked(user, settings, unlocked, end):
    notice_send(
        user=user,
        name="accounts/password_changed",
        reach=Reach.ACCOUNT_AND_SAFECODE,
        context={"unlocked": unlocked},
    )
    assert sms_body(user) == (
        f"{settings.INSTITUTION_SHORT_NAME}: the password of your account {user.username} {end} "
        f"If this was not you, call {settings.SERVICE_DESK_PHONE}."
    )


@pytest.mark.parametrize(("action", "verb"), [("removed", "removed"), ("replaced", "changed")])
def test_the_safecode_text_says_removed_or_changed(user, settings, action, verb):
    notice_send(
        user=user,
        name="safecode/channel_changed",
        reach=Reach.ACCOUNT_AND_SAFECODE,
        context={"action": action, "kind": "mobile phone"},
    )
    assert sms_body(user) == (
        f"{settings.INSTITUTION_SHORT_NAME}: the SafeCode mobile phone on your account was "
        f"{verb}. If this was not you, call {settings.SERVICE_DESK_PHONE}."
    )


def test_a_text_is_rendered_without_escaping_and_trimmed(user):
    user.username = "o'neil&co"
    message = sms_enqueue(
        recipient=PHONE,
        template="accounts/sms/account_unlocked",
        context={"user": user},
        purpose="account_unlocked",
    )
    assert "o'neil&co" in message.body
    assert message.body == message.body.strip()


# What "locked" means -----------------------------------------------------------------------


def test_a_lock_holds_until_unlocked_without_an_automatic_unlock(time_machine):
    locked_at = timezone.now()
    account = UserFactory(locked_at=locked_at)
    time_machine.move_to(locked_at + timedelta(days=365), tick=False)
    assert account.is_locked
    assert not UserFactory(locked_at=None).is_locked


def test_a_lock_lapses_at_the_automatic_unlock(settings, time_machine):
    settings.ACCOUNTS_LOCKOUT_AUTO_UNLOCK_MINUTES = 30
    locked_at = timezone.now()
    account = UserFactory(locked_at=locked_at)
    time_machine.move_to(locked_at + timedelta(minutes=30, seconds=-1), tick=False)
    assert account.is_locked
    time_machine.move_to(locked_at + timedelta(minutes=30), tick=False)
    assert not account.is_locked
    time_machine.move_to(locked_at + timedelta(minutes=30, seconds=1), tick=False)
    assert not account.is_locked
