"""Attacks on push sign-in and the portal's authenticator app (/m/), over HTTP, as an outsider
would make them: with the password only, with an app of their own account, with a copied
request, with a forged or hostile body, from another site, or many at once on PostgreSQL.

Each test makes one attack and checks what the attacker sees and what changed.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory
from tests.helpers import in_threads, on_postgresql, page_text, post_login
from tests.twofactor.conftest import (
    CONFIRM,
    VERIFY,
    app_passcode,
    password_step,
    second_step,
    signed_in_as,
)
from tests.twofactor.soft_app import SoftApp, activated_device, b64url, raw_sign, spki
from twofactor.app_settings import app_settings
from twofactor.models import AppKey, Device, FraudReport, Profile, PushRequest
from twofactor.push import app_activation_link
from twofactor.services import device_confirm, device_remove, device_start

pytestmark = pytest.mark.django_db(transaction=True)


LOGIN = reverse("accounts:login")
RESET_VERIFY = reverse("twofactor:reset")
API = ("api_activate", "api_requests", "api_decide", "api_subscribe")
RACERS = 10


@pytest.fixture(autouse=True)
def _production_policy(settings):
    settings.TWOFACTOR_REQUIRED_FOR = "all"


@pytest.fixture
def user():
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def stranger():
    """The attacker's own account, with an authenticator app of its own."""
    account = UserFactory()
    ChannelFactory(user=account)
    return account


def browser(n: int = 1, **extra) -> Client:
    """A browser of its own, at an address of its own."""
    return Client(REMOTE_ADDR=f"10.7.{n // 250}.{n % 250 + 1}", **extra)


def activated(user, *, name: str = "My iPhone") -> tuple[Device, SoftApp]:
    """A device of ``user`` in the portal's authenticator app, confirmed, and that app."""
    return activated_device(user, name=name)


@pytest.fixture
def phone(user) -> tuple[Device, SoftApp]:
    return activated(user)


@pytest.fixture
def their_phone(stranger) -> tuple[Device, SoftApp]:
    return activated(stranger, name="Attacker's phone")


def send_push(client, device, url=VERIFY):
    return client.post(url, {"action": "send", "device": device.pk, "method": "push"})


def check_push(client, device, url=VERIFY):
    return client.post(url, {"action": "push", "device": device.pk, "method": "push"})


def session_push_id(client) -> str:
    return (client.session.get("twofactor:sent") or {}).get("push_id", "")


def pushes(user) -> int:
    return PushRequest.objects.filter(user=user).count()


def other_number(number: str) -> str:
    return f"{(int(number) - 100 + 1) % 900 + 100}"


def post_raw(name: str, body, *, content_type="application/json", method="post"):
    """``body`` sent to the app's API ``name`` as any client could, a 500 included."""
    client = Client(raise_request_exception=False)
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.generic(method.upper(), reverse(f"mobile:{name}"), data, content_type)


# 1. Push fatigue: how many pushes the password alone makes the phone show ---------------------

# PUSH_UNANSWERED_LIMIT pushes per PUSH_UNANSWERED_WINDOW (3 per 10 minutes): 18 an hour.
HOUR_LIMIT = app_settings.PUSH_UNANSWERED_LIMIT * 60 // 10


def push_for_an_hour(user, devices, *, answer=None) -> int:
    """The attacker signs in with the password every minute for an hour and asks for a push to
    every device; ``answer(app, push)`` is what the phone does with each. Returns the pushes the
    phone was made to show."""
    start = timezone.now()
    for minute in range(60):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            attacker = browser(minute)
            password_step(attacker, user)
            for device, app in devices:
                send_push(attacker, device)
                if answer is not None:
                    for shown in app.poll().json()["requests"]:
                        answer(app, PushRequest.objects.get(pk=shown["id"]))
    return pushes(user)


def test_unanswered_pushes_are_capped_at_the_limit_over_an_hour_of_new_sign_ins(user, phone):
    assert timedelta(minutes=10) == app_settings.PUSH_UNANSWERED_WINDOW
    shown = push_for_an_hour(user, [phone])
    assert shown <= HOUR_LIMIT == 18


def test_several_devices_of_the_account_share_one_limit(user):
    devices = [activated(user, name=f"Phone {n}") for n in range(5)]
    attacker = browser(1)
    password_step(attacker, user)
    statuses = [send_push(attacker, device).status_code for device, _ in devices]
    assert pushes(user) == app_settings.PUSH_UNANSWERED_LIMIT
    assert statuses.count(HTTPStatus.TOO_MANY_REQUESTS) == 5 - app_settings.PUSH_UNANSWERED_LIMIT
    shown = push_for_an_hour(user, devices)
    assert shown <= HOUR_LIMIT


@pytest.mark.parametrize("answer", ["deny", "wrong_number"])
def test_answered_pushes_still_limit_how_many_the_attacker_can_send(user, phone, answer):
    def reply(app, push):
        if answer == "deny":
            app.decide(push.pk, "deny")
        else:
            app.decide(push.pk, "approve", other_number(push.number))

    shown = push_for_an_hour(user, [phone], answer=reply)
    assert shown <= HOUR_LIMIT


