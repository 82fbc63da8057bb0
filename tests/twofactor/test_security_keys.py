"""Security keys and passkeys (WebAuthn): registered in the setup wizard, used at the second
step of sign-in, at the step-up before a change and at a password reset.

The key is played by ``SoftKey`` (tests/twofactor/webauthn_soft.py), which makes real
answers: "none" attestation at registration, ECDSA P-256 signatures over the authenticator
data and the client data at sign-in. Service tests call ``twofactor.security_keys`` as the
pages do; page tests go through the pages as a person's browser would, with the options
fetched from ``twofactor:key_options`` and the answer posted in the form's hidden field.
"""

from __future__ import annotations

import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, PHONE, UserFactory
from tests.helpers import code_sent_to, prove_it_is_you
from tests.twofactor.conftest import (
    CONFIRM,
    DEVICES,
    VERIFY,
    make_device,
    password_step,
    second_step,
    signed_in_as,
)
from tests.twofactor.webauthn_soft import SoftKey, b64url
from twofactor.models import Device, Profile, SecurityKey, WebAuthnChallenge
from twofactor.security_keys import (
    SecurityKeyError,
    key_authenticate,
    key_authentication_options,
    key_register,
    key_registration_options,
    user_handle,
)
from twofactor.services import device_remove, second_factor_verify

pytestmark = pytest.mark.django_db

RP_ID = "portal.example.org"
ORIGIN = "https://portal.example.org"
START = reverse("twofactor:enroll")
TYPE = reverse("twofactor:enroll_type")
KEY = reverse("twofactor:enroll_key")
KEY_OPTIONS = reverse("twofactor:enroll_key_options")
DONE = reverse("twofactor:enroll_done")
OPTIONS = reverse("twofactor:key_options")
WRONG_KEY = "That security key did not confirm it is you."


@pytest.fixture(autouse=True)
def _relying_party(settings):
    settings.TWOFACTOR_WEBAUTHN_RP_ID = RP_ID
    settings.TWOFACTOR_WEBAUTHN_ORIGINS = [ORIGIN]


def soft_key(**options) -> SoftKey:
    return SoftKey(origin=ORIGIN, rp_id=RP_ID, **options)


@pytest.fixture
def key() -> SoftKey:
    return soft_key()


def register(user: User, key: SoftKey, *, name: str = "My YubiKey") -> Device:
    """``key`` registered for ``user`` as the wizard registers it."""
    options = key_registration_options(user=user)
    return key_register(user=user, credential_json=key.register(options), name=name)


@pytest.fixture
def key_device(user, key) -> Device:
    return register(user, key)


def answer(user: User, key: SoftKey, device: Device, **bent) -> str:
    """``key``'s answer to new authentication options for ``device``."""
    return key.assert_(key_authentication_options(user=user, device=device), **bent)


def authenticate(user: User, key: SoftKey, device: Device, **bent):
    return key_authenticate(
        user=user, device_id=device.pk, credential_json=answer(user, key, device, **bent)
    )


def failures(user: User) -> int:
    return Profile.objects.filter(user=user).values_list("failed_count", flat=True).first() or 0


# Registration -------------------------------------------------------------------------------


def test_registration_options_name_the_portal_and_an_opaque_stable_handle(user, key_device):
    options = key_registration_options(user=user)
    assert options["rp"] == {"id": RP_ID, "name": "HMS Identity Portal"}
    assert options["user"]["name"] == user.username
    assert options["user"]["id"] == b64url(user_handle(user))
    assert len(user_handle(user)) == 32
    assert key_registration_options(user=user)["user"]["id"] == options["user"]["id"]
    assert options["user"]["id"] != key_registration_options(user=UserFactory())["user"]["id"]
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    # The account's own keys are excluded, so the same key is not added twice.
    excluded = [item["id"] for item in options["excludeCredentials"]]
    assert excluded == [key_device.security_key.credential_id]
    json.dumps(options)  # JSON as it is


