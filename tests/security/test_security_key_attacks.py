"""Attacks on security keys and passkeys (WebAuthn), over HTTP, as an outsider would make them:
with the victim's password only, with a key and an account of their own, with a copied or
bent answer, with a hostile body, from another site, or many at once on PostgreSQL.

The keys are ``SoftKey`` (tests/twofactor/webauthn_soft.py), which sign real answers; every
part of an answer can be bent (origin, RP id, challenge, counter, flags, client data). Each
test makes one attack and checks what the attacker sees and what changed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from http import HTTPStatus

import cbor2
import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory
from tests.helpers import in_threads, on_postgresql, page_text, post_login
from tests.twofactor.conftest import (
    CONFIRM,
    DEVICES,
    VERIFY,
    app_passcode,
    make_device,
    password_step,
    second_step,
    signed_in_as,
)
from tests.twofactor.webauthn_soft import UP, UV, SoftKey, b64url
from twofactor.models import Device, Profile, SecurityKey, WebAuthnChallenge
from twofactor.security_keys import key_register, key_registration_options

pytestmark = pytest.mark.django_db

RP_ID = "portal.example.org"
ORIGIN = "https://portal.example.org"
BE, BS = 0x08, 0x10

LOGIN = reverse("accounts:login")
OPTIONS = reverse("twofactor:key_options")
START = reverse("twofactor:enroll")
TYPE = reverse("twofactor:enroll_type")
KEY = reverse("twofactor:enroll_key")
KEY_OPTIONS = reverse("twofactor:enroll_key_options")
DONE = reverse("twofactor:enroll_done")

PAGE_EXPIRED = "This page has expired. Reload it and try again."
CHOOSE_KEY = "Choose one of your security keys."
WRONG_KEY = "That security key did not confirm it is you."
UNREADABLE = "The answer from the key could not be read."


@pytest.fixture(autouse=True)
def _portal(settings):
    settings.TWOFACTOR_REQUIRED_FOR = "all"
    settings.TWOFACTOR_WEBAUTHN_RP_ID = RP_ID
    settings.TWOFACTOR_WEBAUTHN_ORIGINS = [ORIGIN]


def soft_key(**options) -> SoftKey:
    return SoftKey(origin=ORIGIN, rp_id=RP_ID, **options)


def register(user: User, key: SoftKey, *, name: str = "My YubiKey") -> Device:
    """``key`` registered for ``user`` as the wizard registers it (the setting of a scene)."""
    options = key_registration_options(user=user)
    return key_register(user=user, credential_json=key.register(options), name=name)


@pytest.fixture
def user():
    """The victim: an account with a SafeCode phone."""
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def stranger():
    """The attacker's own account."""
    account = UserFactory()
    ChannelFactory(user=account)
    return account


@pytest.fixture
def key() -> SoftKey:
    return soft_key()


@pytest.fixture
def key_device(user, key) -> Device:
    return register(user, key)


@pytest.fixture
def phone(user) -> Device:
    return make_device(user, name="My iPhone")


def browser(n: int = 1, **extra) -> Client:
    """A browser of its own, at an address of its own."""
    return Client(REMOTE_ADDR=f"10.9.{n // 250}.{n % 250 + 1}", **extra)


def at_second_step(user: User, n: int = 1, **extra) -> Client:
    client = browser(n, **extra)
    assert password_step(client, user).status_code == HTTPStatus.FOUND
    return client


def key_options(client, device: Device | int, step: str = "signin"):
    pk = device.pk if isinstance(device, Device) else device
    return client.post(OPTIONS, {"device": pk, "step": step})


def post_answer(client, device: Device | int, credential: str, *, page=VERIFY, **extra):
    pk = device.pk if isinstance(device, Device) else device
    data = {"action": "webauthn", "device": pk, "method": "webauthn", "credential": credential}
    return client.post(page, {**data, **extra})


def use_key(client, key: SoftKey, device: Device, *, page=VERIFY, step="signin", **bent):
    """Press "Use security key": options, the key's answer, the form posted with it."""
    options = key_options(client, device, step)
    assert options.status_code == HTTPStatus.OK, options.content
    return post_answer(client, device, key.assert_(options.json(), **bent), page=page)


def failures(user: User) -> int:
    return Profile.objects.filter(user=user).values_list("failed_count", flat=True).first() or 0


def challenges(user: User, purpose: str = "authenticate") -> list[str]:
    """The challenges of ``user`` that may still be answered, oldest first."""
    rows = WebAuthnChallenge.objects.filter(user=user, purpose=purpose, used_at__isnull=True)
    rows = rows.order_by("pk")
    return list(rows.values_list("challenge", flat=True))


def stored_key(device: Device) -> SecurityKey:
    return SecurityKey.objects.get(pk=device.security_key_id)