def test_the_step_up_and_reset_pages_send_no_push_to_someone_with_the_password_only(user, phone):
    device, _ = phone
    attacker = browser(1)
    password_step(attacker, user)
    for url in (CONFIRM, RESET_VERIFY):
        response = send_push(attacker, device, url=url)
        assert response.status_code == HTTPStatus.FOUND
    assert pushes(user) == 0


@on_postgresql
def test_ten_sends_at_once_to_five_devices_make_no_more_pushes_than_the_limit(user):
    devices = [activated(user, name=f"Phone {n}") for n in range(5)]
    clients = [browser(n + 20) for n in range(RACERS)]
    for client in clients:
        password_step(client, user)

    def send(i):
        return send_push(clients[i], devices[i % 5][0]).status_code

    in_threads(send, RACERS)
    assert pushes(user) == app_settings.PUSH_UNANSWERED_LIMIT
    assert AuditEvent.objects.filter(event="twofactor.push_sent", subject=user).count() == 3


# 2. The verified-push number -----------------------------------------------------------------


def test_a_push_takes_one_guess_at_the_number(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    assert app.decide(push.pk, "approve", other_number(push.number)).json()["state"] == (
        "wrong_number"
    )
    assert app.decide(push.pk, "approve", push.number).status_code == HTTPStatus.CONFLICT
    check_push(client, device)
    assert signed_in_as(client) is None


def test_the_number_reaches_neither_the_phone_nor_an_approval_without_it(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    listed = app.poll().content.decode()
    shown = json.loads(listed)["requests"][0]
    assert push.number not in listed.replace(shown["created_at"], "").replace(shown["ip"], "")
    # No number, or one with a space, a full-width digit or a trailing newline, is no approval.
    for typed in ("", f" {push.number}", "１２３", f"{push.number}\n", push.number + "0"):
        body = app.decision_body(push.pk, "approve", typed)
        answer = Client(raise_request_exception=False).post(
            reverse("mobile:api_decide"), data=json.dumps(body), content_type="application/json"
        )
        assert answer.status_code != HTTPStatus.OK or answer.json()["state"] != "approved"
        if PushRequest.objects.get(pk=push.pk).state != PushRequest.State.PENDING:
            break
    assert PushRequest.objects.get(pk=push.pk).state != PushRequest.State.APPROVED
    check_push(client, device)
    assert signed_in_as(client) is None


# 3. One approval, two desktop sessions --------------------------------------------------------


@pytest.mark.parametrize("how", ["button", "automatic"])
def test_a_second_browser_with_the_password_cannot_wait_for_the_victims_push(user, phone, how):
    device, app = phone
    if how == "automatic":
        Profile.objects.update_or_create(user=user, defaults={"login_action": "push"})
    victim, attacker = browser(1), browser(2)
    password_step(victim, user)
    if how == "button":
        send_push(victim, device)
    push = PushRequest.objects.get(user=user)
    password_step(attacker, user)
    if how == "button":
        send_push(attacker, device)
    # The victim sees the number on their own screen and approves their own sign-in.
    assert app.decide(push.pk, "approve", push.number).json()["state"] == "approved"
    check_push(attacker, device)
    assert session_push_id(attacker) != str(push.pk)
    assert signed_in_as(attacker) is None
    check_push(victim, device)
    assert signed_in_as(victim) == user.pk


@on_postgresql
def test_ten_sessions_using_one_approval_at_once_sign_in_once(user, phone):
    device, app = phone
    clients = [browser(n + 40) for n in range(RACERS)]
    for client in clients:
        password_step(client, user)
        send_push(client, device)
    push = PushRequest.objects.filter(user=user).order_by("created_at").first()
    assert app.decide(push.pk, "approve", push.number).json()["state"] == "approved"

    def use(i):
        check_push(clients[i], device)
        return signed_in_as(clients[i])

    signed_in = [who for who in in_threads(use, RACERS) if who is not None]
    assert signed_in == [user.pk]
    assert (
        AuditEvent.objects.filter(
            event="twofactor.verified", subject=user, detail__method="push"
        ).count()
        == 1
    )
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.USED


@on_postgresql
def test_ten_decisions_at_once_on_one_push_count_once(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    bodies = [
        app.decision_body(push.pk, "approve", push.number)
        if i % 2
        else app.decision_body(push.pk, "fraud")
        for i in range(RACERS)
    ]

    def decide(i):
        return app.post("api_decide", bodies[i]).status_code

    statuses = in_threads(decide, RACERS)
    assert statuses.count(HTTPStatus.OK) == 1
    assert statuses.count(HTTPStatus.CONFLICT) == RACERS - 1
    state = PushRequest.objects.get(pk=push.pk).state
    assert FraudReport.objects.filter(user=user).count() == (state == PushRequest.State.FRAUD)
    assert AuditEvent.objects.filter(event="twofactor.push_answered", subject=user).count() == 1


def test_an_approval_is_not_usable_after_two_minutes(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    app.decide(push.pk, "approve", push.number)
    with time_machine.travel(timezone.now() + timedelta(minutes=2, seconds=1)):
        check_push(client, device)
    assert signed_in_as(client) is None


# 4. The status endpoint ----------------------------------------------------------------------


def test_the_status_endpoint_tells_nothing_about_another_accounts_push(
    user, phone, stranger, their_phone
):
    device, _ = phone
    victim = browser(1)
    password_step(victim, user)
    send_push(victim, device)
    push = PushRequest.objects.get(user=user)
    attacker = browser(2)
    password_step(attacker, stranger)
    send_push(attacker, their_phone[0])
    own = PushRequest.objects.get(user=stranger)
    url = reverse("twofactor:push_status", args=[push.pk])
    unknown = reverse("twofactor:push_status", args=["00000000-0000-4000-8000-000000000000"])
    theirs, nothing = attacker.get(url), attacker.get(unknown)
    assert theirs.status_code == nothing.status_code == HTTPStatus.NOT_FOUND
    assert theirs.content == nothing.content
    assert Client().get(url).status_code == HTTPStatus.NOT_FOUND
    assert (
        attacker.get(f"/twofactor/push/{push.pk.hex}x/status/").status_code == HTTPStatus.NOT_FOUND
    )
    assert attacker.post(reverse("twofactor:push_status", args=[own.pk])).status_code == (
        HTTPStatus.METHOD_NOT_ALLOWED
    )
    # Forging the session's record is not possible from outside: the cookie is signed server-side.
    assert (
        attacker.get(reverse("twofactor:push_status", args=[own.pk])).json()["state"] == "pending"
    )


def test_the_status_endpoint_answers_a_wrong_password_as_no_session(user, phone):
    device, _ = phone
    victim = browser(1)
    password_step(victim, user)
    send_push(victim, device)
    push = PushRequest.objects.get(user=user)
    url = reverse("twofactor:push_status", args=[push.pk])
    wrong = browser(2)
    post_login(wrong, user.username, "not the password at all")
    none = browser(3)
    assert wrong.get(url).status_code == none.get(url).status_code == HTTPStatus.NOT_FOUND
    assert wrong.get(url).content == none.get(url).content


# 5. Activation ------------------------------------------------------------------------------


def fresh_token(user) -> tuple[Device, str]:
    device = device_start(
        user=user, kind="mobile", name="New phone", phone_type="android", app=True
    )
    return device, app_activation_link(device=device)


@on_postgresql
def test_ten_phones_activating_one_token_at_once_activate_one(user):
    _, token = fresh_token(user)
    phones = [SoftApp(Client()) for _ in range(RACERS)]

    def activate(i):
        return phones[i].activate(token).status_code

    statuses = in_threads(activate, RACERS)
    assert statuses.count(HTTPStatus.OK) == 1
    assert all(s in (HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT) for s in statuses if s != 200)
    assert AppKey.objects.filter(user=user).count() == 1
    assert AuditEvent.objects.filter(event="twofactor.app_activated", subject=user).count() == 1
    # Activation confirms nothing: the app's passcode, typed on the setup page, does.
    assert not Message.objects.filter(purpose="device_added", user=user).exists()


def test_a_used_token_activates_no_second_phone(user):
    _, token = fresh_token(user)
    assert SoftApp(Client()).activate(token).status_code == HTTPStatus.OK
    second = SoftApp(Client()).activate(token)
    assert second.status_code == HTTPStatus.NOT_FOUND
    assert "totp" not in second.json()
    assert AppKey.objects.filter(user=user).count() == 1


def test_a_device_confirmed_by_passcode_cannot_be_taken_over_by_its_activation_token(user):
    device, token = fresh_token(user)
    device.refresh_from_db()
    assert device_confirm(device=device, method="passcode", code=app_passcode(device))
    response = SoftApp(Client()).activate(token)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "secret" not in response.content.decode()
    device.refresh_from_db()
    assert device.app_id is None
    assert not AppKey.objects.filter(user=user).exists()


def test_a_signature_over_one_token_activates_nothing_with_another(user, stranger):
    _, theirs = fresh_token(stranger)
    _, mine = fresh_token(user)
    thief = SoftApp(Client())
    body = {
        "token": theirs,
        "public_key": spki(thief.key),
        "platform": "x",
        "signature": raw_sign(thief.key, f"portal-authenticator-activate\n{mine}"),
    }
    assert thief.post("api_activate", body).status_code == HTTPStatus.UNAUTHORIZED
    # Nor with the token's own message in another shape (a newline, a space, the old prefix).
    for message in (
        f"portal-authenticator-activate\n{theirs}\n",
        f"portal-authenticator-activate {theirs}",
        theirs,
    ):
        body["signature"] = raw_sign(thief.key, message)
        assert thief.post("api_activate", body).status_code == HTTPStatus.UNAUTHORIZED
    assert not AppKey.objects.exists()
    # The token survives the attempts and still works for the phone that holds it.
    assert SoftApp(Client()).activate(theirs).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "token",
    ["", "x" * 15, "x" * 101, "a\nb" * 8, "../" * 8, "Ａ" * 20, "0" * 43],
)
def test_a_made_up_activation_token_is_unknown(user, token):
    fresh_token(user)
    app = SoftApp(Client())
    response = app.activate(token)
    assert response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.BAD_REQUEST)
    assert not AppKey.objects.exists()


def test_the_activation_pages_tell_someone_with_the_password_only_nothing(user, phone):
    attacker = browser(1)
    password_step(attacker, user)
    for name in ("enroll_activation_status", "enroll_qr", "enroll_activate"):
        url = reverse(f"twofactor:{name}")
        response = attacker.get(url)
        assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.NOT_FOUND)
        assert b"activated" not in response.content


@pytest.mark.parametrize(
    "platform",
    ['<script src="//evil.example/x.js"></script>', "Chrome\non Android\r\nX-Evil: 1", ["x"], 7],
)
def test_a_platform_sent_at_activation_is_shown_as_text(user, platform):
    fresh_device = fresh_token(user)
    _, token = fresh_device
    app = SoftApp(Client())
    body = {
        "token": token,
        "public_key": spki(app.key),
        "platform": platform,
        "signature": raw_sign(app.key, f"portal-authenticator-activate\n{token}"),
    }
    response = app.post("api_activate", body)
    assert response.status_code == HTTPStatus.OK
    app.totp_secret = response.json()["totp"]["secret"]
    device, _ = fresh_device
    assert device_confirm(device=device, method="passcode", code=app.passcode())
    stored = AppKey.objects.get(user=user).platform
    assert len(stored) <= 200
    owner = Client()
    owner.force_login(user)
    page = owner.get(reverse("twofactor:devices")).content.decode()
    assert '<script src="//evil.example' not in page
    if isinstance(platform, str) and platform.startswith("<"):
        assert "&lt;script src=&quot;//evil.example" in page


# 6. The signed API: another account's app, removed keys, replays, forged messages -------------


def test_another_accounts_app_id_with_the_attackers_own_key_is_refused(user, phone, their_phone):
    device, victim_app = phone
    _, mine = their_phone
    client = browser(1)
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    forged = SoftApp(Client(), key=mine.key, app_id=victim_app.app_id)
    assert forged.poll().status_code == HTTPStatus.UNAUTHORIZED
    assert forged.decide(push.pk, "approve", push.number).status_code == HTTPStatus.UNAUTHORIZED
    assert forged.decide(push.pk, "fraud").status_code == HTTPStatus.UNAUTHORIZED
    endpoint = "https://fcm.googleapis.com/fcm/send/attacker"
    assert forged.post("api_subscribe", subscribe_body(forged, endpoint)).status_code == (
        HTTPStatus.UNAUTHORIZED
    )
    # The attacker's own, valid app answers only its own account's pushes.
    assert mine.decide(push.pk, "fraud").status_code == HTTPStatus.CONFLICT
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.PENDING
    assert not FraudReport.objects.exists()
    assert not Profile.objects.filter(user=user, push_muted_until__isnull=False).exists()
    assert AppKey.objects.get(pk=victim_app.app_id).push_endpoint == ""


def test_a_removed_devices_key_answers_nothing(user, phone):
    device, old_app = phone
    spare, _ = activated(user, name="Spare phone")
    device_remove(device=Device.objects.get(pk=device.pk))
    client = browser(1)
    password_step(client, user)
    send_push(client, spare)
    push = PushRequest.objects.get(user=user)
    assert old_app.poll().status_code == HTTPStatus.GONE
    assert old_app.decide(push.pk, "approve", push.number).status_code == HTTPStatus.GONE
    body = subscribe_body(old_app, "https://fcm.googleapis.com/fcm/send/old")
    assert old_app.post("api_subscribe", body).status_code == HTTPStatus.GONE
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.PENDING


def test_a_copied_poll_is_refused_once_its_time_has_passed(user, phone):
    _, app = phone
    ts = int(time.time())
    body = {
        "app_id": app.app_id,
        "ts": ts,
        "signature": raw_sign(app.key, f"portal-authenticator-poll\n{app.app_id}\n{ts}"),
    }
    assert app.post("api_requests", body).status_code == HTTPStatus.OK
    window = app_settings.APP_SIGNATURE_WINDOW
    with time_machine.travel(timezone.now() + window + timedelta(seconds=2)):
        assert app.post("api_requests", body).status_code == HTTPStatus.UNAUTHORIZED
    # Nor is the copied signature good for anything but that poll.
    for name, extra in (
        ("api_requests", {"ts": ts + 1}),
        ("api_requests", {"ts": str(ts) + " "}),
        (
            "api_subscribe",
            {
                "subscription": {
                    "endpoint": "https://fcm.googleapis.com/x",
                    "keys": {"p256dh": "a", "auth": "b"},
                }
            },
        ),
    ):
        assert app.post(name, {**body, **extra}).status_code == HTTPStatus.UNAUTHORIZED


def test_a_copied_decision_is_refused_on_another_push_and_on_its_own(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    first = PushRequest.objects.get(user=user)
    deny = app.decision_body(first.pk, "deny")
    assert app.post("api_decide", deny).status_code == HTTPStatus.OK
    assert app.post("api_decide", deny).status_code == HTTPStatus.CONFLICT
    send_push(client, device)
    second = PushRequest.objects.filter(user=user).exclude(pk=first.pk).get()
    moved = {**deny, "request_id": str(second.pk)}
    assert app.post("api_decide", moved).status_code == HTTPStatus.UNAUTHORIZED
    # The same request id in another spelling is the same message, and answered already.
    for spelling in (
        first.pk.hex,
        f"{{{first.pk}}}",
        f"urn:uuid:{first.pk}",
        str(first.pk).upper(),
    ):
        assert app.post("api_decide", {**deny, "request_id": spelling}).status_code == (
            HTTPStatus.CONFLICT
        )
    assert PushRequest.objects.get(pk=second.pk).state == PushRequest.State.PENDING


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        # A deny signed with an empty number, sent as an approval with the number moved.
        (("", "deny"), {"number": "", "decision": "approve"}),
        # Fields shifted across the newline that joins them.
        (("", "deny"), {"number": "\ndeny", "decision": "approve"}),
        (("", "deny"), {"number": "", "decision": "deny\n"}),
        (("", "deny"), {"number": "", "decision": "approve", "request_id_suffix": "\n"}),
    ],
)
def test_a_decision_signature_cannot_be_read_as_another_decision(client, user, phone, signed, sent):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    body = app.decision_body(push.pk, signed[1], signed[0])
    suffix = sent.pop("request_id_suffix", "")
    forged = {**body, **sent, "request_id": body["request_id"] + suffix}
    response = Client(raise_request_exception=False).post(
        reverse("mobile:api_decide"), data=json.dumps(forged), content_type="application/json"
    )
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.PENDING