def test_a_registered_key_is_a_confirmed_default_device_and_the_person_is_told(user, key):
    device = register(user, key)
    assert device.kind == Device.Kind.SECURITY_KEY
    assert device.is_confirmed and device.is_default
    assert device.methods == ["webauthn"]
    stored = device.security_key
    assert stored.confirmed and stored.credential_id == key.id
    assert stored.transports == ["usb"] and not stored.discoverable
    added = AuditEvent.objects.get(event="twofactor.device_added", subject=user)
    assert added.detail["kind"] == "key"
    notice = Message.objects.get(user=user, purpose__contains="device_added")
    assert '"My YubiKey" (security key)' in notice.body


def test_a_passkey_is_marked_discoverable_and_a_second_key_is_not_the_default(user, key_device):
    passkey = register(user, soft_key(resident=True), name="Laptop passkey")
    assert passkey.security_key.discoverable
    assert not passkey.is_default


def test_a_registration_answer_works_once(user, key):
    credential = key.register(key_registration_options(user=user))
    key_register(user=user, credential_json=credential, name="Key")
    with pytest.raises(SecurityKeyError):
        key_register(user=user, credential_json=credential, name="Key")
    assert SecurityKey.objects.count() == 1


@pytest.mark.parametrize(
    "bent", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"challenge": "AAAA"}]
)
def test_a_registration_for_another_origin_rp_or_challenge_adds_nothing(user, key, bent):
    credential = key.register(key_registration_options(user=user), **bent)
    with pytest.raises(SecurityKeyError):
        key_register(user=user, credential_json=credential, name="Key")
    assert not Device.objects.exists() and not SecurityKey.objects.exists()
    assert AuditEvent.objects.filter(event="twofactor.key_register_failed").exists()


def test_a_registration_answering_another_accounts_challenge_adds_nothing(user, key):
    other = UserFactory()
    credential = key.register(key_registration_options(user=other))
    key_registration_options(user=user)
    with pytest.raises(SecurityKeyError):
        key_register(user=user, credential_json=credential, name="Key")
    assert not SecurityKey.objects.exists()


def test_only_the_newest_registration_challenge_works(user, key):
    older = key_registration_options(user=user)
    key_registration_options(user=user)
    with pytest.raises(SecurityKeyError):
        key_register(user=user, credential_json=key.register(older), name="Key")


def test_a_key_registered_elsewhere_is_refused(user, key):
    register(UserFactory(), key)
    with pytest.raises(SecurityKeyError, match="already registered"):
        register(user, key)
    assert not Device.objects.filter(user=user).exists()


# The second factor ----------------------------------------------------------------------------


def test_a_keys_answer_proves_the_second_factor(user, key, key_device):
    result = authenticate(user, key, key_device)
    assert result.ok and result.device == key_device
    stored = SecurityKey.objects.get(pk=key_device.security_key_id)
    assert stored.sign_count == 1 and stored.last_used_at is not None
    assert Device.objects.get(pk=key_device.pk).last_used_at is not None
    event = AuditEvent.objects.get(event="twofactor.verified", subject=user)
    assert event.detail["method"] == "webauthn"


def test_authentication_options_ask_for_the_devices_key_only(user, key, key_device):
    other = register(user, soft_key(), name="Spare key")
    options = key_authentication_options(user=user, device=key_device)
    assert [item["id"] for item in options["allowCredentials"]] == [key.id]
    assert options["rpId"] == RP_ID and options["userVerification"] == "preferred"
    assert len(key_authentication_options(user=user)["allowCredentials"]) == 2
    assert other.security_key.credential_id != key.id
    with pytest.raises(SecurityKeyError):
        key_authentication_options(user=UserFactory())


def test_a_replayed_answer_is_refused(user, key, key_device):
    credential = answer(user, key, key_device)
    assert key_authenticate(user=user, device_id=key_device.pk, credential_json=credential).ok
    replayed = key_authenticate(user=user, device_id=key_device.pk, credential_json=credential)
    assert not replayed.ok
    assert failures(user) == 1


def test_an_answer_to_another_accounts_challenge_is_refused(user, key, key_device):
    other = UserFactory()
    register(other, soft_key())
    theirs = key_authentication_options(user=other)
    key_authentication_options(user=user, device=key_device)
    credential = key.assert_(theirs)
    assert not key_authenticate(user=user, device_id=key_device.pk, credential_json=credential).ok