def is_locked(user: User) -> bool:
    user.refresh_from_db()
    return user.is_locked


def with_flags(key: SoftKey, flags: int) -> SoftKey:
    """``key`` reporting exactly ``flags`` (AT is added at registration)."""
    key._flags = lambda extra=0: flags | extra
    return key


def with_client_data(key: SoftKey, **changes) -> SoftKey:
    """``key`` signing client data with ``changes`` (a ``type`` of another ceremony, a
    ``crossOrigin`` frame, a ``topOrigin``)."""

    def client_data(kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or key.origin}
        data["crossOrigin"] = False
        data.update(changes)
        return json.dumps(data, separators=(",", ":")).encode()

    key._client_data = client_data
    return key


def at_key_stage(user: User, phone: Device, n: int = 1, **extra) -> Client:
    """Signed in with the password and the phone (a fresh second factor), "Add another
    device", "Security key": the wizard waits at its key stage."""
    client = at_second_step(user, n, **extra)
    assert second_step(client, phone).status_code == HTTPStatus.FOUND
    assert signed_in_as(client) == user.pk
    assert client.post(START, {"add": "1"}).url == TYPE
    assert client.post(TYPE, {"kind": "key"}).url == KEY
    return client


# 1. What the password alone learns ---------------------------------------------------------


def test_the_password_alone_learns_the_chosen_keys_id_and_nothing_else(user, key, key_device):
    spare = soft_key(resident=True)
    register(user, spare, name="Laptop passkey")
    attacker = at_second_step(user)
    page = attacker.get(VERIFY).content.decode()
    assert key.id not in page and spare.id not in page
    options = key_options(attacker, key_device)
    assert options.status_code == HTTPStatus.OK
    data = options.json()
    assert [item["id"] for item in data["allowCredentials"]] == [key.id]
    text = json.dumps(data)
    assert spare.id not in text
    assert "user" not in data and user.username not in text
    assert b64url(hashlib.sha256(str(user.pk).encode()).digest()) not in text
    assert set(data) <= {"challenge", "timeout", "rpId", "allowCredentials", "userVerification"}


def test_options_answer_a_wrong_password_as_no_sign_in_at_all(user, key_device, phone):
    without_key = UserFactory()
    ChannelFactory(user=without_key)
    make_device(without_key, name="Their iPhone")
    answers = []
    for n, (name, password) in enumerate(
        [
            (user.username, "not the password at all"),
            (without_key.username, "not the password at all"),
            ("nobody-by-this-name", "not the password at all"),
        ]
    ):
        client = browser(n + 1)
        post_login(client, name, password)
        answers.append(key_options(client, key_device))
    answers.append(key_options(browser(9), key_device))
    assert {a.status_code for a in answers} == {HTTPStatus.FORBIDDEN}
    assert {a.content for a in answers} == {json.dumps({"error": PAGE_EXPIRED}).encode()}
    assert len({tuple(sorted(a.cookies)) for a in answers}) == 1
    assert not WebAuthnChallenge.objects.filter(purpose="authenticate").exists()


def test_the_password_of_an_account_without_a_key_gets_no_challenge(user, phone):
    attacker = at_second_step(user)
    assert "Use security key" not in attacker.get(VERIFY).content.decode()
    response = key_options(attacker, phone)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"error": "This device has no security key."}
    assert not WebAuthnChallenge.objects.exists()


def test_a_password_holder_gets_no_options_for_another_accounts_key_nor_spoils_it(
    user, key, key_device, stranger
):
    their_key_device = register(stranger, soft_key(), name="Attacker's key")
    victim = at_second_step(user, 1)
    victim_options = key_options(victim, key_device).json()
    attacker = at_second_step(stranger, 2)
    refused = key_options(attacker, key_device)
    unknown = key_options(attacker, 987654321)
    assert refused.status_code == unknown.status_code == HTTPStatus.BAD_REQUEST
    assert refused.content == unknown.content == json.dumps({"error": CHOOSE_KEY}).encode()
    assert challenges(user) == [victim_options["challenge"]]
    assert key_options(attacker, their_key_device).status_code == HTTPStatus.OK
    post_answer(victim, key_device, key.assert_(victim_options))
    assert signed_in_as(victim) == user.pk


def test_a_signed_in_stranger_gets_no_step_up_options_for_the_victims_key(
    user, key_device, stranger
):
    register(stranger, soft_key(), name="Attacker's key")
    attacker = browser(2)
    attacker.force_login(stranger)
    response = key_options(attacker, key_device, "step_up")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not challenges(user)