def test_a_nonce_with_a_trailing_newline_is_refused_not_a_500(client, user, stranger, their_phone):
    device, app = their_phone
    password_step(client, stranger)
    send_push(client, device)
    push = PushRequest.objects.get(user=stranger)
    nonce = "A" * 64 + "\n"
    message = f"portal-authenticator-decision\n{push.pk}\n\ndeny\n{nonce}"
    body = {
        "app_id": app.app_id,
        "request_id": str(push.pk),
        "number": "",
        "decision": "deny",
        "nonce": nonce,
        "signature": raw_sign(app.key, message),
    }
    response = post_raw("api_decide", body)
    assert response.status_code == HTTPStatus.BAD_REQUEST


# 7. Hostile bodies, types and methods: never a 500 ---------------------------------------------

HOSTILE_BODIES = [
    b"",
    b"null",
    b"true",
    b"42",
    b'"text"',
    b"[1, 2]",
    b"\xff\xfe\x00",
    b'{"app_id": NaN, "ts": NaN}',
    b'{"app_id": -1, "ts": -1, "signature": ""}',
    b'{"app_id": [1], "ts": {}, "signature": [], "token": [], "public_key": {}}',
    b'{"app_id": {"$gt": 0}, "request_id": {"id": 1}, "decision": ["approve"], "nonce": 1}',
    b'{"app_id": 1.5, "request_id": 12345, "number": 123, "decision": "approve"}',
    b'{"app_id": "\\u0000", "token": "\\u0000\\u0000", "signature": "\\ud800"}',
    b'{"app_id": "\xef\xbc\x91", "ts": "\xef\xbc\x91"}',
    b'{"app_id": 99999999999999999999999999999, "ts": 99999999999999999999999999}',
    b'{"app_id": 1, "subscription": "https://fcm.googleapis.com/x"}',
    b'{"app_id": 1, "subscription": {"endpoint": ["x"], "keys": "y"}}',
    b'{"token": "' + b"A" * 7000 + b'"}',
    b"x" * 9000,
]


