"""Attacks on the second factor, performed over HTTP as an attacker holding a password would.

Every door (``authenticate()`` and ``login()``, the console's own sign-in page, the sign-in
pipeline's continue URL, the expired-password pages), a second browser, ten posts at once on
PostgreSQL, the sign-in page read byte for byte, the enrollment wizard and device changes
with forged ids, and the "Remember me" cookie tampered with or replayed.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.db import connections
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory
from tests.helpers import on_postgresql, other_code, page_text, post_login
from tests.twofactor.conftest import (
    CONFIRM,
    MOBILE_NUMBER,
    VERIFY,
    app_passcode,
    make_device,
    password_step,
    phone_passcode,
    second_step,
    signed_in_as,
)
from twofactor.freshness import VERIFIED_AT_KEY
from twofactor.models import Device, Profile, RememberedBrowser
from twofactor.remember import REMEMBER_COOKIE
from twofactor.services import second_factor_verify

pytestmark = pytest.mark.django_db(transaction=True)


LOGIN = reverse("accounts:login")
CONTINUE = reverse("accounts:signin_continue")
LOGOUT = reverse("accounts:logout")
ADMIN = reverse("admin:index")
ADMIN_LOGIN = reverse("admin:login")
ADMIN_USERS = reverse("admin:accounts_user_changelist")
DEVICES = reverse("twofactor:devices")
RECENT_PROOF = reverse("accounts:recent_proof")
EXPIRED_PAGES = [
    reverse("accounts:password_expired"),
    reverse("accounts:password_expired_send"),
    reverse("accounts:password_expired_code"),
    reverse("accounts:password_expired_new"),
    reverse("accounts:password_expired_safecode"),
]
ENROLL = reverse("twofactor:enroll")
WIZARD_POSTS = [
    (reverse("twofactor:enroll_type"), {"kind": "mobile"}),
    (reverse("twofactor:enroll_phone"), {"number": MOBILE_NUMBER, "correct": "on"}),
    (reverse("twofactor:enroll_phone_type"), {"phone_type": "iphone"}),
    (reverse("twofactor:enroll_phone_type"), {"phone_type": "other"}),
    (reverse("twofactor:enroll_install"), {}),
    (reverse("twofactor:enroll_activate"), {"code": "123456"}),
    (reverse("twofactor:enroll_activate"), {"action": "email"}),
    (reverse("twofactor:enroll_call"), {"action": "send"}),
    (reverse("twofactor:enroll_call"), {"action": "code", "code": "123456"}),
    (reverse("twofactor:enroll_done"), {"action": "another"}),
]
HOSTILE = [
    "",
    "abc",
    "-1",
    "0",
    "1e3",
    "0x10",
    " 1",
    "1.0",
    "99999999999999999999",
    "9223372036854775808",
    "2147483648",
    "１",
    "\x00",
    "%00",
    "<script>",
    "passcode",
    "sms",
    "call",
    "send",
]


@pytest.fixture(autouse=True)
def _production_policy(settings):
    settings.TWOFACTOR_REQUIRED_FOR = "all"
    settings.TWOFACTOR_REQUIRED_FOR_STAFF = True


@pytest.fixture
def user():
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def device(user) -> Device:
    return make_device(user, name="My iPhone", number=MOBILE_NUMBER)


@pytest.fixture
def tablet(user, device) -> Device:
    return make_device(user, kind=Device.Kind.TABLET, name="My iPad")


@pytest.fixture
def stranger():
    """Another account with a device of its own: the ids an attacker would forge."""
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def their_device(stranger) -> Device:
    return make_device(stranger, name="Their phone", number="+16175550188")


@pytest.fixture
def desk_user():
    account = UserFactory(is_staff=True)
    account.groups.add(Group.objects.get_or_create(name="Service desk")[0])
    ChannelFactory(user=account)
    make_device(account, name="Desk iPhone")
    return account


def browser(n: int = 1, **extra) -> Client:
    """A browser of its own, at an address of its own (the per-address CAPTCHA is not what is
    tested here)."""
    return Client(REMOTE_ADDR=f"10.9.{n // 250}.{n % 250 + 1}", **extra)


def sent_passcode(outbox, number: str) -> str:
    """The passcode of the last text message to ``number``, as the phone shows it."""
    bodies = [message.body for message in outbox if message.recipient == number]
    if bodies:
        return re.search(r"\b(\d{6})\b", bodies[-1].replace(", ", "")).group(1)
    return phone_passcode(number)


def fully_signed_in(client, user, device) -> None:
    password_step(client, user)
    response = second_step(client, device)
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == user.pk


# 1. Every door ------------------------------------------------------------------------------


def test_authenticate_and_login_do_not_open_the_console_without_a_second_factor(desk_user):
    """A later door that calls ``authenticate()`` gets nobody while the second factor is owed;
    one that signs the account in anyway still finds the console asking for a session
    verified with a device."""
    request = RequestFactory().post("/elsewhere/", REMOTE_ADDR="10.8.0.1")
    assert authenticate(request, username=desk_user.username, password=DEFAULT_PASSWORD) is None
    client = browser()
    client.force_login(desk_user, backend="accounts.backends.DirectoryBackend")
    for path in (ADMIN, ADMIN_USERS):
        response = client.get(path, follow=True)
        assert response.redirect_chain, path
        assert response.redirect_chain[-1][0].startswith(CONFIRM), path
    assert client.get(ADMIN_LOGIN).url.startswith(CONFIRM)


def test_authenticate_and_login_do_not_open_the_console_to_a_superuser_either():
    boss = UserFactory(is_staff=True, is_superuser=True)
    ChannelFactory(user=boss)
    make_device(boss, name="Boss phone")
    found = authenticate(
        RequestFactory().post("/elsewhere/", REMOTE_ADDR="10.8.0.2"),
        username=boss.username,
        password=DEFAULT_PASSWORD,
    )
    assert found is None
    client = browser()
    client.force_login(boss, backend="accounts.backends.DirectoryBackend")
    assert client.get(ADMIN_USERS).status_code == HTTPStatus.FOUND
    assert client.get(reverse("admin:auth_group_changelist")).status_code == HTTPStatus.FOUND


def test_the_console_sign_in_page_checks_no_password_and_sends_to_the_portal(desk_user):
    client = browser()
    response = client.post(
        f"{ADMIN_LOGIN}?next={ADMIN}",
        {"username": desk_user.username, "password": DEFAULT_PASSWORD, "next": ADMIN},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(LOGIN)
    assert signed_in_as(client) is None
    assert "signin:pending" not in client.session
    assert client.get(ADMIN).status_code == HTTPStatus.FOUND


def test_the_console_after_the_password_only_is_the_sign_in_page(desk_user):
    client = browser()
    response = password_step(client, desk_user, next=ADMIN)
    assert response.url == VERIFY
    for path in (ADMIN, ADMIN_USERS, ADMIN_LOGIN):
        chain = client.get(path, follow=True).redirect_chain
        assert chain and chain[-1][0].startswith(LOGIN), path
    assert signed_in_as(client) is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_continue_url_after_the_password_only_leads_back_to_the_second_step(
    user, device, method
):
    client = browser()
    password_step(client, user)
    for _ in range(3):
        response = getattr(client, method)(CONTINUE)
        assert response.status_code == HTTPStatus.FOUND
        assert response.url == VERIFY
    assert signed_in_as(client) is None


def test_an_expired_password_is_not_changed_before_the_second_factor(user, device):
    """Stage order: with an expired password and a device, the password leads to the second
    step; the expired-password pages, the SafeCode they send and the new password all wait."""
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    client = browser()
    response = password_step(client, user)
    assert response.url == VERIFY
    for path in EXPIRED_PAGES:
        response = client.get(path)
        assert response.status_code == HTTPStatus.FOUND, path
        assert response.url not in EXPIRED_PAGES, path
    client.post(reverse("accounts:password_expired_send"), {"action": "send", "channel": "1"})
    new = "a completely different passphrase 42"
    client.post(reverse("accounts:password_expired_new"), {"password1": new, "password2": new})
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert not Message.objects.filter(user=user, purpose__startswith="safecode").exists()
    assert signed_in_as(client) is None
    # The pending sign-in lost nothing: the second factor still leads to the expired stage.
    client = browser(2)
    password_step(client, user)
    response = second_step(client, device)
    assert response.url == reverse("accounts:password_expired")
    assert signed_in_as(client) is None


# 2. A second browser ------------------------------------------------------------------------


def test_a_passcode_sent_in_one_browser_does_nothing_in_a_browser_without_the_password(
    user, device, outbox
):
    first = browser(1)
    password_step(first, user)
    first.post(VERIFY, {"action": "send", "device": device.pk, "method": "sms"})
    code = sent_passcode(outbox, MOBILE_NUMBER)

    second = browser(2)
    assert second.get(VERIFY).url == LOGIN
    response = second.post(VERIFY, {"device": device.pk, "method": "sms", "code": code})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == LOGIN
    assert signed_in_as(second) is None
    assert second.get(CONTINUE).url == LOGIN
    assert signed_in_as(second) is None
    # Nothing was used up: the browser that gave the password signs in with it.
    second_step(first, device, method="sms", code=code)
    assert signed_in_as(first) == user.pk


def test_a_second_browser_uses_a_device_passcode_only_after_its_own_password(user, device, outbox):
    """A passcode belongs to the device, not to a browser: another browser of the person may
    use it, but only once it gave the password itself, and only once for both."""
    first, second = browser(1), browser(2)
    password_step(first, user)
    first.post(VERIFY, {"action": "send", "device": device.pk, "method": "sms"})
    code = sent_passcode(outbox, MOBILE_NUMBER)
    password_step(second, user)
    second_step(second, device, method="sms", code=code)
    assert signed_in_as(second) == user.pk
    second_step(first, device, method="sms", code=code)
    assert signed_in_as(first) is None


def test_a_session_cookie_copied_before_the_password_gives_nothing(user, device):
    """Session fixation: a cookie planted in the victim's browser before the sign-in is not
    the session the password and the second factor go to."""
    victim = browser(1)
    planted = victim.session
    planted["seen"] = True
    planted.save()
    cookie = victim.cookies[django_settings.SESSION_COOKIE_NAME].value

    attacker = browser(2)
    attacker.cookies[django_settings.SESSION_COOKIE_NAME] = cookie

    password_step(victim, user)
    assert victim.cookies[django_settings.SESSION_COOKIE_NAME].value != cookie
    assert attacker.get(VERIFY).url == LOGIN
    response = second_step(attacker, device)
    assert response.url == LOGIN
    assert attacker.get(CONTINUE).url == LOGIN
    assert signed_in_as(attacker) is None
    assert "signin:pending" not in attacker.session

    second_step(victim, device)
    assert signed_in_as(victim) == user.pk
    assert signed_in_as(attacker) is None
    assert attacker.get(reverse("accounts:preferences")).status_code == HTTPStatus.FOUND


def test_a_session_cookie_copied_between_the_password_and_the_second_factor_gives_nothing(
    user, device
):
    """Session fixation at the second step: whoever copies the cookie of the pending sign-in
    (the password proven, the second factor not yet) holds a key that the sign-in renames
    away, neither signed in nor pending."""
    victim = browser(1)
    password_step(victim, user)
    pending = victim.cookies[django_settings.SESSION_COOKIE_NAME].value
    attacker = browser(2)
    attacker.cookies[django_settings.SESSION_COOKIE_NAME] = pending

    second_step(victim, device)
    assert signed_in_as(victim) == user.pk
    assert victim.cookies[django_settings.SESSION_COOKIE_NAME].value != pending
    assert signed_in_as(attacker) is None
    assert attacker.get(reverse("accounts:preferences")).status_code == HTTPStatus.FOUND
    assert attacker.get(VERIFY).url == LOGIN
    assert "signin:pending" not in attacker.session


# 3. Ten posts at once -----------------------------------------------------------------------

RACERS = 10


def race(clients, data) -> list[tuple[int, int | None]]:
    """Post ``data`` to the second step from every client at the same moment; each thread
    has its own database connection, opened before the start line."""
    barrier = threading.Barrier(len(clients))
    results: list[tuple[int, int | None]] = []
    errors: list[BaseException] = []

    def attempt(client) -> None:
        try:
            connections["default"].ensure_connection()
            barrier.wait(timeout=60)
            response = client.post(VERIFY, data)
            results.append((response.status_code, signed_in_as(client)))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == len(clients)
    return results


def racers(user) -> list[Client]:
    clients = [browser(n + 20) for n in range(RACERS)]
    for client in clients:
        assert password_step(client, user).url == VERIFY
    return clients


@on_postgresql
def test_ten_browsers_posting_one_app_passcode_at_once_sign_in_once(user, device):
    clients = racers(user)
    results = race(
        clients, {"device": device.pk, "method": "passcode", "code": app_passcode(device)}
    )
    signed_in = [who for _, who in results if who is not None]
    assert signed_in == [user.pk]
    assert AuditEvent.objects.filter(event="twofactor.verified", subject=user).count() == 1


@on_postgresql
def test_ten_browsers_posting_one_texted_passcode_at_once_sign_in_once(user, device, outbox):
    clients = racers(user)
    clients[0].post(VERIFY, {"action": "send", "device": device.pk, "method": "sms"})
    code = sent_passcode(outbox, MOBILE_NUMBER)
    results = race(clients, {"device": device.pk, "method": "sms", "code": code})
    signed_in = [who for _, who in results if who is not None]
    assert signed_in == [user.pk]
    assert AuditEvent.objects.filter(event="twofactor.verified", subject=user).count() == 1
    device.phone.refresh_from_db()
    assert device.phone.code_hash == ""


@on_postgresql
def test_ten_wrong_passcodes_at_once_count_ten_failures(settings, user, device):
    settings.TWOFACTOR_LOCK_AFTER_FAILURES = RACERS + 1
    clients = racers(user)
    wrong = other_code(app_passcode(device))
    results = race(clients, {"device": device.pk, "method": "passcode", "code": wrong})
    assert all(who is None for _, who in results)
    assert Profile.objects.get(user=user).failed_count == RACERS
    assert AuditEvent.objects.filter(event="twofactor.failed", subject=user).count() == RACERS
    user.refresh_from_db()
    assert not user.is_locked
    # The next one reaches the threshold and locks.
    assert second_factor_verify(
        user=user, device_id=device.pk, method="passcode", code=wrong
    ).locked


@on_postgresql
def test_ten_wrong_passcodes_at_once_lock_exactly_once_at_the_threshold(user, device):
    clients = racers(user)
    wrong = other_code(app_passcode(device))
    results = race(clients, {"device": device.pk, "method": "passcode", "code": wrong})
    assert all(who is None for _, who in results)
    assert sorted(status for status, _ in results) == [HTTPStatus.BAD_REQUEST] * (RACERS - 1) + [
        HTTPStatus.FORBIDDEN
    ]
    user.refresh_from_db()
    assert user.is_locked
    assert AuditEvent.objects.filter(event="account.locked", subject=user).count() == 1
    assert AuditEvent.objects.filter(event="twofactor.failed", subject=user).count() == RACERS
    assert Profile.objects.get(user=user).failed_count == 0


# 4. The sign-in page, byte for byte ---------------------------------------------------------


def test_a_wrong_password_for_an_account_with_a_device_reads_as_an_unknown_name(user, device):
    wrong = post_login(browser(1), user.username, "not the password at all")
    unknown = post_login(browser(2), "nobody-by-this-name", "not the password at all")
    assert wrong.status_code == unknown.status_code == HTTPStatus.OK
    assert page_text(wrong, user.username) == page_text(unknown, "nobody-by-this-name")


def test_the_right_password_of_a_locked_account_shows_no_second_step(user, device, stranger):
    """Locked by ten wrong second factors, the account answers its right password as any wrong
    password is answered: no second step, no pending sign-in, no device named."""
    make_device(stranger, name="Their phone")
    for _ in range(10):
        second_factor_verify(user=user, device_id=device.pk, method="passcode", code="000000")
    user.refresh_from_db()
    assert user.is_locked

    locked_client = browser(1)
    locked = post_login(locked_client, user.username, DEFAULT_PASSWORD)
    wrong = post_login(browser(2), stranger.username, "not the password at all")
    unknown = post_login(browser(3), "nobody-by-this-name", "not the password at all")
    assert locked.status_code == HTTPStatus.OK
    assert "signin:pending" not in locked_client.session
    assert locked_client.get(VERIFY).url == LOGIN
    assert page_text(locked, user.username) == page_text(wrong, stranger.username)
    assert page_text(locked, user.username) == page_text(unknown, "nobody-by-this-name")
    assert device.name.encode() not in locked.content


# 5. Enrollment and device changes with forged ids -------------------------------------------


def test_the_password_alone_binds_no_device_to_an_account_without_one(user, outbox):
    """Signed in with the password only (the account has no device yet), every wizard URL
    posted straight away asks for "Confirm it is you" and creates nothing."""
    client = browser()
    password_step(client, user)
    assert signed_in_as(client) == user.pk
    client.post(ENROLL)
    for path, data in WIZARD_POSTS:
        response = client.post(path, data)
        assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.OK), path
        if response.status_code == HTTPStatus.FOUND:
            assert response.url.startswith((RECENT_PROOF, ENROLL)), path
    assert client.get(reverse("twofactor:enroll_qr")).status_code == HTTPStatus.FOUND
    assert not Device.objects.filter(user=user).exists()
    assert not [m for m in outbox if m.recipient == MOBILE_NUMBER]


def test_the_password_alone_reaches_no_wizard_page_of_an_account_with_a_device(user, device):
    client = browser()
    password_step(client, user)
    for path, data in [(ENROLL, {"add": "1"}), *WIZARD_POSTS]:
        response = client.post(path, data)
        assert response.status_code == HTTPStatus.FOUND, path
        assert response.url.startswith(LOGIN), path
    assert list(Device.objects.filter(user=user)) == [device]


def test_a_remembered_browser_adds_no_device_without_a_fresh_second_factor(user, device):
    client = browser()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        password_step(client, user)
        second_step(client, device, remember="on")
        client.post(LOGOUT)
        clock.shift(timedelta(seconds=30))
        password_step(client, user)
        assert signed_in_as(client) == user.pk
        client.post(ENROLL, {"add": "1"})
        for path, data in WIZARD_POSTS:
            response = client.post(path, data)
            assert response.status_code == HTTPStatus.FOUND, path
            assert response.url.startswith((CONFIRM, ENROLL)), path
    assert list(Device.objects.filter(user=user)) == [device]


@pytest.mark.parametrize("action", ["remove", "default", "rename"])
def test_a_device_id_of_another_person_changes_nothing(user, device, their_device, action):
    client = browser()
    fully_signed_in(client, user, device)
    before = list(Device.objects.filter(user=their_device.user).values())
    url = reverse(f"twofactor:device_{action}", args=[their_device.pk])
    response = client.post(url, {"name": "Mine now"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert list(Device.objects.filter(user=their_device.user).values()) == before
    assert Device.objects.filter(user=user, is_default=True).get() == device


def test_a_device_id_of_another_person_proves_nothing_at_the_step_up(user, device, their_device):
    client = browser()
    client.force_login(user)
    response = client.post(
        CONFIRM,
        {"device": their_device.pk, "method": "passcode", "code": app_passcode(their_device)},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert VERIFIED_AT_KEY not in client.session
    response = client.post(CONFIRM, {"action": "send", "device": their_device.pk, "method": "sms"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Message.objects.filter(recipient=their_device.number).exists()
    # Still no fresh second factor: a change asks for one.
    response = client.post(reverse("twofactor:device_remove", args=[device.pk]))
    assert response.url.startswith(CONFIRM)


def test_a_device_id_of_another_person_proves_nothing_at_the_second_step(
    user, device, their_device
):
    client = browser()
    password_step(client, user)
    response = client.post(
        VERIFY,
        {"device": their_device.pk, "method": "passcode", "code": app_passcode(their_device)},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(client) is None
    response = client.post(VERIFY, {"action": "send", "device": their_device.pk, "method": "sms"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Message.objects.filter(recipient=their_device.number).exists()


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_device_and_method_never_answer_500(user, device, their_device, value):
    values = [value, str(their_device.pk)]
    pending = browser(1, raise_request_exception=False)
    password_step(pending, user)
    signed = browser(2, raise_request_exception=False)
    signed.force_login(user)
    for client, path in ((pending, VERIFY), (signed, CONFIRM)):
        for hostile in values:
            for data in (
                {"device": hostile, "method": "passcode", "code": "123456"},
                {"device": device.pk, "method": hostile, "code": "123456"},
                {"device": hostile, "method": hostile, "code": hostile},
                {"action": "send", "device": hostile, "method": "sms"},
                {"action": "send", "device": device.pk, "method": hostile},
                {"action": hostile, "device": hostile, "method": hostile},
            ):
                response = client.post(path, data)
                assert response.status_code < 500, (path, data)
    assert signed_in_as(pending) is None
    assert VERIFIED_AT_KEY not in signed.session
    if value not in ("passcode", "sms", "call"):
        # Nothing well-formed was posted, so nothing was checked or counted.
        assert not Profile.objects.filter(user=user, failed_count__gt=0).exists()


@pytest.mark.parametrize(
    "pk", ["0", "2147483648", "9223372036854775807", "9223372036854775808", "9" * 30]
)
@pytest.mark.parametrize("action", ["remove", "default", "rename"])
def test_huge_device_ids_in_the_path_never_answer_500(user, device, action, pk):
    client = browser(raise_request_exception=False)
    fully_signed_in(client, user, device)
    response = client.post(f"{DEVICES}devices/{pk}/{action}/", {"name": "x"})
    assert response.status_code == HTTPStatus.NOT_FOUND
    response = client.post(f"{DEVICES}browsers/{pk}/forget/")
    assert response.status_code == HTTPStatus.NOT_FOUND


# 6. The "Remember me" cookie ----------------------------------------------------------------


def remembered(user, device) -> Client:
    """A browser that signed in with "Remember me", then signed out."""
    client = browser(7)
    password_step(client, user)
    second_step(client, device, remember="on")
    assert REMEMBER_COOKIE in client.cookies
    client.post(LOGOUT)
    return client


def test_the_remember_cookie_skips_the_second_step_of_its_own_account(user, device):
    client = remembered(user, device)
    password_step(client, user)
    assert signed_in_as(client) == user.pk


@pytest.mark.parametrize("where", ["signature", "value", "id"])
def test_a_tampered_remember_cookie_skips_nothing(user, device, where):
    value = remembered(user, device).cookies[REMEMBER_COOKIE].value
    browser_id, rest = value.split(":", 1)
    if where == "signature":
        forged = value[:-1] + ("A" if value[-1] != "A" else "B")
    elif where == "value":
        forged = f"{browser_id}:{'x' * 43}:{value.rsplit(':', 2)[-2]}:{value.rsplit(':', 1)[-1]}"
    else:
        forged = f"{int(browser_id) + 1}:{rest}"
    client = browser(8)
    client.cookies[REMEMBER_COOKIE] = forged
    assert password_step(client, user).url == VERIFY
    assert signed_in_as(client) is None


def test_a_remember_cookie_replayed_for_another_account_skips_nothing(
    user, device, stranger, their_device
):
    assert their_device.user == stranger  # the second step is theirs to give
    client = remembered(user, device)
    response = password_step(client, stranger)
    assert response.url == VERIFY
    assert signed_in_as(client) is None
    # The cookie still works for the account it was given to.
    password_step(client, user)
    assert signed_in_as(client) == user.pk


def test_a_remember_cookie_from_before_a_device_removal_skips_nothing(user, device, tablet):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        old = remembered(user, device)
        cookie = old.cookies[REMEMBER_COOKIE].value
        clock.shift(timedelta(seconds=30))
        client = browser(9)
        fully_signed_in(client, user, device)
        response = client.post(reverse("twofactor:device_remove", args=[tablet.pk]))
        assert response.url == DEVICES
        assert not RememberedBrowser.objects.filter(user=user).exists()
        replay = browser(10)
        replay.cookies[REMEMBER_COOKIE] = cookie
        assert password_step(replay, user).url == VERIFY
        assert signed_in_as(replay) is None
        assert password_step(old, user).url == VERIFY
        assert signed_in_as(old) is None