@pytest.mark.parametrize("state", ["timed_out", "locked", "signed_in", "other_step"])
def test_no_options_outside_a_second_step_that_waits(user, key, key_device, phone, state):
    client = at_second_step(user)
    step = "signin"
    if state == "locked":
        from accounts.services.lockout import account_lock

        account_lock(user=user, reason="test")
    elif state == "signed_in":
        assert second_step(client, phone).status_code == HTTPStatus.FOUND
    elif state == "other_step":
        step = "reset"
    travel = timedelta(minutes=16) if state == "timed_out" else timedelta(0)
    with time_machine.travel(timezone.now() + travel):
        response = key_options(client, key_device, step)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not challenges(user)


# 2. Registration without the wizard's proof ------------------------------------------------


@pytest.mark.parametrize(
    "state", ["signed_in_only", "type_stage", "second_step_pending", "password_only_no_device"]
)
def test_no_registration_options_without_the_key_stage_and_its_proof(user, phone, state):
    client = browser(1)
    if state == "signed_in_only":
        client = at_second_step(user)
        assert second_step(client, phone).status_code == HTTPStatus.FOUND
    elif state == "type_stage":
        client = at_second_step(user)
        second_step(client, phone)
        assert client.post(START, {"add": "1"}).url == TYPE
    elif state == "second_step_pending":
        client = at_second_step(user)
    else:
        newcomer = UserFactory()
        ChannelFactory(user=newcomer)
        response = post_login(client, newcomer.username, DEFAULT_PASSWORD)
        assert signed_in_as(client) == newcomer.pk, response
        client.post(START)
        assert client.post(TYPE, {"kind": "key"}).status_code == HTTPStatus.FOUND
        user = newcomer
    response = client.post(KEY_OPTIONS)
    assert response.status_code in (HTTPStatus.FORBIDDEN, HTTPStatus.FOUND)
    assert not challenges(user, "register")
    assert client.post(KEY, {"name": "Key", "credential": "{}"}).status_code != HTTPStatus.OK
    assert not SecurityKey.objects.filter(user=user).exists()


def test_a_stale_second_factor_at_the_key_stage_gets_no_options_and_adds_no_key(user, phone):
    client = at_key_stage(user, phone)
    options = client.post(KEY_OPTIONS)
    assert options.status_code == HTTPStatus.OK
    credential = soft_key().register(options.json())
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert client.post(KEY_OPTIONS).status_code == HTTPStatus.FORBIDDEN
        added = client.post(KEY, {"name": "Key", "credential": credential})
    assert added.status_code == HTTPStatus.FOUND and added.url.startswith(CONFIRM)
    assert not SecurityKey.objects.exists()


def test_a_credential_of_the_victims_key_cannot_be_registered_to_another_account(
    user, key, key_device, stranger
):
    their_phone = make_device(stranger, name="Attacker's phone")
    before = stored_key(key_device)
    attacker = at_key_stage(stranger, their_phone, 2)
    # The credential id is no secret (the victim's password shows it); the private key is.
    impostor = soft_key()
    impostor.credential_id = key.credential_id
    options = attacker.post(KEY_OPTIONS).json()
    assert key.id not in json.dumps(options)
    response = attacker.post(KEY, {"name": "Key", "credential": impostor.register(options)})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "already registered" in response.content.decode()
    assert not SecurityKey.objects.filter(user=stranger).exists()
    after = stored_key(key_device)
    assert (after.user_id, after.public_key) == (before.user_id, before.public_key)
    victim = at_second_step(user, 3)
    use_key(victim, key, key_device)
    assert signed_in_as(victim) == user.pk


def test_a_copied_registration_answer_adds_no_key_to_another_account(user, phone, stranger):
    their_phone = make_device(stranger, name="Attacker's phone")
    victim = at_key_stage(user, phone, 1)
    key = soft_key()
    copied = key.register(victim.post(KEY_OPTIONS).json())
    attacker = at_key_stage(stranger, their_phone, 2)
    attacker.post(KEY_OPTIONS)
    response = attacker.post(KEY, {"name": "Key", "credential": copied})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not SecurityKey.objects.exists()


@pytest.mark.parametrize("ceremony", ["get_type", "sign_in_challenge"])
def test_a_registration_made_for_a_sign_in_adds_no_key(user, phone, ceremony):
    register(user, soft_key(), name="Old key")
    old = Device.objects.get(user=user, kind=Device.Kind.SECURITY_KEY)
    client = at_key_stage(user, phone)
    options = client.post(KEY_OPTIONS).json()
    new = soft_key()
    if ceremony == "get_type":
        credential = with_client_data(new, type="webauthn.get").register(options)
    else:
        sign_in = key_options(client, old, "step_up").json()
        credential = new.register(options, challenge=sign_in["challenge"])
    response = client.post(KEY, {"name": "Key", "credential": credential})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert SecurityKey.objects.filter(user=user).count() == 1