@pytest.mark.parametrize("name", API)
@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_bodies_get_a_readable_refusal_never_a_500(user, phone, name, body):
    response = post_raw(name, body)
    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert response.json()["error"]


@pytest.mark.parametrize("name", ["api_requests", "api_decide", "api_subscribe"])
def test_an_infinite_app_id_is_refused_not_a_500(user, phone, name):
    response = post_raw(name, b'{"app_id": 1e400, "ts": 1e400, "signature": "x"}')
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("name", ["api_requests", "api_subscribe"])
def test_an_infinite_signed_timestamp_is_refused_not_a_500(stranger, their_phone, name):
    _, app = their_phone
    endpoint = "https://fcm.googleapis.com/fcm/send/x"
    parts = ["portal-authenticator-poll", str(app.app_id), "inf"]
    if name == "api_subscribe":
        parts = ["portal-authenticator-subscribe", str(app.app_id), "inf", endpoint]
    signature = raw_sign(app.key, "\n".join(parts))
    subscription = {"endpoint": endpoint, "keys": {"p256dh": "BPk", "auth": "x2"}}
    body = (
        f'{{"app_id": {app.app_id}, "ts": 1e400, "signature": "{signature}", '
        f'"subscription": {json.dumps(subscription)}}}'
    )
    response = post_raw(name, body.encode())
    assert response.status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("name", API)