def test_an_answer_without_a_challenge_of_the_account_is_refused(user, key, key_device):
    credential = key.assert_({"challenge": b64url(b"made up by the attacker")})
    assert not key_authenticate(user=user, device_id=key_device.pk, credential_json=credential).ok


@pytest.mark.parametrize(
    "bent",
    [
        {"origin": "https://portal.example.org.evil.example"},
        {"origin": "http://portal.example.org"},
        {"rp_id": "evil.example"},
        {"rp_id": "example.org"},
    ],
)
def test_an_answer_for_another_origin_or_relying_party_is_refused(user, key, key_device, bent):
    assert not authenticate(user, key, key_device, **bent).ok
    assert SecurityKey.objects.get(pk=key_device.security_key_id).sign_count == 0


def test_an_unknown_credential_is_refused(user, key_device):
    assert not authenticate(user, soft_key(), key_device).ok


def test_another_accounts_key_is_refused(user, key_device):
    other = UserFactory()
    their_key = soft_key()
    their_device = register(other, their_key)
    # Their own key, answering this account's challenge, for this account's device or theirs.
    assert not authenticate(user, their_key, key_device).ok
    options = key_authentication_options(user=user, device=key_device)
    credential = their_key.assert_(options)
    assert not key_authenticate(user=user, device_id=their_device.pk, credential_json=credential).ok


def test_a_key_of_another_device_of_the_account_does_not_prove_this_one(user, key, key_device):
    spare = soft_key()
    spare_device = register(user, spare, name="Spare key")
    options = key_authentication_options(user=user, device=key_device)
    credential = spare.assert_(options)
    assert not key_authenticate(user=user, device_id=key_device.pk, credential_json=credential).ok
    assert authenticate(user, spare, spare_device).ok


def test_a_counter_that_goes_back_is_refused_as_a_cloned_key(user, key, key_device):
    assert authenticate(user, key, key_device).ok
    assert authenticate(user, key, key_device).ok  # the counter is now 2
    clone = key.clone()
    clone.sign_count = 0
    result = authenticate(user, clone, key_device)  # reports 1
    assert not result.ok
    cloned = AuditEvent.objects.get(event="twofactor.key_cloned", subject=user)
    assert cloned.outcome == AuditEvent.Outcome.FAILURE
    assert (cloned.detail["sign_count"], cloned.detail["stored_count"]) == (1, 2)
    assert failures(user) == 1
    assert not authenticate(user, key, key_device, sign_count=2).ok  # the same count again
    assert AuditEvent.objects.filter(event="twofactor.key_cloned").count() == 2
    assert authenticate(user, key, key_device).ok  # 3: the genuine key goes on


def test_a_forged_answer_is_not_taken_for_a_cloned_key(user, key, key_device):
    authenticate(user, key, key_device)
    forger = soft_key()
    forger.credential_id = key.credential_id  # the id is no secret; the private key is
    assert not authenticate(user, forger, key_device, sign_count=1).ok
    assert not AuditEvent.objects.filter(event="twofactor.key_cloned").exists()
    assert failures(user) == 1


@pytest.mark.parametrize(("after", "works"), [(-1, True), (0, False)])
def test_a_challenge_works_for_five_minutes(user, key, key_device, after, works):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        credential = answer(user, key, key_device)
    with time_machine.travel(now + timedelta(minutes=5, seconds=after), tick=False):
        result = key_authenticate(user=user, device_id=key_device.pk, credential_json=credential)
    assert result.ok is works


def test_a_passkey_without_a_counter_signs_in_again_and_again(user):
    passkey = soft_key(resident=True, counter=False)
    device = register(user, passkey)
    assert all(authenticate(user, passkey, device).ok for _ in range(3))
    assert SecurityKey.objects.get(pk=device.security_key_id).sign_count == 0


def test_key_failures_share_the_count_and_lock_of_every_method(user, key, key_device):
    phone = make_device(user, name="My iPhone")
    for _ in range(9):
        assert not second_factor_verify(
            user=user, device_id=phone.pk, method="passcode", code="000000"
        ).ok
    result = authenticate(user, key, key_device, origin="https://evil.example")
    assert result.locked
    user.refresh_from_db()
    assert user.is_locked
    locked = AuditEvent.objects.get(event="account.locked", subject=user)
    assert locked.detail["reason"] == "second_factor:webauthn"