def test_a_registration_without_user_presence_adds_no_key(user, phone):
    client = at_key_stage(user, phone)
    key = with_flags(soft_key(), UV)
    response = client.post(
        KEY, {"name": "Key", "credential": key.register(client.post(KEY_OPTIONS).json())}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not SecurityKey.objects.exists()


def test_a_registration_with_a_2kb_credential_id_is_refused_not_a_500(user, phone):
    client = at_key_stage(user, phone, raise_request_exception=False)
    key = soft_key()
    key.credential_id = secrets.token_bytes(2048)
    credential = key.register(client.post(KEY_OPTIONS).json())
    response = client.post(KEY, {"name": "Key", "credential": credential})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not SecurityKey.objects.exists()


def test_a_key_name_with_markup_is_shown_as_text(user, phone):
    client = at_key_stage(user, phone)
    name = "<script>alert(1)</script>"
    credential = soft_key().register(client.post(KEY_OPTIONS).json())
    assert client.post(KEY, {"name": name, "credential": credential}).url == DONE
    page = client.get(DEVICES).content.decode()
    assert name not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# 3. Bent answers at sign-in ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bent",
    [
        {"origin": "http://127.0.0.1:8000"},
        {"origin": "http://localhost:8000"},
        {"origin": "http://portal.example.org"},
        {"origin": "https://evil.portal.example.org"},
        {"origin": "https://portal.example.org.evil.example"},
        {"origin": "https://portal.example.org:8443"},
        {"origin": "https://portal.example.org/"},
        {"origin": "HTTPS://PORTAL.EXAMPLE.ORG"},
        {"origin": "null"},
        {"rp_id": "127.0.0.1"},
        {"rp_id": "localhost"},
        {"rp_id": "example.org"},
        {"rp_id": "PORTAL.EXAMPLE.ORG"},
        {"rp_id": "portal.example.org."},
    ],
)
def test_an_answer_for_another_origin_or_relying_party_signs_no_one_in(user, key, key_device, bent):
    attacker = at_second_step(user)
    response = use_key(attacker, key, key_device, **bent)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG_KEY in response.content.decode()
    assert signed_in_as(attacker) is None
    assert stored_key(key_device).sign_count == 0


@pytest.mark.parametrize("bent", [{"origin": "http://127.0.0.1:8000"}, {"rp_id": "127.0.0.1"}])
def test_a_portal_configured_by_its_url_alone_refuses_the_development_address(
    settings, user, key, bent
):
    settings.PORTAL_URL = ORIGIN
    del settings.TWOFACTOR_WEBAUTHN_RP_ID, settings.TWOFACTOR_WEBAUTHN_ORIGINS
    device = register(user, key)
    attacker = at_second_step(user)
    assert key_options(attacker, device).json()["rpId"] == RP_ID
    use_key(attacker, key, device, **bent)
    assert signed_in_as(attacker) is None
    use_key(attacker, key, device)
    assert signed_in_as(attacker) == user.pk


def test_client_data_of_a_registration_signs_no_one_in(user, key, key_device):
    attacker = at_second_step(user)
    with_client_data(key, type="webauthn.create")
    use_key(attacker, key, key_device)
    assert signed_in_as(attacker) is None


@pytest.mark.parametrize("sign_in_options", [True, False])
def test_a_registration_challenge_answered_at_sign_in_signs_no_one_in(
    user, key, key_device, phone, sign_in_options
):
    wizard = at_key_stage(user, phone, 1)
    registration = wizard.post(KEY_OPTIONS).json()
    attacker = at_second_step(user, 2)
    if sign_in_options:
        key_options(attacker, key_device)
    credential = key.assert_({"challenge": registration["challenge"]})
    post_answer(attacker, key_device, credential)
    assert signed_in_as(attacker) is None


@pytest.mark.parametrize(("after", "works"), [(-1, True), (1, False)])
def test_a_challenge_older_than_five_minutes_signs_no_one_in(user, key, key_device, after, works):
    now = timezone.now()
    client = at_second_step(user)
    with time_machine.travel(now, tick=False):
        options = key_options(client, key_device).json()
    credential = key.assert_(options)
    with time_machine.travel(now + timedelta(minutes=5, seconds=after), tick=False):
        post_answer(client, key_device, credential)
    assert (signed_in_as(client) == user.pk) is works


def test_a_replayed_answer_signs_in_no_second_browser(user, key, key_device):
    victim = at_second_step(user, 1)
    options = key_options(victim, key_device).json()
    credential = key.assert_(options)
    post_answer(victim, key_device, credential)
    assert signed_in_as(victim) == user.pk
    attacker = at_second_step(user, 2)
    response = post_answer(attacker, key_device, credential)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(attacker) is None
    key_options(attacker, key_device)  # a new challenge does not revive the old answer
    post_answer(attacker, key_device, credential)
    assert signed_in_as(attacker) is None