@pytest.mark.parametrize("nest", [b"[" * 5000, b'{"a":' * 1600])
def test_deeply_nested_json_is_refused_not_a_500(name, nest):
    response = post_raw(name, nest)
    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("name", API)
@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", ""],
)
def test_other_content_types_are_refused_never_a_500(user, phone, name, content_type):
    response = post_raw(name, b"app_id=1&ts=2&signature=3", content_type=content_type)
    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("name", API)
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options", "head"])
def test_the_api_answers_post_only(name, method):
    response = post_raw(name, b"{}", method=method)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_status_endpoint_answers_get_only(user, phone, method):
    device, _ = phone
    client = browser(1, raise_request_exception=False)
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    url = reverse("twofactor:push_status", args=[push.pk])
    assert getattr(client, method)(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.parametrize(
    "value",
    ["", "push", "-1", "0", "99999999999999999999", "1e3", "１", "\x00", "<script>"],
)
def test_hostile_push_posts_to_the_desktop_pages_never_answer_500(user, phone, value):
    device, _ = phone
    client = browser(1, raise_request_exception=False)
    password_step(client, user)
    for data in (
        {"action": "send", "device": value, "method": "push"},
        {"action": "send", "device": device.pk, "method": value},
        {"action": "push", "device": value, "method": value},
        {"action": value, "device": device.pk, "method": "passcode", "code": "123456"},
    ):
        assert client.post(VERIFY, data).status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("url", [VERIFY, CONFIRM])
@pytest.mark.parametrize("action", ["", "code", "1e3"])
def test_a_passcode_post_naming_the_push_method_is_refused_not_a_500(user, phone, url, action):
    device, _ = phone
    client = browser(1, raise_request_exception=False)
    if url == VERIFY:
        password_step(client, user)
    else:
        client.force_login(user)
    data = {"device": device.pk, "method": "push", "code": "123456"}
    if action:
        data["action"] = action
    response = client.post(url, data)
    assert response.status_code == HTTPStatus.BAD_REQUEST


# 8. The /m/ pages and API hold no session and set no cookie ------------------------------------


def test_the_app_pages_and_api_set_no_cookie_and_leave_the_session_alone(user, phone):
    device, app = phone
    signed_in = browser(1)
    password_step(signed_in, user)
    second_step(signed_in, device, code=app_passcode(device))
    assert signed_in_as(signed_in) == user.pk
    before = dict(signed_in.session.items())
    key = signed_in.session.session_key
    responses = [
        signed_in.get(reverse("mobile:app")),
        signed_in.get(reverse("mobile:activate")),
        signed_in.get(reverse("mobile:service_worker")),
        signed_in.get(reverse("mobile:manifest")),
    ]
    app.client = signed_in
    responses.append(app.poll())
    responses.append(
        app.post("api_decide", app.decision_body("00000000-0000-4000-8000-000000000000", "deny"))
    )
    responses.append(app.post("api_activate", {"token": "x" * 20}))
    for response in responses:
        assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
        assert not response.cookies, (response.request["PATH_INFO"], list(response.cookies))
    assert signed_in.session.session_key == key
    assert dict(signed_in.session.items()) == before


def test_a_session_cookie_authorises_no_call_of_the_app(user, phone):
    device, app = phone
    signed_in = browser(1)
    password_step(signed_in, user)
    send_push(signed_in, device)
    push = PushRequest.objects.get(user=user)
    body = {
        "app_id": app.app_id,
        "request_id": str(push.pk),
        "number": push.number,
        "decision": "approve",
        "nonce": b64url(secrets.token_bytes(16)),
    }
    response = signed_in.post(
        reverse("mobile:api_decide"), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.PENDING


# 9. Cross-site posts to the desktop push forms -------------------------------------------------


def csrf_browser(user) -> Client:
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.7.9.9")
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    response = password_step(client, user, csrfmiddlewaretoken=token)
    assert response.status_code == HTTPStatus.FOUND
    return client


def test_a_cross_site_send_makes_no_push(user, phone):
    device, _ = phone
    client = csrf_browser(user)
    response = send_push(client, device)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert pushes(user) == 0


def test_a_cross_site_continue_signs_no_one_in(user, phone):
    device, app = phone
    client = csrf_browser(user)
    token = client.cookies["csrftoken"].value
    client.post(
        VERIFY,
        {"action": "send", "device": device.pk, "method": "push", "csrfmiddlewaretoken": token},
    )
    push = PushRequest.objects.get(user=user)
    app.decide(push.pk, "approve", push.number)
    response = check_push(client, device)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.APPROVED


def test_a_cross_site_step_up_send_makes_no_push(user, phone):
    device, _ = phone
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert send_push(client, device, url=CONFIRM).status_code == HTTPStatus.FORBIDDEN
    assert pushes(user) == 0


# 10. Fraud reports and mutes without the victim's phone ---------------------------------------


def test_no_one_without_the_phone_can_report_fraud_or_mute_the_victims_pushes(
    user, phone, their_phone
):
    device, victim_app = phone
    _, mine = their_phone
    client = browser(1)
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    unsigned = {**victim_app.decision_body(push.pk, "fraud"), "signature": ""}
    stolen_shape = {**victim_app.decision_body(push.pk, "deny"), "decision": "fraud"}
    for body in (
        unsigned,
        stolen_shape,
        {**mine.decision_body(push.pk, "fraud"), "app_id": victim_app.app_id},
    ):
        assert victim_app.post("api_decide", body).status_code == HTTPStatus.UNAUTHORIZED
    assert mine.decide(push.pk, "fraud").status_code == HTTPStatus.CONFLICT
    assert not FraudReport.objects.exists()
    assert not Message.objects.filter(purpose__in=["push_fraud", "push_fraud_desk"]).exists()
    assert not Profile.objects.filter(user=user, push_muted_until__gt=timezone.now()).exists()


def test_a_reported_push_is_reported_once(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    push = PushRequest.objects.get(user=user)
    body = app.decision_body(push.pk, "fraud")
    assert app.post("api_decide", body).json() == {"state": "fraud"}
    for again in (body, app.decision_body(push.pk, "fraud")):
        assert app.post("api_decide", again).status_code == HTTPStatus.CONFLICT
    assert FraudReport.objects.filter(user=user).count() == 1
    assert Message.objects.filter(purpose="push_fraud_desk").count() == 1


# 11. The Web Push subscription: the portal posts only to a push service ----------------------


def subscribe_body(app: SoftApp, endpoint: str, *, keys=None) -> dict:
    ts = int(time.time())
    message = f"portal-authenticator-subscribe\n{app.app_id}\n{ts}\n{endpoint}"
    return {
        "app_id": app.app_id,
        "ts": ts,
        "subscription": {
            "endpoint": endpoint,
            "keys": {"p256dh": "BPk", "auth": "x2"} if keys is None else keys,
        },
        "signature": raw_sign(app.key, message),
    }


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://localhost./",
        "https://fcm.googleapis.com./x",
        "https://FCM.GOOGLEAPIS.COM.evil.example/x",
        "https://push.apple.com/x",
        "https://evil.example#.push.apple.com",
        "https://evil.example?.push.apple.com",
        "https://evil.example/.push.apple.com",
        "https://fcm.googleapis.com@evil.example/x",
        "https://fcm.googleapis.com:443@evil.example/x",
        "https://fcm.googleapis.com\\@evil.example/x",
        "https://evil.example\t@fcm.googleapis.com/x",
        "https://fcm.googleapis.com\t.evil.example/x",
        "https://fcm.googleapis.com%2eevil.example/x",
        "https://fcm\uff0egoogleapis\uff0ecom/x",
        "https://evil\u3002push.apple.com/x",
        "https://fcm.googleapis.com:80/x",
        "https://fcm.googleapis.com:0/x",
        "https://fcm.googleapis.com\r\nHost: evil/x",
        "ftp://fcm.googleapis.com/x",
        "file:///etc/passwd",
        "//fcm.googleapis.com/x",
        "https:fcm.googleapis.com/x",
        "https://fcm.googleapis.com/" + "a" * 1000,
    ],
)
def test_a_subscription_never_makes_the_portal_post_outside_a_push_service(user, phone, endpoint):
    import urllib3

    _, app = phone
    response = post_raw("api_subscribe", subscribe_body(app, endpoint))
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    stored = AppKey.objects.get(pk=app.app_id).push_endpoint
    if response.status_code == HTTPStatus.NO_CONTENT:
        # Where requests (pywebpush) would connect to, not only what the portal's check read.
        for host in (
            (urllib3.util.parse_url(stored).host or "").lower(),
            requests_host(stored),
        ):
            assert host == "fcm.googleapis.com" or host.endswith(".push.apple.com"), host
    else:
        assert stored == ""


def requests_host(endpoint: str) -> str:
    """The host requests (which pywebpush posts with) connects to for ``endpoint``."""
    import requests

    prepared = requests.Request("POST", endpoint).prepare()
    return (requests.utils.urlparse(prepared.url).hostname or "").lower()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example\\@fcm.googleapis.com/x",
        "https://10.0.0.5:8443\\@fcm.googleapis.com/x",
        "https://169.254.169.254\\@api.push.apple.com/x",
    ],
)
def test_a_backslash_in_the_endpoint_does_not_take_the_portal_elsewhere(user, phone, endpoint):
    _, app = phone
    assert requests_host(endpoint) not in ("fcm.googleapis.com", "api.push.apple.com")
    response = post_raw("api_subscribe", subscribe_body(app, endpoint))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert AppKey.objects.get(pk=app.app_id).push_endpoint == ""