def test_a_keys_success_starts_the_count_again(user, key, key_device):
    phone = make_device(user, name="My iPhone")
    second_factor_verify(user=user, device_id=phone.pk, method="passcode", code="000000")
    assert failures(user) == 1
    assert authenticate(user, key, key_device).ok
    assert failures(user) == 0


def test_a_removed_key_no_longer_signs_in(user, key, key_device):
    make_device(user, name="My iPhone")
    credential = answer(user, key, key_device)
    device_remove(device=key_device)
    assert not SecurityKey.objects.filter(credential_id=key.id).exists()
    assert not key_authenticate(user=user, device_id=key_device.pk, credential_json=credential).ok
    with pytest.raises(SecurityKeyError):
        key_authentication_options(user=user)


# The pages ----------------------------------------------------------------------------------


def key_options(client, device: Device, step: str = "signin"):
    return client.post(OPTIONS, {"device": device.pk, "step": step})


def use_key(client, key: SoftKey, device: Device, *, page=VERIFY, step="signin", **extra):
    """Press "Use security key": the script fetches the options, the key answers, the form
    is posted with the answer."""
    options = key_options(client, device, step)
    assert options.status_code == HTTPStatus.OK, options.content
    credential = key.assert_(options.json())
    data = {"action": "webauthn", "device": device.pk, "method": "webauthn", **extra}
    return client.post(page, {"credential": credential, **data})


@pytest.mark.django_db(transaction=True)
def test_register_a_key_in_the_wizard_then_sign_in_with_it(client, user, key, outbox):
    client.force_login(user)
    prove_it_is_you(client, DEFAULT_PASSWORD, read_code=lambda: code_sent_to(outbox, PHONE))
    assert client.post(START).url == TYPE
    assert client.post(TYPE, {"kind": "key"}).url == KEY
    page = client.get(KEY)
    text = page.content.decode()
    assert "Name this key" in text and "Register security key" in text
    assert 'value="Security key"' in text and "js/webauthn.js" in text
    assert "Register the key" in text  # the step bar of the key's own path
    options = client.post(KEY_OPTIONS)
    assert options.status_code == HTTPStatus.OK
    done = client.post(KEY, {"name": "My YubiKey", "credential": key.register(options.json())})
    assert done.url == DONE
    assert b"My YubiKey" in client.get(DONE).content
    device = Device.objects.get(user=user, kind=Device.Kind.SECURITY_KEY)
    assert device.is_confirmed and device.name == "My YubiKey"

    client.post(reverse("accounts:logout"))
    password_step(client, user)
    verify_page = client.get(VERIFY).content.decode()
    assert "Use security key" in verify_page
    assert "Insert your key or use your passkey, then touch it" in verify_page
    assert 'data-step="signin"' in verify_page and "js/webauthn.js" in verify_page
    response = use_key(client, key, device)
    assert response.status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == user.pk
    assert client.session[DEVICE_ID_SESSION_KEY] == device.security_key.persistent_id


def test_a_later_key_is_added_after_a_fresh_second_factor_and_bad_answers_say_why(
    client, user, key
):
    phone = make_device(user, name="My iPhone")
    password_step(client, user)
    second_step(client, phone)
    assert client.post(START, {"add": "1"}).url == TYPE
    assert client.post(TYPE, {"kind": "key"}).url == KEY
    options = client.post(KEY_OPTIONS).json()
    refused = client.post(
        KEY, {"name": "Key", "credential": key.register(options, origin="https://evil.example")}
    )
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "could not be checked" in refused.content.decode()
    assert "<title>Error: " in refused.content.decode()
    malformed = client.post(KEY, {"name": "Key", "credential": "{not json"})
    assert malformed.status_code == HTTPStatus.BAD_REQUEST
    assert "could not be read" in malformed.content.decode()
    empty = client.post(KEY, {"name": "Key", "credential": ""})
    assert empty.status_code == HTTPStatus.BAD_REQUEST
    assert "sent no answer from the key" in empty.content.decode()
    assert not SecurityKey.objects.exists()
    retried = client.post(
        KEY, {"name": "Key", "credential": key.register(client.post(KEY_OPTIONS).json())}
    )
    assert retried.url == DONE
    assert not Device.objects.get(user=user, kind="key").is_default