def test_a_counter_that_goes_back_is_refused_and_audited_as_a_cloned_key(user, key, key_device):
    assert use_key(at_second_step(user, 1), key, key_device).status_code == HTTPStatus.FOUND
    clone = key.clone()
    assert use_key(at_second_step(user, 2), key, key_device).status_code == HTTPStatus.FOUND
    attacker = at_second_step(user, 3)
    response = use_key(attacker, clone, key_device)  # the clone reports 2 again
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(attacker) is None
    event = AuditEvent.objects.get(event="twofactor.key_cloned", subject=user)
    assert (event.detail["sign_count"], event.detail["stored_count"]) == (2, 2)
    assert failures(user) == 1
    use_key(attacker, clone, key_device, sign_count=1)
    assert signed_in_as(attacker) is None
    assert AuditEvent.objects.filter(event="twofactor.key_cloned").count() == 2


def test_a_counter_at_its_largest_value_cannot_wrap_round(user, key, key_device):
    top = 2**32 - 1
    victim = at_second_step(user, 1)
    assert use_key(victim, key, key_device, sign_count=top).status_code == HTTPStatus.FOUND
    assert stored_key(key_device).sign_count == top
    for n, count in enumerate([0, 1, top]):
        attacker = at_second_step(user, n + 2)
        response = use_key(attacker, key, key_device, sign_count=count)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert signed_in_as(attacker) is None
    assert AuditEvent.objects.filter(event="twofactor.key_cloned").count() == 3


@pytest.mark.parametrize(
    ("flags", "name"), [(0, "no flag"), (UV, "verified, not present"), (UP | BS, "BS without BE")]
)
def test_an_answer_with_impossible_flags_signs_no_one_in(user, key, key_device, flags, name):
    attacker = at_second_step(user)
    response = use_key(attacker, with_flags(key, flags), key_device)
    assert response.status_code == HTTPStatus.BAD_REQUEST, name
    assert signed_in_as(attacker) is None
    assert failures(user) == 1


def test_a_device_bound_keys_answer_claiming_backup_eligibility_is_refused(user, key, key_device):
    assert not stored_key(key_device).discoverable
    attacker = at_second_step(user)
    use_key(attacker, with_flags(key, UP | UV | BE | BS), key_device)
    assert signed_in_as(attacker) is None


def test_an_answer_made_inside_a_frame_on_another_site_is_refused(user, key, key_device):
    attacker = at_second_step(user)
    with_client_data(key, crossOrigin=True, topOrigin="https://evil.example")
    use_key(attacker, key, key_device)
    assert signed_in_as(attacker) is None


def test_the_attackers_own_key_does_not_answer_for_the_victim(user, key_device, stranger):
    their_key = soft_key()
    their_device = register(stranger, their_key, name="Attacker's key")
    attacker = at_second_step(user)
    options = key_options(attacker, key_device).json()
    for device in (key_device, their_device):
        response = post_answer(attacker, device, their_key.assert_(options))
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert signed_in_as(attacker) is None
        options = key_options(attacker, key_device).json()
    assert stored_key(their_device).sign_count == 0


def test_a_forged_answer_with_the_victims_credential_id_is_not_taken_for_a_clone(
    user, key, key_device
):
    attacker = at_second_step(user)
    forger = soft_key()
    forger.credential_id = key.credential_id
    use_key(attacker, forger, key_device, sign_count=2**32 - 1)
    assert signed_in_as(attacker) is None
    assert stored_key(key_device).sign_count == 0
    assert not AuditEvent.objects.filter(event="twofactor.key_cloned").exists()


def test_a_key_removed_in_my_settings_signs_in_no_more(user, key, key_device, phone):
    clone = key.clone()
    owner = at_second_step(user, 1)
    second_step(owner, phone)
    removed = owner.post(reverse("twofactor:device_remove", args=[key_device.pk]))
    assert removed.url == DEVICES
    attacker = at_second_step(user, 2)
    assert key_options(attacker, key_device).status_code == HTTPStatus.BAD_REQUEST
    credential = clone.assert_({"challenge": b64url(secrets.token_bytes(32))})
    response = post_answer(attacker, key_device, credential)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert signed_in_as(attacker) is None
    assert "Use security key" not in attacker.get(VERIFY).content.decode()


# 4. The victim's own ceremony -----------------------------------------------------------------


def test_someone_with_the_password_cannot_spoil_the_victims_key(user, key, key_device):
    victim = at_second_step(user, 1)
    options = key_options(victim, key_device).json()
    attacker = at_second_step(user, 2)
    key_options(attacker, key_device)
    post_answer(victim, key_device, key.assert_(options))
    assert signed_in_as(victim) == user.pk