@pytest.fixture
def vapid(settings):
    """Web Push on, with a key pair from ``manage.py vapid_keys``, tasks run in-process."""
    import io

    from django.core.management import call_command

    from portal.celery import app as celery_app

    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    pair = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    settings.TWOFACTOR_VAPID_PUBLIC_KEY = pair["TWOFACTOR_VAPID_PUBLIC_KEY"]
    settings.TWOFACTOR_VAPID_PRIVATE_KEY = pair["TWOFACTOR_VAPID_PRIVATE_KEY"]
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def test_a_push_wakes_no_host_but_a_push_service(stranger, their_phone, vapid, monkeypatch):
    import requests

    device, app = their_phone
    contacted: list[str] = []

    def send(adapter, request, **kwargs):
        contacted.append(requests.utils.urlparse(request.url).netloc)
        response = requests.Response()
        response.status_code = HTTPStatus.CREATED
        response.request = request
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    browser_key = ec.generate_private_key(ec.SECP256R1())
    keys = {
        "p256dh": b64url(
            browser_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        ),
        "auth": b64url(secrets.token_bytes(16)),
    }
    endpoint = "https://10.0.0.5\\@fcm.googleapis.com/fcm/send/abc"
    refused = post_raw("api_subscribe", subscribe_body(app, endpoint, keys=keys))
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    # The attacker signs in to their own account and asks for a push: the portal wakes "the app"
    # only at an address it accepted.
    attacker = browser(1)
    password_step(attacker, stranger)
    send_push(attacker, device)
    assert PushRequest.objects.filter(user=stranger).exists()
    assert all(host in ("fcm.googleapis.com", "fcm.googleapis.com:443") for host in contacted), (
        contacted
    )


