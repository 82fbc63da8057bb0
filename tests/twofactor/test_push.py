"""Push to the portal's authenticator app: activation, the phone's signed calls, verified push
at the second step, fraud reports and the limits that protect a person from push fatigue.

The phone is ``SoftApp``: a real P-256 key pair signing the app's messages as WebCrypto does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from audit.models import AuditEvent
from delivery.models import Message
from tests.twofactor.conftest import make_device, password_step, signed_in_as
from tests.twofactor.soft_app import SoftApp, activated_device, raw_sign
from twofactor.models import ActivationLink, Device, FraudReport, Profile, PushRequest
from twofactor.push import app_activation_link, push_send
from twofactor.services import device_confirm, device_start

pytestmark = pytest.mark.django_db

VERIFY = reverse("twofactor:verify")
HOME = reverse("home")


@pytest.fixture
def phone(user):
    return activated_device(user)


def send_push(client, device):
    return client.post(VERIFY, {"action": "send", "device": device.pk, "method": "push"})


def waiting_push(user) -> PushRequest:
    return PushRequest.objects.filter(user=user).latest("created_at")


def push_waiting_at_second_step(client, user, device) -> PushRequest:
    """The password, then "Send me a push": the push the page now waits for."""
    password_step(client, user)
    send_push(client, device)
    return waiting_push(user)


def check_push(client, device, **extra):
    data = {"action": "push", "device": device.pk, "method": "push", **extra}
    return client.post(VERIFY, data)


# Activation -------------------------------------------------------------------------------------


def test_activation_alone_confirms_nothing_the_apps_first_passcode_does(user):
    """Whoever opened the link (a photo of the QR code, a shared screen) has a key, but the
    device counts only once the passcode that app shows is typed on the setup page."""
    device = device_start(user=user, kind="mobile", name="Phone", phone_type="iphone", app=True)
    app = SoftApp(Client())
    assert app.activate(app_activation_link(device=device)).status_code == HTTPStatus.OK
    device.refresh_from_db()
    assert device.app is not None and not device.is_confirmed
    assert AuditEvent.objects.filter(event="twofactor.app_activated", subject=user).exists()
    assert not Message.objects.filter(purpose="device_added", user=user).exists()
    # Its polls find nothing until then, and no push can be sent to it.
    assert app.poll().json() == {"requests": []}

    assert device_confirm(device=device, method="passcode", code=app.passcode())
    device = Device.objects.select_related("app", "totp").get(pk=device.pk)
    assert device.is_confirmed and device.is_default
    assert device.methods[:2] == ["push", "passcode"]
    assert Message.objects.filter(purpose="device_added", user=user).exists()


def test_an_activation_token_works_once(user):
    device = device_start(user=user, kind="mobile", name="Phone", phone_type="android", app=True)
    token = app_activation_link(device=device)
    assert SoftApp(Client()).activate(token).status_code == HTTPStatus.OK
    second = SoftApp(Client()).activate(token)
    assert second.status_code == HTTPStatus.NOT_FOUND
    assert "used already" in second.json()["error"]


def test_an_activation_token_expires_after_24_hours(user):
    device = device_start(user=user, kind="mobile", name="Phone", phone_type="android", app=True)
    token = app_activation_link(device=device)
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        assert SoftApp(Client()).activate(token).status_code == HTTPStatus.NOT_FOUND
    assert not Device.objects.get(pk=device.pk).is_confirmed


def test_an_activation_signed_with_another_key_is_refused_and_keeps_the_token(user):
    device = device_start(user=user, kind="mobile", name="Phone", phone_type="android", app=True)
    token = app_activation_link(device=device)
    app, thief = SoftApp(Client()), SoftApp(Client())
    body = {
        "token": token,
        "public_key": thief_key(thief),
        "platform": "x",
        "signature": raw_sign(app.key, f"portal-authenticator-activate\n{token}"),
    }
    assert app.post("api_activate", body).status_code == HTTPStatus.UNAUTHORIZED
    assert app.activate(token).status_code == HTTPStatus.OK


def thief_key(app: SoftApp) -> str:
    from tests.twofactor.soft_app import spki

    return spki(app.key)


def test_the_key_link_of_another_app_does_not_activate_the_portal_app(user):
    """The emailed link that shows a TOTP key is not an activation token, nor the reverse."""
    from twofactor.services import activation_link_create, activation_link_live

    device = device_start(user=user, kind="mobile", name="Phone", phone_type="android", app=True)
    key_token = activation_link_create(device=device)
    assert SoftApp(Client()).activate(key_token).status_code == HTTPStatus.NOT_FOUND
    app_token = app_activation_link(device=device)
    assert activation_link_live(app_token) is None
    response = Client().get(reverse("twofactor:activation_link", args=[app_token]))
    assert response.status_code == HTTPStatus.NOT_FOUND


# The phone's signed calls ---------------------------------------------------------------------


def test_the_phone_sees_who_what_where_and_when_but_never_the_number(user, phone):
    device, app = phone
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Chrome/130.0")
    push = push_waiting_at_second_step(client, user, device)
    listed = app.poll().json()["requests"]
    assert [r["id"] for r in listed] == [str(push.pk)]
    shown = listed[0]
    assert shown["account"] == user.username
    assert shown["purpose"] == "Sign in"
    assert shown["browser"] == "Chrome on Windows"
    assert shown["ip"] == "127.0.0.1"
    assert 0 < shown["expires_in"] <= 60
    assert push.number not in json.dumps(shown).replace(shown["created_at"], "")


def test_a_poll_signed_with_another_key_or_out_of_time_is_refused(user, phone):
    _, app = phone
    impostor = SoftApp(Client(), app_id=app.app_id)
    assert impostor.poll().status_code == HTTPStatus.UNAUTHORIZED
    old = int(timezone.now().timestamp()) - 600
    assert app.poll(ts=old).status_code == HTTPStatus.UNAUTHORIZED
    assert app.poll().status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"app_id": "x"}',
        b'{"app_id": 1, "ts": "soon", "signature": 5}',
        b'{"app_id": 99999999999999999999}',
        b'{"token": "a\\nb", "public_key": "AAAA", "signature": "!!"}',
        b"{" + b'"a": "b",' * 2000 + b'"c": 1}',
    ],
)
@pytest.mark.parametrize("name", ["api_activate", "api_requests", "api_decide", "api_subscribe"])
def test_garbage_to_the_api_gets_a_readable_refusal_never_a_500(user, phone, name, body):
    response = Client().post(reverse(f"mobile:{name}"), data=body, content_type="application/json")
    assert HTTPStatus.BAD_REQUEST <= response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert response.json()["error"]


def test_the_api_answers_only_post(user):
    for name in ("api_activate", "api_requests", "api_decide", "api_subscribe"):
        assert Client().get(reverse(f"mobile:{name}")).status_code == HTTPStatus.METHOD_NOT_ALLOWED


# Decisions: signed, bound to one request, accepted once, in time ------------------------------


def test_an_approval_with_the_number_signs_in_the_waiting_browser(client, user, phone):
    device, app = phone
    password_step(client, user)
    page = send_push(client, device)
    push = waiting_push(user)
    assert push.number in page.content.decode()
    status = client.get(reverse("twofactor:push_status", args=[push.pk])).json()
    assert status["state"] == "pending"
    assert app.decide(push.pk, "approve", push.number).json() == {"state": "approved"}
    assert client.get(reverse("twofactor:push_status", args=[push.pk])).json()["state"] == (
        "approved"
    )
    response = check_push(client, device)
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == user.pk
    assert AuditEvent.objects.filter(
        event="twofactor.verified", subject=user, detail__method="push"
    ).exists()


def test_an_approval_is_used_once(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    app.decide(push.pk, "approve", push.number)
    thief = Client()
    password_step(thief, user)
    # The thief's session waits for no push: the approval of another session's is not theirs.
    assert check_push(thief, device).status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(thief) is None
    check_push(client, device)
    assert signed_in_as(client) == user.pk
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.USED


def test_a_replayed_decision_is_refused(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    body = app.decision_body(push.pk, "deny")
    assert app.post("api_decide", body).status_code == HTTPStatus.OK
    assert app.post("api_decide", body).status_code == HTTPStatus.CONFLICT
    approve = app.decide(push.pk, "approve", push.number)
    assert approve.status_code == HTTPStatus.CONFLICT
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.DENIED


def test_a_decision_after_expiry_is_refused(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    with time_machine.travel(push.expires_at + timedelta(seconds=1)):
        response = app.decide(push.pk, "approve", push.number)
        assert response.status_code == HTTPStatus.CONFLICT
        page = check_push(client, device)
    assert "timed out" in page.content.decode()
    assert signed_in_as(client) is None


def test_a_decision_one_second_before_expiry_counts(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    with time_machine.travel(push.expires_at - timedelta(seconds=1)):
        assert app.decide(push.pk, "approve", push.number).status_code == HTTPStatus.OK


def test_a_decision_signed_for_another_request_is_refused(client, user, phone):
    device, app = phone
    password_step(client, user)
    send_push(client, device)
    first = waiting_push(user)
    PushRequest.objects.filter(pk=first.pk).update(state=PushRequest.State.DENIED)
    send_push(client, device)
    second = waiting_push(user)
    body = app.decision_body(first.pk, "approve", second.number)
    body["request_id"] = str(second.pk)
    assert app.post("api_decide", body).status_code == HTTPStatus.UNAUTHORIZED
    assert PushRequest.objects.get(pk=second.pk).state == PushRequest.State.PENDING


def test_a_decision_signed_with_another_key_is_refused(client, user, phone, django_user_model):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    impostor = SoftApp(Client(), app_id=app.app_id)
    assert impostor.decide(push.pk, "approve", push.number).status_code == (HTTPStatus.UNAUTHORIZED)
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.PENDING


def test_another_persons_app_cannot_answer_a_push(client, user, phone):
    from tests.factories import UserFactory

    device, _ = phone
    _, their_app = activated_device(UserFactory(), name="Their phone")
    push = push_waiting_at_second_step(client, user, device)
    response = their_app.decide(push.pk, "approve", push.number)
    assert response.status_code == HTTPStatus.CONFLICT
    assert PushRequest.objects.get(pk=push.pk).state == PushRequest.State.PENDING


def test_the_wrong_number_refuses_the_push_and_the_page_says_so(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    wrong = f"{(int(push.number) - 100 + 1) % 900 + 100}"
    assert app.decide(push.pk, "approve", wrong).json() == {"state": "wrong_number"}
    page = check_push(client, device)
    assert "did not match" in page.content.decode()
    assert signed_in_as(client) is None
    # Nor can the right number be sent afterwards: the push is over.
    assert app.decide(push.pk, "approve", push.number).status_code == HTTPStatus.CONFLICT


def test_a_denied_push_signs_no_one_in(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    app.decide(push.pk, "deny")
    page = check_push(client, device)
    assert page.status_code == HTTPStatus.BAD_REQUEST
    assert "denied on your phone" in page.content.decode()
    assert signed_in_as(client) is None


def test_a_page_with_no_javascript_waits_then_goes_on(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    waiting = check_push(client, device)
    assert waiting.status_code == HTTPStatus.OK
    assert push.number in waiting.content.decode()
    assert "Your phone has not answered yet" in waiting.content.decode()
    app.decide(push.pk, "approve", push.number)
    check_push(client, device)
    assert signed_in_as(client) == user.pk


def test_the_status_of_a_push_is_told_only_to_the_session_that_waits_for_it(client, user, phone):
    device, _ = phone
    push = push_waiting_at_second_step(client, user, device)
    url = reverse("twofactor:push_status", args=[push.pk])
    assert Client().get(url).status_code == HTTPStatus.NOT_FOUND
    other = Client()
    password_step(other, user)
    assert other.get(url).status_code == HTTPStatus.NOT_FOUND
    assert client.get(url).status_code == HTTPStatus.OK


def test_remember_me_works_with_a_push(client, user, phone):
    device, app = phone
    push = push_waiting_at_second_step(client, user, device)
    app.decide(push.pk, "approve", push.number)
    check_push(client, device, remember="on")
    assert signed_in_as(client) == user.pk
    client.post(reverse("accounts:logout"))
    # The next sign-in on this browser skips the second step.
    password_step(client, user)
    assert signed_in_as(client) == user.pk


# Fraud, and pushes nobody asked for ------------------------------------------------------------


def test_report_as_fraud_mutes_pushes_tells_the_person_and_the_desk(user, phone):
    device, app = phone
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    push = push_waiting_at_second_step(client, user, device)
    assert app.decide(push.pk, "fraud").json() == {"state": "fraud"}

    report = FraudReport.objects.get(user=user)
    assert report.push_id == push.pk and report.resolved_at is None
    assert report.browser == "Firefox on Linux"
    assert AuditEvent.objects.filter(event="twofactor.push_fraud_reported", subject=user).exists()
    notice = Message.objects.get(purpose="push_fraud", user=user)
    assert "reported as fraud" in notice.body and "Firefox on Linux" in notice.body
    assert Message.objects.filter(purpose="push_fraud_desk").exists()
    page = check_push(client, device)
    assert "reported as fraud" in page.content.decode()

    again = send_push(client, device)
    assert again.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "reported as fraud" in again.content.decode()
    assert PushRequest.objects.filter(user=user).count() == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=20, seconds=1)):
        password_step(client, user)
        assert send_push(client, device).status_code == HTTPStatus.OK


def test_three_unanswered_pushes_in_ten_minutes_turn_pushes_off(client, user, phone):
    device, _ = phone
    start = timezone.now()
    password_step(client, user)
    for minute in range(3):
        with time_machine.travel(start + timedelta(minutes=minute * 2)):
            assert send_push(client, device).status_code == HTTPStatus.OK
    with time_machine.travel(start + timedelta(minutes=6)):
        refused = send_push(client, device)
        assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
        assert "went unanswered" in refused.content.decode()
    assert PushRequest.objects.filter(user=user).count() == 3
    with time_machine.travel(start + timedelta(minutes=10, seconds=1)):
        password_step(client, user)
        assert send_push(client, device).status_code == HTTPStatus.OK


def test_a_device_without_the_app_is_offered_no_push(client, user):
    from tests.twofactor.conftest import MOBILE_NUMBER

    make_device(user, name="Phone with another app", number=MOBILE_NUMBER)
    password_step(client, user)
    page = client.get(VERIFY).content.decode()
    assert "Text me a passcode" in page
    assert "push" not in page.lower()


def test_a_device_with_the_app_is_offered_a_push_first(client, user, phone):
    password_step(client, user)
    page = client.get(VERIFY).content.decode()
    assert page.index("Send me a push") < page.index("Enter a passcode")


def test_pressing_send_again_does_not_buzz_the_phone_again(client, user, phone):
    device, _ = phone
    password_step(client, user)
    send_push(client, device)
    send_push(client, device)
    assert PushRequest.objects.filter(user=user).count() == 1


def test_the_other_methods_stay_when_pushes_are_off(client, user, phone):
    from tests.twofactor.conftest import app_passcode, second_step

    device, _ = phone
    Profile.objects.update_or_create(
        user=user, defaults={"push_muted_until": timezone.now() + timedelta(minutes=5)}
    )
    password_step(client, user)
    assert send_push(client, device).status_code == HTTPStatus.TOO_MANY_REQUESTS
    second_step(client, device, code=app_passcode(device))
    assert signed_in_as(client) == user.pk


# "When I sign in: Automatically send this device a push" ---------------------------------------


def test_automatic_push_is_sent_as_the_second_step_opens(client, user, phone):
    device, app = phone
    Profile.objects.update_or_create(user=user, defaults={"login_action": "push"})
    password_step(client, user)
    page = client.get(VERIFY)
    push = waiting_push(user)
    assert "as your settings ask" in page.content.decode()
    assert push.number in page.content.decode()
    app.decide(push.pk, "approve", push.number)
    check_push(client, device)
    assert signed_in_as(client) == user.pk


def test_the_push_preference_needs_a_default_device_with_the_app(client, user):
    from tests.twofactor.conftest import MOBILE_NUMBER

    make_device(user, name="Phone with another app", number=MOBILE_NUMBER)
    client.force_login(user)
    page = client.get(reverse("twofactor:devices")).content.decode()
    assert "Automatically call this device" in page
    assert "Automatically send this device a push" not in page


# Removal ---------------------------------------------------------------------------------------


def test_removing_the_device_revokes_the_app_key(user, phone):
    from twofactor.services import device_remove

    device, app = phone
    make_device(user, name="Spare")
    device_remove(device=device)
    response = app.poll()
    assert response.status_code == HTTPStatus.GONE
    assert response.json()["state"] == "removed"
    assert app.decide("00000000-0000-4000-8000-000000000000", "deny").status_code == (
        HTTPStatus.GONE
    )


# The service itself ----------------------------------------------------------------------------


def test_push_send_refuses_a_device_without_the_app(user):
    from tests.twofactor.conftest import MOBILE_NUMBER
    from twofactor.push import PushUnavailable

    device = make_device(user, number=MOBILE_NUMBER)
    with pytest.raises(PushUnavailable):
        push_send(device=device, flow="signin:1", request=None)


def test_the_number_is_three_digits_and_varies(user, phone):
    device, _ = phone
    numbers = set()
    for _ in range(12):
        push = push_send(device=device, flow="signin:1", request=None)
        numbers.add(push.number)
        PushRequest.objects.filter(pk=push.pk).update(state=PushRequest.State.USED)
    assert all(len(n) == 3 and n.isdigit() for n in numbers)
    assert len(numbers) > 1


def test_activation_links_of_the_app_are_kept_hashed(user):
    device = device_start(user=user, kind="mobile", name="Phone", phone_type="android", app=True)
    token = app_activation_link(device=device)
    stored = ActivationLink.objects.get(device=device)
    assert stored.for_app and token not in stored.token_hash


def test_the_passcode_of_the_app_works_at_the_second_step(client, user, phone):
    import base64

    device, app = phone
    key = base64.b32decode(app.totp_secret + "=" * (-len(app.totp_secret) % 8))
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        totp = TOTP(key, step=30, digits=6)
        totp.time = timezone.now().timestamp()
        password_step(client, user)
        client.post(
            VERIFY, {"device": device.pk, "method": "passcode", "code": f"{totp.token():06d}"}
        )
        assert signed_in_as(client) == user.pk


# Web Push subscriptions -------------------------------------------------------------------------


def subscribe_body(app: SoftApp, endpoint: str) -> dict:
    import time

    ts = int(time.time())
    message = f"portal-authenticator-subscribe\n{app.app_id}\n{ts}\n{endpoint}"
    return {
        "app_id": app.app_id,
        "ts": ts,
        "subscription": {"endpoint": endpoint, "keys": {"p256dh": "BPk", "auth": "x2"}},
        "signature": raw_sign(app.key, message),
    }


def test_a_subscription_to_a_known_push_service_is_kept(user, phone):
    device, app = phone
    endpoint = "https://fcm.googleapis.com/fcm/send/abc123"
    response = app.post("api_subscribe", subscribe_body(app, endpoint))
    assert response.status_code == HTTPStatus.NO_CONTENT
    device.app.refresh_from_db()
    assert device.app.push_endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://10.0.0.5/internal",
        "http://fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com.attacker.example/x",
        "https://evilpush.apple.com.example/x",
        "https://fcm.googleapis.com:8443/x",
        "https://localhost/x",
    ],
)
def test_a_subscription_naming_any_other_host_is_refused(user, phone, endpoint):
    """The portal posts to the endpoint: an app may not make it post to an address of its
    choosing (an internal service, say)."""
    device, app = phone
    response = app.post("api_subscribe", subscribe_body(app, endpoint))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    device.app.refresh_from_db()
    assert device.app.push_endpoint == ""


# The step-up before a change shares the push ---------------------------------------------------


def test_a_push_confirms_it_is_you_before_a_change(client, user, phone):
    device, app = phone
    client.force_login(user)
    confirm = reverse("twofactor:confirm")
    client.post(confirm, {"action": "send", "device": device.pk, "method": "push"})
    push = waiting_push(user)
    assert push.purpose == "Confirm a change"
    app.decide(push.pk, "approve", push.number)
    response = client.post(confirm, {"action": "push", "device": device.pk, "method": "push"})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == reverse("twofactor:devices")
    page = client.get(reverse("twofactor:devices")).content.decode()
    assert "Remove" in page


# The service desk's queue ----------------------------------------------------------------------


def test_a_fraud_report_reaches_the_desk_queue_and_is_resolved_there(client, user, phone, settings):
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    device, app = phone
    password_step(client, user)
    send_push(client, device)
    app.decide(waiting_push(user).pk, "fraud")
    report = FraudReport.objects.get(user=user)
    # The desk's own second factor is the console tests' matter, not this one's.
    settings.TWOFACTOR_REQUIRED_FOR = ()
    settings.TWOFACTOR_REQUIRED_FOR_STAFF = False

    desk = UserFactory(is_staff=True)
    desk.groups.add(Group.objects.get(name="Service desk"))
    console = Client()
    console.force_login(desk)
    queue = console.get(reverse("admin:twofactor_fraudreport_changelist"))
    assert queue.status_code == HTTPStatus.OK
    assert user.username in queue.content.decode()
    response = console.post(
        reverse("admin:twofactor_fraudreport_changelist"),
        {"action": "resolve", "_selected_action": [report.pk]},
    )
    assert response.status_code == HTTPStatus.FOUND
    report.refresh_from_db()
    assert report.resolved_at is not None and report.resolved_by == desk
    assert AuditEvent.objects.filter(event="twofactor.fraud_report_resolved", subject=user).exists()
    # Nothing else about a report can be changed from the console.
    change = reverse("admin:twofactor_fraudreport_change", args=[report.pk])
    console.post(change, {"browser": "edited"})
    report.refresh_from_db()
    assert report.browser != "edited"