def test_registration_options_are_only_for_the_wizards_key_stage(client, user, key_device):
    client.force_login(user)
    before = list(WebAuthnChallenge.objects.values_list("challenge", flat=True))
    refused = client.post(KEY_OPTIONS)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["error"]
    assert list(WebAuthnChallenge.objects.values_list("challenge", flat=True)) == before


def test_authentication_options_only_for_a_sign_in_waiting_at_the_second_step(user, key_device):
    anonymous = Client()
    for step in ("signin", "step_up", "reset", "other", ""):
        refused = anonymous.post(OPTIONS, {"device": key_device.pk, "step": step})
        assert refused.status_code == HTTPStatus.FORBIDDEN, step
        assert "expired" in refused.json()["error"]
    assert not WebAuthnChallenge.objects.filter(purpose="authenticate").exists()
    password_step(anonymous, user)
    assert key_options(anonymous, key_device).status_code == HTTPStatus.OK
    other_device = register(UserFactory(), soft_key())
    assert key_options(anonymous, other_device).status_code == HTTPStatus.BAD_REQUEST


def test_remember_me_works_with_a_key(client, user, key, key_device):
    from twofactor.remember import REMEMBER_COOKIE

    password_step(client, user)
    response = use_key(client, key, key_device, remember="on")
    assert signed_in_as(client) == user.pk
    assert response.cookies[REMEMBER_COOKIE].value


def test_a_refused_key_says_so_beside_the_key_and_counts(client, user, key, key_device):
    password_step(client, user)
    options = key_options(client, key_device).json()
    credential = key.assert_(options, origin="https://evil.example")
    data = {"action": "webauthn", "device": key_device.pk, "method": "webauthn"}
    response = client.post(VERIFY, {**data, "credential": credential})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG_KEY in response.content.decode()
    assert signed_in_as(client) is None
    assert failures(user) == 1


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ("", "sent no answer from the key"),
        ("{not json", "could not be read"),
        ("[1, 2]", "could not be read"),
        ('"a string"', "could not be read"),
        ("x" * 70_000, "could not be read"),
        ('{"id": 1}', WRONG_KEY),
        ('{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}', WRONG_KEY),
    ],
)
def test_a_malformed_answer_is_a_400_with_a_sentence(client, user, key_device, credential, message):
    password_step(client, user)
    key_options(client, key_device)
    data = {"action": "webauthn", "device": key_device.pk, "method": "webauthn"}
    response = client.post(VERIFY, {**data, "credential": credential})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    assert signed_in_as(client) is None


@pytest.mark.parametrize("device", ["²", "٣", "-1", "1e3", "99999999999999999999", ""])
def test_a_key_post_naming_no_device_of_the_account_is_a_400(client, user, key_device, device):
    password_step(client, user)
    data = {"action": "webauthn", "device": device, "method": "webauthn", "credential": "{}"}
    response = client.post(VERIFY, data)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose one of your devices." in response.content.decode()
    assert client.post(OPTIONS, {"device": device, "step": "signin"}).status_code == 400


def test_a_key_post_for_a_device_that_is_not_a_key_is_refused(client, user, key_device):
    phone = make_device(user, name="My iPhone")
    password_step(client, user)
    data = {"action": "webauthn", "device": phone.pk, "method": "webauthn", "credential": "{}"}
    response = client.post(VERIFY, data)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(client) is None