def test_options_asked_in_a_loop_do_not_lock_the_victim_out(user, key, key_device):
    attacker = at_second_step(user, 99)
    for n in range(10):
        victim = at_second_step(user, n + 1)
        options = key_options(victim, key_device).json()
        key_options(attacker, key_device)
        post_answer(victim, key_device, key.assert_(options))
    assert not is_locked(user)


@pytest.mark.parametrize("victims_page", ["signin", "step_up"])
def test_an_answer_made_for_the_victims_page_signs_in_no_other_browser(
    user, key, key_device, phone, victims_page
):
    victim = at_second_step(user, 1)
    if victims_page == "step_up":
        second_step(victim, phone)
        assert signed_in_as(victim) == user.pk
    options = key_options(victim, key_device, victims_page).json()
    leaked = key.assert_(options)
    attacker = at_second_step(user, 2)
    post_answer(attacker, key_device, leaked)
    assert signed_in_as(attacker) is None


# 5. The failure count ---------------------------------------------------------------------------


def test_ten_wrong_answers_lock_the_account_like_ten_wrong_passcodes(user, key, key_device):
    attacker = at_second_step(user)
    for n in range(9):
        response = use_key(attacker, key, key_device, origin="https://evil.example")
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert failures(user) == n + 1
    assert not is_locked(user)
    response = post_answer(attacker, key_device, "{}")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert is_locked(user)
    locked = AuditEvent.objects.get(event="account.locked", subject=user)
    assert locked.detail["reason"] == "second_factor:webauthn"


def test_wrong_answers_and_wrong_passcodes_share_one_count(user, key, key_device, phone):
    attacker = at_second_step(user)
    for _ in range(5):
        second_step(attacker, phone, code=f"{(int(app_passcode(phone)) + 1) % 10**6:06d}")
        post_answer(attacker, key_device, "{}")
    assert is_locked(user)
    assert signed_in_as(attacker) is None


def test_answers_sent_while_locked_do_not_move_the_count(user, key, key_device):
    attacker = at_second_step(user)
    for _ in range(10):
        post_answer(attacker, key_device, "{}")
    assert is_locked(user)
    late = [attacker]
    for n in range(2):
        client = browser(n + 2)
        post_login(client, user.username, DEFAULT_PASSWORD)  # reads as a wrong password
        late.append(client)
    for client in late:
        key_options(client, key_device)
        post_answer(client, key_device, key.assert_({"challenge": b64url(b"x" * 32)}))
        assert signed_in_as(client) is None
    assert failures(user) == 0
    assert AuditEvent.objects.filter(event="twofactor.failed").count() == 10


def test_a_genuine_answer_after_wrong_ones_starts_the_count_again(user, key, key_device):
    attacker = at_second_step(user)
    for _ in range(4):
        post_answer(attacker, key_device, "{}")
    use_key(attacker, key, key_device)
    assert signed_in_as(attacker) == user.pk
    assert failures(user) == 0


# 6. Hostile input, other methods, other sites -------------------------------------------------

NESTED = ["[" * 5000, '{"a":' * 1600 + "1" + "}" * 1600, '{"id": ' + "[" * 3000 + "]" * 3000 + "}"]


@pytest.mark.parametrize("nested", NESTED)
@pytest.mark.parametrize("step", ["signin", "step_up"])
def test_deeply_nested_json_in_a_key_answer_is_a_400_not_a_500(
    user, key_device, phone, nested, step
):
    client = at_second_step(user, raise_request_exception=False)
    page = VERIFY
    if step == "step_up":
        second_step(client, phone)
        page = CONFIRM
    key_options(client, key_device, step)
    response = post_answer(client, key_device, nested, page=page)
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_deeply_nested_json_in_a_registration_is_a_400_not_a_500(user, phone):
    client = at_key_stage(user, phone, raise_request_exception=False)
    client.post(KEY_OPTIONS)
    response = client.post(KEY, {"name": "Key", "credential": "[" * 5000})
    assert response.status_code == HTTPStatus.BAD_REQUEST


def _answer(key: SoftKey, options: dict, **response) -> str:
    genuine = json.loads(key.assert_(options))
    genuine["response"].update(response)
    return json.dumps(genuine)