def test_an_out_of_range_port_is_refused_not_a_500_even_unsigned(user, phone):
    _, app = phone
    body = {
        "app_id": app.app_id,
        "ts": int(time.time()),
        "subscription": {
            "endpoint": "https://fcm.googleapis.com:99999/x",
            "keys": {"p256dh": "BPk", "auth": "x2"},
        },
        "signature": "not-a-signature",
    }
    response = post_raw("api_subscribe", body)
    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize(
    "keys",
    [
        {"p256dh": "x" * 201, "auth": "y"},
        {"p256dh": "x", "auth": "y" * 101},
        {"p256dh": 1, "auth": 2},
        {},
    ],
)
def test_subscription_keys_of_the_wrong_size_are_refused(user, phone, keys):
    _, app = phone
    body = subscribe_body(app, "https://fcm.googleapis.com/fcm/send/x", keys=keys)
    assert post_raw("api_subscribe", body).status_code == HTTPStatus.BAD_REQUEST
    assert AppKey.objects.get(pk=app.app_id).push_endpoint == ""


# 12. The desktop pages before the second step -------------------------------------------------


def test_a_wrong_password_sends_no_automatic_push_and_reads_as_an_unknown_name(user, phone):
    Profile.objects.update_or_create(user=user, defaults={"login_action": "push"})
    for n in range(5):
        wrong = post_login(browser(n + 1), user.username, "not the password at all")
        unknown = post_login(browser(n + 11), "nobody-by-this-name", "not the password at all")
        assert wrong.status_code == unknown.status_code == HTTPStatus.OK
        assert page_text(wrong, user.username) == page_text(unknown, "nobody-by-this-name")
        assert set(wrong.cookies) == set(unknown.cookies)
    assert pushes(user) == 0
    assert not AuditEvent.objects.filter(event="twofactor.push_sent").exists()


def test_the_right_password_of_a_locked_account_sends_no_push(user, phone):
    from accounts.services.lockout import account_lock

    Profile.objects.update_or_create(user=user, defaults={"login_action": "push"})
    account_lock(user=user, reason="test")
    right = post_login(browser(1), user.username, DEFAULT_PASSWORD)
    wrong = post_login(browser(2), user.username, "not the password at all")
    assert right.status_code == wrong.status_code
    assert page_text(right, user.username) == page_text(wrong, user.username)
    assert pushes(user) == 0


def test_a_session_with_a_wrong_password_sends_no_push_from_the_second_step(user, phone):
    device, _ = phone
    attacker = browser(1)
    post_login(attacker, user.username, "not the password at all")
    fresh = browser(2)
    one, other = send_push(attacker, device), send_push(fresh, device)
    assert one.status_code == other.status_code == HTTPStatus.FOUND
    assert one.url == other.url
    assert check_push(attacker, device).status_code == HTTPStatus.FOUND
    assert pushes(user) == 0