def test_step_up_with_a_key_then_remove_it_and_it_no_longer_signs_in(client, user, key):
    phone = make_device(user, name="My iPhone")
    device = register(user, key)
    password_step(client, user)
    second_step(client, phone)
    assert signed_in_as(client) == user.pk
    page = client.get(DEVICES).content.decode()
    assert "My YubiKey" in page and "Security key" in page
    # Eleven minutes later a change asks again; the key confirms it.
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        confirm_page = client.get(f"{CONFIRM}?next={DEVICES}")
        assert "Use security key" in confirm_page.content.decode()
        assert 'data-step="step_up"' in confirm_page.content.decode()
        confirmed = use_key(client, key, device, page=CONFIRM, step="step_up", next=DEVICES)
        assert confirmed.url == DEVICES
        assert client.session[DEVICE_ID_SESSION_KEY] == device.security_key.persistent_id
        removed = client.post(reverse("twofactor:device_remove", args=[device.pk]))
        assert removed.url == DEVICES
    assert not SecurityKey.objects.exists()
    client.post(reverse("accounts:logout"))
    password_step(client, user)
    assert key_options(client, device).status_code == HTTPStatus.BAD_REQUEST
    data = {"action": "webauthn", "device": device.pk, "method": "webauthn"}
    stale = key.assert_({"challenge": b64url(b"x" * 32)})
    response = client.post(VERIFY, {**data, "credential": stale})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(client) is None


@pytest.mark.django_db(transaction=True)
def test_a_reset_takes_the_key_as_its_second_factor(client, user, key, outbox):
    from tests.twofactor.test_reset import CHECK, RESET, safecode_proven

    device = register(user, key)
    assert safecode_proven(client, user, outbox).url == CHECK
    assert client.get(CHECK).url == RESET
    reset_page = client.get(RESET).content.decode()
    assert "Use security key" in reset_page and 'data-step="reset"' in reset_page
    passed = use_key(client, key, device, page=RESET, step="reset")
    assert passed.url == CHECK


HOSTILE = st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(credential=HOSTILE, device=st.text(max_size=20), step=st.text(max_size=20))
def test_hostile_input_never_errors(client, settings, user, key_device, credential, device, step):
    settings.TWOFACTOR_LOCK_AFTER_FAILURES = 1_000_000
    if client.get(VERIFY).status_code != HTTPStatus.OK:
        password_step(client, user)
    assert client.post(OPTIONS, {"device": device, "step": step}).status_code < 500
    data = {"action": "webauthn", "device": device, "method": "webauthn", "credential": credential}
    assert client.post(VERIFY, data).status_code < 500
    data["device"] = key_device.pk
    assert client.post(VERIFY, data).status_code < 500
    assert signed_in_as(client) is None


# Races, against PostgreSQL ------------------------------------------------------------------

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Concurrent conditional UPDATEs need PostgreSQL; SQLite serialises writers.",
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_twenty_copies_of_one_answer_at_once_sign_in_once(user, key, key_device):
    from tests.safecode.test_concurrency import THREADS, race

    credential = answer(user, key, key_device)
    results = race(
        lambda: key_authenticate(user=user, device_id=key_device.pk, credential_json=credential).ok
    )
    assert results.count(True) == 1
    assert results.count(False) == THREADS - 1


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_twenty_copies_of_one_registration_at_once_add_one_key(user, key):
    from tests.safecode.test_concurrency import race

    credential = key.register(key_registration_options(user=user))

    def attempt():
        try:
            return key_register(user=user, credential_json=credential, name="Key").pk
        except SecurityKeyError:
            return None

    results = race(attempt)
    assert len([pk for pk in results if pk is not None]) == 1
    assert SecurityKey.objects.count() == 1 and Device.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("portal_url", "rp_id", "origin"),
    [
        ("http://127.0.0.1:8000", "localhost", "http://localhost:8000"),
        ("http://[::1]:8000", "localhost", "http://localhost:8000"),
        (
            "https://portal.hms.harvard.edu",
            "portal.hms.harvard.edu",
            "https://portal.hms.harvard.edu",
        ),
    ],
)
def test_the_relying_party_is_never_an_ip_address(settings, portal_url, rp_id, origin):
    """Browsers refuse an IP address as relying party: the embedded default (a portal at
    127.0.0.1) has its keys on localhost."""
    from twofactor.app_settings import app_settings

    settings.PORTAL_URL = portal_url
    settings.TWOFACTOR_WEBAUTHN_RP_ID = ""
    settings.TWOFACTOR_WEBAUTHN_ORIGINS = []
    found_rp_id, found_origins = app_settings.WEBAUTHN_RP_ID, app_settings.WEBAUTHN_ORIGINS
    assert found_rp_id == rp_id
    assert found_origins == (origin,)