HOSTILE = {
    "non-base64 signature": {"signature": "!!!not base64!!!"},
    "non-base64 client data": {"clientDataJSON": "@@@@"},
    "unicode client data": {"clientDataJSON": "\u00e9\u00e8\u4e2d\U0001f511"},
    "NUL in data": {"authenticatorData": "\x00\x00"},
    "client data not JSON": {"clientDataJSON": b64url(b"\xff\xfe not json")},
    "client data nested": {"clientDataJSON": b64url(b"[" * 5000)},
    "client data a list": {"clientDataJSON": b64url(b"[1, 2]")},
    "client data challenge a number": {
        "clientDataJSON": b64url(b'{"type":"webauthn.get","challenge":5,"origin":"x"}')
    },
    "short authenticator data": {"authenticatorData": b64url(b"\x01" * 10)},
    "authenticator data with junk extensions": {
        "authenticatorData": b64url(hashlib.sha256(RP_ID.encode()).digest() + b"\x81" + b"\0" * 4)
    },
    "numbers for strings": {"signature": 12, "clientDataJSON": 1.5e308},
    "nulls": {"signature": None, "clientDataJSON": None, "authenticatorData": None},
    "lists for strings": {"signature": ["a"], "authenticatorData": {"a": 1}},
    "user handle a dict": {"userHandle": {"id": 1}},
}


@pytest.mark.parametrize("bend", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_answer_fields_get_a_sentence_never_a_500(settings, user, key, key_device, bend):
    settings.TWOFACTOR_LOCK_AFTER_FAILURES = 1_000
    attacker = at_second_step(user, raise_request_exception=False)
    options = key_options(attacker, key_device).json()
    response = post_answer(attacker, key_device, _answer(key, options, **bend))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG_KEY in response.content.decode()
    assert signed_in_as(attacker) is None


@pytest.mark.parametrize(
    "credential",
    [
        json.dumps({"id": "A" * 2731, "rawId": "A" * 2731, "type": "public-key", "response": {}}),
        json.dumps({"id": "\u00e9", "rawId": "\u00e9", "type": "public-key", "response": {}}),
        json.dumps({"id": None, "rawId": [], "type": 1, "response": "x"}),
        json.dumps({"response": {"clientDataJSON": "e30"}}),
        json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "password", "response": {}}),
        json.dumps({"x": "y" * 63_000}),
        '{"id": 1e999, "rawId": -1e999, "type": NaN}',
        '{"id": ' + "9" * 5000 + "}",
        '{"\\ud800": "\\udfff"}',
    ],
    ids=[
        "2kb-id",
        "unicode-id",
        "wrong-types",
        "missing",
        "wrong-type",
        "63k",
        "inf",
        "bigint",
        "lone-surrogate",
    ],
)
def test_hostile_answers_get_a_sentence_never_a_500(settings, user, key_device, credential):
    settings.TWOFACTOR_LOCK_AFTER_FAILURES = 1_000
    attacker = at_second_step(user, raise_request_exception=False)
    key_options(attacker, key_device)
    response = post_answer(attacker, key_device, credential)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert WRONG_KEY in response.content.decode() or UNREADABLE in response.content.decode()
    assert signed_in_as(attacker) is None


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
B64 = st.binary(max_size=300).map(b64url)
FIELD = B64 | JSONISH


def registration_bodies():
    auth_data = st.binary(min_size=0, max_size=200) | st.builds(
        lambda rp, flags, count, tail: rp + bytes([flags]) + count + tail,
        st.just(hashlib.sha256(RP_ID.encode()).digest()),
        st.integers(0, 255),
        st.binary(min_size=4, max_size=4),
        st.binary(max_size=120),
    )
    attestation = st.builds(
        lambda fmt, stmt, data: b64url(
            cbor2.dumps({"fmt": fmt, "attStmt": stmt, "authData": data})
        ),
        st.sampled_from(["none", "packed", "fido-u2f", "tpm", "apple", "android-key", "x"]),
        st.dictionaries(
            st.sampled_from(["alg", "sig", "x5c"]), st.integers() | st.binary(max_size=20)
        ),
        auth_data,
    )
    client_data = st.builds(
        lambda kind, origin: b64url(
            json.dumps({"type": kind, "challenge": "AAAA", "origin": origin}).encode()
        ),
        st.sampled_from(["webauthn.create", "webauthn.get", ""]),
        st.sampled_from([ORIGIN, "https://evil.example"]),
    )
    response = st.fixed_dictionaries(
        {},
        optional={
            "clientDataJSON": client_data | FIELD,
            "attestationObject": attestation | FIELD,
            "transports": JSONISH,
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "id": FIELD,
            "rawId": FIELD,
            "type": st.just("public-key") | JSONISH,
            "response": response | JSONISH,
            "clientExtensionResults": JSONISH,
            "authenticatorAttachment": JSONISH,
        },
    ).map(json.dumps)


@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(credential=registration_bodies())
def test_hostile_registrations_never_error_and_add_nothing(wizard, credential):
    assert wizard.post(KEY_OPTIONS).status_code == HTTPStatus.OK
    response = wizard.post(KEY, {"name": "Key", "credential": credential})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not SecurityKey.objects.exists()


@pytest.fixture
def wizard(user, phone) -> Client:
    return at_key_stage(user, phone, raise_request_exception=False)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options", "head"])
def test_the_options_endpoints_answer_post_only(user, key_device, phone, method):
    attacker = at_second_step(user, 1, raise_request_exception=False)
    assert getattr(attacker, method)(OPTIONS).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    wizard = at_key_stage(user, phone, 2, raise_request_exception=False)
    assert getattr(wizard, method)(KEY_OPTIONS).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert getattr(wizard, method)(KEY).status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert not challenges(user) and not challenges(user, "register")


@pytest.mark.parametrize(
    "value", ["", "-1", "0", "99999999999999999999", "1e3", "\uff11", "\x00", "<script>", "١"]
)
def test_hostile_option_posts_never_answer_500(user, key_device, value):
    attacker = at_second_step(user, raise_request_exception=False)
    for data in (
        {"device": value, "step": "signin"},
        {"device": key_device.pk, "step": value},
        {"device": [key_device.pk, value], "step": ["reset", "signin"]},
    ):
        assert attacker.post(OPTIONS, data).status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    anonymous = browser(2, raise_request_exception=False)
    assert anonymous.post(KEY_OPTIONS, {"x": value}).status_code < HTTPStatus.INTERNAL_SERVER_ERROR


def csrf_browser(user) -> Client:
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.9.9.9")
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    response = password_step(client, user, csrfmiddlewaretoken=token)
    assert response.status_code == HTTPStatus.FOUND
    return client


def test_a_cross_site_options_request_makes_no_challenge(user, key_device):
    client = csrf_browser(user)
    assert key_options(client, key_device).status_code == HTTPStatus.FORBIDDEN
    assert not challenges(user)


def test_a_cross_site_answer_signs_no_one_in_and_counts_nothing(user, key, key_device):
    client = csrf_browser(user)
    token = client.cookies["csrftoken"].value
    options = client.post(
        OPTIONS, {"device": key_device.pk, "step": "signin", "csrfmiddlewaretoken": token}
    ).json()
    response = post_answer(client, key_device, key.assert_(options))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert signed_in_as(client) is None
    assert failures(user) == 0 and challenges(user) == [options["challenge"]]


def test_cross_site_posts_to_the_wizard_register_nothing(user, phone):
    client = at_key_stage(user, phone)
    cross = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.9.9.8")
    cross.cookies = client.cookies
    assert cross.post(KEY_OPTIONS).status_code == HTTPStatus.FORBIDDEN
    assert not challenges(user, "register")
    options = client.post(KEY_OPTIONS).json()
    response = cross.post(KEY, {"name": "Key", "credential": soft_key().register(options)})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not SecurityKey.objects.exists()


def test_the_second_step_page_with_a_key_reads_the_same_for_every_attempt(user, key_device):
    one, other = at_second_step(user, 1), at_second_step(user, 2)
    assert page_text(one.get(VERIFY)) == page_text(other.get(VERIFY))


# 7. Many at once, on PostgreSQL ------------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_browsers_posting_one_answer_at_once_sign_in_one(user, key, key_device):
    browsers = [at_second_step(user, n + 1) for n in range(10)]
    credential = key.assert_(key_options(browsers[0], key_device).json())
    in_threads(lambda i: post_answer(browsers[i], key_device, credential).status_code, 10)
    assert [signed_in_as(b) for b in browsers].count(user.pk) == 1
    assert stored_key(key_device).sign_count == 1
    assert AuditEvent.objects.filter(event="twofactor.verified").count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_twenty_wrong_answers_at_once_lock_once_and_leave_no_count_behind(user, key_device):
    browsers = [at_second_step(user, n + 1) for n in range(20)]
    in_threads(lambda i: post_answer(browsers[i], key_device, "{}").status_code, 20)
    assert is_locked(user)
    assert AuditEvent.objects.filter(event="account.locked", subject=user).count() == 1
    assert all(signed_in_as(b) is None for b in browsers)


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_accounts_registering_one_credential_at_once_get_one_key(user, phone, stranger):
    their_phone = make_device(stranger, name="Attacker's phone")
    clients = [
        at_key_stage(user, phone, 1, raise_request_exception=False),
        at_key_stage(stranger, their_phone, 2, raise_request_exception=False),
    ]
    original = soft_key()
    twin = soft_key()
    twin.credential_id = original.credential_id
    bodies = [
        original.register(clients[0].post(KEY_OPTIONS).json()),
        twin.register(clients[1].post(KEY_OPTIONS).json()),
    ]
    statuses = in_threads(
        lambda i: clients[i].post(KEY, {"name": "Key", "credential": bodies[i]}).status_code, 2
    )
    assert sorted(statuses) == [HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST]
    assert SecurityKey.objects.filter(credential_id=original.id).count() == 1
