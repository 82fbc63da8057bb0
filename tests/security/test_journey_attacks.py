"""The journeys (portal.flows) attacked over HTTP, as someone with a browser and a proxy would.

Every journey runs on one stage controller, whose state lives in the session: these tests mix
two journeys' runs in one session, carry a cookie from one browser to another, keep a cookie
from before the key was rotated, forge the fields a later stage might trust, reach the shared
SafeCode pages from the wrong place, outlive the pending sign-in, compare what an unknown and a
known account are told, type hostile values everywhere, and look for a way around a pending
requirement through the paths it leaves open. Each test passes when the portal holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from safecode.app_settings import app_settings as safecode_settings
from safecode.models import Channel
from tests.accounts.pages import (
    CHANGE,
    CHANGE_CODE,
    CHANGE_NEW,
    CHANGE_SEND,
    EXPIRED,
    FORGOT,
    FORGOT_CODE,
    FORGOT_DONE,
    FORGOT_NEW,
    FORGOT_SEND,
    LOGIN,
    REGISTER,
    REGISTER_ACCOUNT,
    REGISTER_CODE,
    UNLOCK,
    UNLOCK_CODE,
    UNLOCK_DONE,
    UNLOCK_SEND,
)
from tests.factories import (
    DEFAULT_PASSWORD,
    PHONE,
    ChannelFactory,
    PersonFactory,
    UserFactory,
    lock,
)
from tests.helpers import captcha_answer, code_sent_to, other_code, page_text, post_login

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_PHONE = "+16175550199"
EXPIRED_SEND = reverse("accounts:password_expired_send")
EXPIRED_CODE = reverse("accounts:password_expired_code")
EXPIRED_NEW = reverse("accounts:password_expired_new")
EXPIRED_SAFECODE = reverse("accounts:password_expired_safecode")
CONTINUE = reverse("accounts:signin_continue")
PREFERENCES = reverse("accounts:preferences")
PROMPT = reverse("safecode:prompt")
HOME = reverse("home")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
NEW_PASSWORD = "granite swallow at dusk"
NEW_PASSWORDS = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}


def signed_in_as(client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


def copy_cookie(source: Client) -> Client:
    """A second browser holding the session cookie of ``source`` as it is now."""
    thief = Client()
    name = django_settings.SESSION_COOKIE_NAME
    thief.cookies[name] = source.cookies[name].value
    return thief


def recovery_subject(user) -> dict[str, str]:
    return {
        "login": user.username,
        "last_name": user.person.last_name,
        "huid": user.person.huid,
        "date_of_birth": "",
    }


def unlock_until_code(client, username: str) -> None:
    page = client.get(UNLOCK)
    assert client.post(UNLOCK, {"username": username, **captcha_answer(page)}).url == UNLOCK_SEND
    assert client.post(UNLOCK_SEND, {"kind": "phone"}).url == UNLOCK_CODE


def forgot_until_code(client, user) -> None:
    page = client.get(FORGOT)
    assert client.post(FORGOT, {**recovery_subject(user), **captcha_answer(page)}).url == (
        FORGOT_SEND
    )
    assert client.post(FORGOT_SEND, {"kind": "phone"}).url == FORGOT_CODE


def expired_user(phone: str = PHONE):
    user = UserFactory(password_changed_at=LONG_AGO)
    ChannelFactory(user=user, address=phone)
    return user


def expired_until_code(client, user) -> None:
    """Sign in with the expired password, pass the check and ask for a code."""
    assert post_login(client, user.username, DEFAULT_PASSWORD).url == EXPIRED
    page = client.get(EXPIRED)
    assert client.post(EXPIRED, captcha_answer(page)).url == EXPIRED_SEND
    channel = Channel.objects.get(user=user)
    assert client.post(EXPIRED_SEND, {"channel": channel.pk}).url == EXPIRED_CODE


def register_until_account(client, person, outbox) -> None:
    client.post(REGISTER, {"last_name": person.last_name, "huid": person.huid})
    code = code_sent_to(outbox, person.email)
    assert client.post(REGISTER_CODE, {"code": code}).url == REGISTER_ACCOUNT


def still_has_password(user, password: str = DEFAULT_PASSWORD) -> bool:
    user.refresh_from_db()
    return user.check_password(password)


@pytest.fixture
def locked_user():
    user = UserFactory()
    ChannelFactory(user=user)
    lock(user)
    return user


# Two journeys, or two runs, in one session -----------------------------------------------


def test_an_unlock_code_does_not_prove_a_forgotten_password_run_in_the_same_session(
    locked_user, outbox
):
    """Unlock for one account and forgotten password for another, side by side: the first
    account's code typed into the second run proves nothing there."""
    victim = UserFactory()
    ChannelFactory(user=victim, address=OTHER_PHONE)
    client = Client()
    unlock_until_code(client, locked_user.username)
    mine = code_sent_to(outbox, PHONE)
    forgot_until_code(client, victim)

    refused = client.post(FORGOT_CODE, {"code": mine})
    assert refused.status_code == HTTPStatus.OK
    assert b"That code is not right" in refused.content
    assert client.get(FORGOT_NEW).url == FORGOT_CODE
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == FORGOT_CODE
    assert still_has_password(victim)

    # The unlock run is untouched by the other one, and its own code still works in it.
    assert client.post(UNLOCK_CODE, {"code": mine}).url == UNLOCK_DONE
    locked_user.refresh_from_db()
    assert not locked_user.is_locked


def test_a_forgotten_password_code_does_not_unlock_in_the_same_session(locked_user, outbox):
    """The other way round: a reset code for an account of one's own, typed into an unlock
    run for a locked account, unlocks nothing."""
    mine = UserFactory()
    ChannelFactory(user=mine, address=OTHER_PHONE)
    client = Client()
    forgot_until_code(client, mine)
    code = code_sent_to(outbox, OTHER_PHONE)
    unlock_until_code(client, locked_user.username)

    refused = client.post(UNLOCK_CODE, {"code": code})
    assert b"That code is not right" in refused.content
    assert client.get(UNLOCK_DONE).url == UNLOCK_CODE
    locked_user.refresh_from_db()
    assert locked_user.is_locked


def test_a_code_of_an_earlier_run_does_not_work_in_a_fresh_one(locked_user, outbox):
    """Starting again gives a new run with a new binding: the first run's code is dead there,
    even when the fresh run's own send was quietly refused."""
    client = Client()
    unlock_until_code(client, locked_user.username)
    first = code_sent_to(outbox, PHONE)
    unlock_until_code(client, locked_user.username)

    refused = client.post(UNLOCK_CODE, {"code": first})
    assert b"That code is not right" in refused.content
    locked_user.refresh_from_db()
    assert locked_user.is_locked


def test_starting_again_for_another_account_drops_the_proven_run(outbox):
    """A proven reset run, then the first page posted again for another account: the new
    password page is not the first account's any more, nor the second's."""
    mine, victim = UserFactory(), UserFactory()
    ChannelFactory(user=mine)
    client = Client()
    forgot_until_code(client, mine)
    assert client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)}).url == FORGOT_NEW
    page = client.get(FORGOT)
    client.post(FORGOT, {**recovery_subject(victim), **captcha_answer(page)})

    assert client.get(FORGOT_NEW).url == FORGOT_SEND
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == FORGOT_SEND
    assert still_has_password(mine)
    assert still_has_password(victim)


# Cookies carried from one browser to another, or kept from before the key changed --------


def test_a_cookie_copied_before_the_reset_code_is_dead_once_the_code_is_proven(outbox):
    """Session fixation: whoever holds the cookie from before the code cannot use the step
    up the code gave, since proving it rotates the session key."""
    user = UserFactory()
    ChannelFactory(user=user)
    victim = Client()
    forgot_until_code(victim, user)
    thief = copy_cookie(victim)
    assert victim.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)}).url == FORGOT_NEW

    assert thief.get(FORGOT_NEW).url == FORGOT
    assert thief.post(FORGOT_NEW, NEW_PASSWORDS).url == FORGOT
    assert still_has_password(user)
    assert victim.get(FORGOT_NEW).status_code == HTTPStatus.OK


def test_a_cookie_copied_before_the_unlock_code_sees_no_unlocked_page(locked_user, outbox):
    victim = Client()
    unlock_until_code(victim, locked_user.username)
    thief = copy_cookie(victim)
    assert victim.post(UNLOCK_CODE, {"code": code_sent_to(outbox, PHONE)}).url == UNLOCK_DONE

    assert thief.get(UNLOCK_DONE).url == UNLOCK
    assert victim.get(UNLOCK_DONE).status_code == HTTPStatus.OK


def test_a_cookie_copied_before_the_registration_code_cannot_create_the_account(outbox):
    person = PersonFactory()
    victim = Client()
    victim.post(REGISTER, {"last_name": person.last_name, "huid": person.huid})
    thief = copy_cookie(victim)
    assert victim.post(REGISTER_CODE, {"code": code_sent_to(outbox, person.email)}).url == (
        REGISTER_ACCOUNT
    )

    taken = thief.post(REGISTER_ACCOUNT, {"username": "thief.account", **NEW_PASSWORDS})
    assert taken.url == REGISTER
    assert not User.objects.filter(person=person).exists()


def test_a_cookie_from_the_last_registration_page_is_dead_once_the_account_signs_in(outbox):
    """The code was proven, so the thief copies the cookie after it: creating the account
    signs in on a new key, and the copied one is signed out and cannot create another."""
    person = PersonFactory()
    victim = Client()
    register_until_account(victim, person, outbox)
    thief = copy_cookie(victim)
    victim.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    user = User.objects.get(person=person)
    assert signed_in_as(victim) == user.pk

    assert thief.get(PREFERENCES).url.startswith(LOGIN)
    assert signed_in_as(thief) is None
    again = thief.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    assert again.url == REGISTER
    assert signed_in_as(thief) is None


def test_a_cookie_copied_before_the_expired_password_code_cannot_set_the_password(outbox):
    user = expired_user()
    victim = Client()
    expired_until_code(victim, user)
    thief = copy_cookie(victim)
    assert victim.post(EXPIRED_CODE, {"code": code_sent_to(outbox, PHONE)}).url == EXPIRED_NEW

    refused = thief.post(EXPIRED_NEW, NEW_PASSWORDS)
    assert refused.url == LOGIN
    assert signed_in_as(thief) is None
    assert still_has_password(user)


def test_a_session_planted_before_the_sign_in_is_not_signed_in(locked_user):
    """Session fixation at the door: an attacker starts a journey to get a session, plants
    its cookie in the victim's browser and waits. Signing in rotates the key, so the
    attacker's copy stays anonymous."""
    user = UserFactory()
    ChannelFactory(user=user)
    attacker = Client()
    page = attacker.get(UNLOCK)
    attacker.post(UNLOCK, {"username": locked_user.username, **captcha_answer(page)})
    victim = copy_cookie(attacker)
    post_login(victim, user.username, DEFAULT_PASSWORD)
    assert signed_in_as(victim) == user.pk

    assert attacker.get(PREFERENCES).url.startswith(LOGIN)
    assert signed_in_as(attacker) is None


# Forged fields and query strings ---------------------------------------------------------


def test_forged_fields_on_the_new_password_page_change_only_the_proven_account(outbox):
    """The page trusts the run, not what is posted: a forged ``user_id`` (in the form and the
    query), ``username``, ``subject`` or ``journey`` resets the proven account and no other."""
    mine, victim = UserFactory(), UserFactory()
    ChannelFactory(user=mine)
    client = Client()
    forgot_until_code(client, mine)
    client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)})

    forged = {
        **NEW_PASSWORDS,
        "user_id": str(victim.pk),
        "username": victim.username,
        "subject": victim.username,
        "login": victim.username,
        "journey": "password_change",
        "stage": "done",
    }
    done = client.post(f"{FORGOT_NEW}?user_id={victim.pk}&journey=unlock", forged)
    assert done.url == FORGOT_DONE
    assert still_has_password(victim)
    assert still_has_password(mine, NEW_PASSWORD)


def test_forged_fields_on_the_unlock_code_page_unlock_only_the_named_account(outbox):
    mine, victim = UserFactory(), UserFactory()
    ChannelFactory(user=mine)
    lock(mine)
    lock(victim)
    client = Client()
    unlock_until_code(client, mine.username)
    forged = {
        "code": code_sent_to(outbox, PHONE),
        "username": victim.username,
        "login": victim.username,
        "user_id": str(victim.pk),
    }
    assert client.post(f"{UNLOCK_CODE}?username={victim.username}", forged).url == UNLOCK_DONE
    page = client.get(f"{UNLOCK_DONE}?username={victim.username}")
    assert mine.username.encode() in page.content
    assert victim.username.encode() not in page.content
    mine.refresh_from_db()
    victim.refresh_from_db()
    assert not mine.is_locked
    assert victim.is_locked


def test_a_forged_person_on_the_last_registration_page_is_ignored(outbox):
    """The account is created for the person whose code was proven, whatever is posted."""
    mine, other = PersonFactory(), PersonFactory()
    client = Client()
    register_until_account(client, mine, outbox)
    client.post(
        f"{REGISTER_ACCOUNT}?person_id={other.pk}",
        {"username": "forged.person", "person_id": str(other.pk), "huid": other.huid},
    )
    client.post(
        REGISTER_ACCOUNT,
        {"username": "forged.person", "person_id": str(other.pk), **NEW_PASSWORDS},
    )
    assert User.objects.get(username="forged.person").person_id == mine.pk
    assert not User.objects.filter(person=other).exists()


def test_a_forged_stage_cannot_be_chosen_by_the_query_string(locked_user):
    """Extra keyword arguments in the query do not choose the stage or the journey."""
    client = Client()
    page = client.get(UNLOCK)
    client.post(UNLOCK, {"username": locked_user.username, **captcha_answer(page)})
    for forged in (f"{UNLOCK_DONE}?stage=done", f"{UNLOCK_CODE}?journey=password_forgot"):
        assert client.get(forged).url == UNLOCK_SEND
    assert client.get(f"{FORGOT_NEW}?journey=unlock").url == FORGOT


# The shared SafeCode pages of change and expired password --------------------------------


@pytest.mark.parametrize("page", [CHANGE, CHANGE_SEND, CHANGE_CODE, CHANGE_NEW])
def test_the_change_pages_send_nothing_to_a_signed_out_visitor(page, outbox):
    user = UserFactory()
    channel = ChannelFactory(user=user)
    client = Client()
    for method, data in (("get", {}), ("post", {"channel": channel.pk, "code": "123456"})):
        answer = getattr(client, method)(page, data)
        assert answer.status_code == HTTPStatus.FOUND
        assert answer.url.startswith(LOGIN)
    assert list(outbox) == []


@pytest.mark.parametrize("page", [CHANGE_SEND, CHANGE_CODE, CHANGE_NEW])
def test_someone_elses_pending_sign_in_does_not_open_the_change_pages(page, outbox):
    """A sign-in waiting for its expired password is not signed in: the change journey's pages
    (shared with the expired journey) send nothing and change nothing for it."""
    user = expired_user()
    client = Client()
    assert post_login(client, user.username, DEFAULT_PASSWORD).url == EXPIRED
    channel = Channel.objects.get(user=user)
    sent = len(outbox)
    for data in ({"channel": channel.pk}, {"code": "123456"}, NEW_PASSWORDS):
        answer = client.post(page, data)
        assert answer.status_code == HTTPStatus.FOUND
        assert answer.url.startswith(LOGIN)
    assert len(outbox) == sent
    assert still_has_password(user)
    assert signed_in_as(client) is None


def test_a_pending_sign_in_cannot_jump_from_the_change_run_to_the_expired_one(outbox):
    """Signed in as one account with a change run waiting for its new password, then a sign-in
    as another: signing in signs the first out, and nothing of its run is left."""
    mine = UserFactory()
    ChannelFactory(user=mine)
    victim = expired_user(OTHER_PHONE)
    client = Client()
    post_login(client, mine.username, DEFAULT_PASSWORD)
    page = client.get(CHANGE)
    client.post(CHANGE, {"current_password": DEFAULT_PASSWORD, **captcha_answer(page)})
    client.post(CHANGE_SEND, {"channel": Channel.objects.get(user=mine).pk})
    assert client.post(CHANGE_CODE, {"code": code_sent_to(outbox, PHONE)}).url == CHANGE_NEW

    assert post_login(client, victim.username, DEFAULT_PASSWORD).url == EXPIRED
    assert client.post(CHANGE_NEW, NEW_PASSWORDS).url.startswith(LOGIN)
    assert client.get(EXPIRED_NEW).url == EXPIRED
    assert still_has_password(mine)
    assert still_has_password(victim)


def test_a_second_sign_in_does_not_inherit_the_first_accounts_proven_safecode(outbox):
    """The attacker has an account of their own whose password expired, and the expired
    password of the victim's, but not the victim's phone. They prove their own SafeCode in the
    expired journey, then sign in as the victim in the same browser: the victim's new password
    page must not open on the strength of the attacker's code."""
    mine = expired_user(PHONE)
    victim = expired_user(OTHER_PHONE)
    client = Client()
    expired_until_code(client, mine)
    assert client.post(EXPIRED_CODE, {"code": code_sent_to(outbox, PHONE)}).url == EXPIRED_NEW

    assert post_login(client, victim.username, DEFAULT_PASSWORD).url == EXPIRED
    assert not any(m.recipient == OTHER_PHONE for m in outbox), "no code reached the victim"
    taken = client.post(EXPIRED_NEW, NEW_PASSWORDS)

    assert taken.status_code == HTTPStatus.FOUND
    assert taken.url in (EXPIRED, EXPIRED_SEND, EXPIRED_CODE, LOGIN), "back to the victim's proof"
    assert signed_in_as(client) != victim.pk
    assert still_has_password(victim)


def test_a_second_sign_in_cannot_use_the_first_accounts_code_page_either(outbox):
    """Half-way, with a code asked for but not typed: the first account's code, typed once the
    victim's sign-in waits, is checked against the victim and refused."""
    mine = expired_user(PHONE)
    victim = expired_user(OTHER_PHONE)
    client = Client()
    expired_until_code(client, mine)
    code = code_sent_to(outbox, PHONE)
    assert post_login(client, victim.username, DEFAULT_PASSWORD).url == EXPIRED

    # The new sign-in started the journey afresh: the code page leads back to its start.
    refused = client.post(EXPIRED_CODE, {"code": code})
    assert refused.status_code == HTTPStatus.FOUND and refused.url == EXPIRED
    assert client.post(EXPIRED_NEW, NEW_PASSWORDS).url == EXPIRED
    assert still_has_password(victim)
    assert signed_in_as(client) is None


# The send page, revisited once the code is proven -------------------------------------------


def test_the_unlock_send_page_is_closed_once_the_code_is_proven(locked_user, outbox, time_machine):
    """``send`` is marked ``revisit`` so that the code page can ask for a new code; once the
    code is proven there is nothing to send, and a post there, a minute later, must not fail."""
    time_machine.move_to(START, tick=False)
    client = Client(raise_request_exception=False)
    unlock_until_code(client, locked_user.username)
    assert client.post(UNLOCK_CODE, {"code": code_sent_to(outbox, PHONE)}).url == UNLOCK_DONE
    time_machine.move_to(START + timedelta(minutes=2), tick=False)

    answer = client.post(UNLOCK_SEND, {"kind": "phone"})
    assert answer.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert answer.status_code == HTTPStatus.FOUND
    assert answer.url == UNLOCK_DONE


def test_the_reset_send_page_is_closed_once_the_code_is_proven(outbox, time_machine):
    time_machine.move_to(START, tick=False)
    user = UserFactory()
    ChannelFactory(user=user)
    client = Client(raise_request_exception=False)
    forgot_until_code(client, user)
    assert client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)}).url == FORGOT_NEW
    time_machine.move_to(START + timedelta(minutes=2), tick=False)

    answer = client.post(FORGOT_SEND, {"kind": "phone"})
    assert answer.status_code == HTTPStatus.FOUND
    assert answer.url == FORGOT_NEW
    assert client.get(FORGOT_NEW).status_code == HTTPStatus.OK


# The expired journey outlives nothing ------------------------------------------------------


def test_the_expired_pages_close_when_the_pending_sign_in_times_out(outbox, time_machine):
    """The code is proven, then the person waits past PENDING_SIGNIN_TIMEOUT (15 minutes from
    the password): the new password page sends them to sign in again, and nothing changes."""
    time_machine.move_to(START, tick=False)
    user = expired_user()
    client = Client()
    expired_until_code(client, user)
    assert client.post(EXPIRED_CODE, {"code": code_sent_to(outbox, PHONE)}).url == EXPIRED_NEW
    time_machine.move_to(START + timedelta(minutes=15) - SECOND, tick=False)
    assert client.get(EXPIRED_NEW).status_code == HTTPStatus.OK

    time_machine.move_to(START + timedelta(minutes=15), tick=False)
    for page in (EXPIRED, EXPIRED_SEND, EXPIRED_CODE, EXPIRED_SAFECODE):
        assert client.get(page).url == LOGIN
    late = client.post(EXPIRED_NEW, NEW_PASSWORDS, follow=True)
    assert late.redirect_chain[-1][0] == LOGIN
    assert b"Your sign-in timed out" in late.content
    assert still_has_password(user)
    assert signed_in_as(client) is None
    assert client.get(CONTINUE).url == LOGIN
    assert signed_in_as(client) is None


def test_the_expired_pages_are_closed_once_signed_in(outbox):
    """After the new password the sign-in completes; the journey's pages then lead home and
    neither send another code nor set another password."""
    user = expired_user()
    client = Client()
    expired_until_code(client, user)
    client.post(EXPIRED_CODE, {"code": code_sent_to(outbox, PHONE)})
    client.post(EXPIRED_NEW, NEW_PASSWORDS)
    assert signed_in_as(client) == user.pk
    sent = len(outbox)
    channel = Channel.objects.get(user=user)

    for page, data in (
        (EXPIRED, {}),
        (EXPIRED_SEND, {"channel": channel.pk}),
        (EXPIRED_CODE, {"code": "123456"}),
        (EXPIRED_NEW, {"password1": "x" * 20, "password2": "x" * 20}),
        (EXPIRED_SAFECODE, {"action": "register", "phone": OTHER_PHONE}),
    ):
        assert client.post(page, data).url == HOME
    assert len(outbox) == sent
    assert still_has_password(user, NEW_PASSWORD)


def test_the_expired_pages_are_closed_to_a_signed_in_account_whose_password_is_fine(outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    client = Client()
    post_login(client, user.username, DEFAULT_PASSWORD)
    assert signed_in_as(client) == user.pk
    for page in (EXPIRED, EXPIRED_SEND, EXPIRED_CODE, EXPIRED_NEW, EXPIRED_SAFECODE):
        assert client.post(page, NEW_PASSWORDS).url == HOME
    assert list(outbox) == []
    assert still_has_password(user)


# Signing in without the password -----------------------------------------------------------


def test_the_continue_page_signs_in_nobody_without_a_password(locked_user, outbox):
    client = Client()
    for method in ("get", "post"):
        assert getattr(client, method)(CONTINUE).url == LOGIN
    assert signed_in_as(client) is None

    # Not after an unlock either: the unlocked account still has to give its password.
    unlock_until_code(client, locked_user.username)
    client.post(UNLOCK_CODE, {"code": code_sent_to(outbox, PHONE)})
    assert client.get(UNLOCK_DONE).status_code == HTTPStatus.OK
    assert client.post(CONTINUE).url == LOGIN
    assert signed_in_as(client) is None


def test_the_continue_page_signs_in_nobody_after_a_reset(outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    client = Client()
    forgot_until_code(client, user)
    client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)})
    client.post(FORGOT_NEW, NEW_PASSWORDS)
    assert client.get(FORGOT_DONE).status_code == HTTPStatus.OK
    assert client.get(CONTINUE).url == LOGIN
    assert signed_in_as(client) is None


def test_the_continue_page_does_not_skip_the_expired_password(outbox):
    user = expired_user()
    client = Client()
    assert post_login(client, user.username, DEFAULT_PASSWORD).url == EXPIRED
    for _ in range(3):
        assert client.post(CONTINUE).url == EXPIRED
    assert signed_in_as(client) is None


def test_a_create_my_account_posted_after_signing_out_signs_in_nobody(outbox):
    """The finished registration run ends in a sign-in; signed out, its repeat does not bring
    the sign-in back."""
    person = PersonFactory()
    client = Client()
    register_until_account(client, person, outbox)
    form = {"username": "new.person", **NEW_PASSWORDS}
    client.post(REGISTER_ACCOUNT, form)
    client.post(reverse("accounts:logout"))
    assert signed_in_as(client) is None

    again = client.post(REGISTER_ACCOUNT, form)
    assert again.url == REGISTER
    assert client.get(CONTINUE).url == LOGIN
    assert signed_in_as(client) is None


# Where a journey goes afterwards ---------------------------------------------------------

OFF_SITE = [
    "//evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "\x00//evil.example/",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_sign_in_goes_nowhere_off_site(target):
    user = UserFactory()
    ChannelFactory(user=user)
    client = Client()
    answer = post_login(client, user.username, DEFAULT_PASSWORD, next=target)
    assert signed_in_as(client) == user.pk
    assert answer.url.startswith("/") and not answer.url.startswith(("//", "/\\"))
    assert "evil.example" not in answer.url


def test_the_next_given_to_registration_goes_nowhere_off_site(outbox):
    """The ``next`` of the first registration page is kept in the run and handed to the
    sign-in at the end: an off-site one is dropped on the way in, whatever the later pages
    are sent."""
    person = PersonFactory()
    client = Client()
    client.post(
        f"{REGISTER}?next=//evil.example/",
        {"last_name": person.last_name, "huid": person.huid, "next": "//evil.example/"},
    )
    client.post(REGISTER_CODE, {"code": code_sent_to(outbox, person.email)})
    done = client.post(
        f"{REGISTER_ACCOUNT}?next=//evil.example/",
        {"username": "new.person", "next": "//evil.example/", **NEW_PASSWORDS},
    )
    assert signed_in_as(client) == User.objects.get(person=person).pk
    assert "evil.example" not in done.url


# The double submit of registration ---------------------------------------------------------


def test_the_double_submit_window_opens_nothing_to_a_different_password(outbox):
    """Someone else who got a proven run for the same person (they read the code, say) just
    after the owner created the account: within the repeat window, any username or password
    that is not exactly the owner's is refused, and nobody is signed in."""
    person = PersonFactory()
    owner, other = Client(), Client()
    register_until_account(owner, person, outbox)
    register_until_account(other, person, outbox)
    owner.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    user = User.objects.get(person=person)

    guesses = [
        {
            "username": "new.person",
            "password1": "another long pass",
            "password2": "another long pass",
        },
        {"username": "other.name", **NEW_PASSWORDS},
        {"username": "NEW.PERSON", **NEW_PASSWORDS},
    ]
    for guess in guesses:
        refused = other.post(REGISTER_ACCOUNT, guess)
        assert refused.status_code == HTTPStatus.OK
        assert b"already has an account" in refused.content or b"taken" in refused.content
        assert signed_in_as(other) is None
    assert User.objects.filter(person=person).count() == 1
    assert still_has_password(user, NEW_PASSWORD)


def test_the_double_submit_window_does_not_sign_in_a_locked_account(outbox):
    """Even with the owner's exact name and password, the repeat goes through the sign-in
    pipeline: an account locked meanwhile stays closed."""
    person = PersonFactory()
    owner, other = Client(), Client()
    register_until_account(owner, person, outbox)
    register_until_account(other, person, outbox)
    owner.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    lock(User.objects.get(person=person))

    other.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    assert signed_in_as(other) is None


def test_the_double_submit_window_closes(outbox, time_machine):
    time_machine.move_to(START, tick=False)
    person = PersonFactory()
    owner, other = Client(), Client()
    register_until_account(owner, person, outbox)
    register_until_account(other, person, outbox)
    owner.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    time_machine.move_to(START + timedelta(minutes=3), tick=False)

    late = other.post(REGISTER_ACCOUNT, {"username": "new.person", **NEW_PASSWORDS})
    assert late.status_code == HTTPStatus.OK
    assert b"already has an account" in late.content or b"taken" in late.content
    assert signed_in_as(other) is None


# What recovery tells about an account ------------------------------------------------------


def _unlock_pages(username: str) -> list[bytes]:
    client = Client()
    pages = []
    first = client.get(f"{UNLOCK}?username={username}")
    pages.append(page_text(first, username))
    started = client.post(UNLOCK, {"username": username, **captcha_answer(first)})
    pages.append(started.url.encode())
    pages.append(page_text(client.get(UNLOCK_SEND), username))
    for kind in ("all", "phone", "email"):
        # The first post sends; the next two are refused for the minute between codes.
        answer = client.post(UNLOCK_SEND, {"kind": kind})
        pages.append(answer.url.encode() if answer.status_code == 302 else page_text(answer))
    pages.append(page_text(client.get(UNLOCK_CODE), username))
    pages.append(page_text(client.post(UNLOCK_CODE, {"code": "000000"}), username))
    pages.append(page_text(client.get(UNLOCK_SEND), username))
    return pages


def test_unlock_answers_alike_for_every_kind_of_account(outbox):
    """Locked with a phone, locked with no SafeCode, not locked, departmental-like (no
    person), and unknown: every page up to the code reads the same."""
    with_phone = UserFactory()
    ChannelFactory(user=with_phone)
    lock(with_phone)
    without = UserFactory()
    lock(without)
    not_locked = UserFactory()
    ChannelFactory(user=not_locked, address=OTHER_PHONE)
    affiliate = UserFactory(person=None, kind=User.Kind.AFFILIATE)
    lock(affiliate)

    names = [u.username for u in (with_phone, without, not_locked, affiliate)]
    names += ["nobody.here", "x" * 150]
    # One instant for every account: a page that names a time (a code's expiry, a wait) then
    # reads the same for each, however slowly the machine runs.
    with time_machine.travel(timezone.now(), tick=False):
        seen = [_unlock_pages(name) for name in names]
    for name, pages in zip(names[1:], seen[1:], strict=True):
        assert pages == seen[0], f"{name} reads differently from a locked account"
    assert any(m.recipient == PHONE for m in outbox), "the real one was sent a code"


def _forgot_pages(details: dict[str, str]) -> list[bytes]:
    client = Client()
    typed = [value for value in details.values() if value]
    first = client.get(FORGOT)
    started = client.post(FORGOT, {**details, **captcha_answer(first)})
    pages = [started.url.encode(), page_text(client.get(FORGOT_SEND), *typed)]
    for kind in ("all", "email"):
        answer = client.post(FORGOT_SEND, {"kind": kind})
        pages.append(answer.url.encode() if answer.status_code == 302 else page_text(answer))
    pages.append(page_text(client.get(FORGOT_CODE), *typed))
    pages.append(page_text(client.post(FORGOT_CODE, {"code": "000000"}), *typed))
    return pages


def test_forgotten_password_answers_alike_whether_the_details_match_or_not(outbox):
    user = UserFactory()
    ChannelFactory(user=user)
    right = recovery_subject(user)
    cases = [
        right,
        {**right, "last_name": "Wrongname"},
        {**right, "huid": "99999999"},
        {**right, "login": "nobody.here"},
        {**right, "login": user.email},
    ]
    seen = [_forgot_pages(details) for details in cases]
    for details, pages in zip(cases[1:], seen[1:], strict=True):
        assert pages == seen[0], f"{details} reads differently from the right details"
    assert any(m.recipient == PHONE for m in outbox), "the real one was sent a code"


# Hostile values in every field of every stage ----------------------------------------------

HOSTILE = [
    "\x00",
    "a\x00b",
    "1234\x0056",
    "A" * 20_000,
    "9" * 40,
    "-1",
    "0",
    "1e9",
    "\u202e123456",
    "𝟙𝟚𝟛𝟜𝟝𝟞",
    "１２３４５６",
    "١٢٣٤٥٦",
    "🔑" * 50,
    "\ud7ff\ufffe\uffff",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "%00%2e%2e%2f",
    "//evil.example/",
    "javascript:alert(1)",
    "\r\nSet-Cookie: x=1",
    " ",
]


def _at_unlock_send(client, user, outbox):
    page = client.get(UNLOCK)
    client.post(UNLOCK, {"username": user.username, **captcha_answer(page)})


def _at_unlock_code(client, user, outbox):
    lock(user)
    unlock_until_code(client, user.username)


def _at_forgot_send(client, user, outbox):
    page = client.get(FORGOT)
    client.post(FORGOT, {**recovery_subject(user), **captcha_answer(page)})


def _at_forgot_code(client, user, outbox):
    forgot_until_code(client, user)


def _at_forgot_new(client, user, outbox):
    forgot_until_code(client, user)
    client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)})


def _at_register_code(client, user, outbox):
    person = PersonFactory()
    client.post(REGISTER, {"last_name": person.last_name, "huid": person.huid})


def _at_register_account(client, user, outbox):
    register_until_account(client, PersonFactory(), outbox)


def _signed_in(client, user, outbox):
    client.force_login(user)


def _at_change_send(client, user, outbox):
    client.force_login(user)
    page = client.get(CHANGE)
    client.post(CHANGE, {"current_password": DEFAULT_PASSWORD, **captcha_answer(page)})


def _at_change_code(client, user, outbox):
    _at_change_send(client, user, outbox)
    client.post(CHANGE_SEND, {"channel": Channel.objects.get(user=user).pk})


def _at_change_new(client, user, outbox):
    _at_change_code(client, user, outbox)
    client.post(CHANGE_CODE, {"code": code_sent_to(outbox, PHONE)})


def _expire(user):
    User.objects.filter(pk=user.pk).update(password_changed_at=LONG_AGO)


def _at_expired_start(client, user, outbox):
    _expire(user)
    post_login(client, user.username, DEFAULT_PASSWORD)


def _at_expired_send(client, user, outbox):
    _at_expired_start(client, user, outbox)
    client.post(EXPIRED, captcha_answer(client.get(EXPIRED)))


def _at_expired_code(client, user, outbox):
    _at_expired_send(client, user, outbox)
    client.post(EXPIRED_SEND, {"channel": Channel.objects.get(user=user).pk})


def _at_expired_new(client, user, outbox):
    _at_expired_code(client, user, outbox)
    client.post(EXPIRED_CODE, {"code": code_sent_to(outbox, PHONE)})


def _at_expired_safecode(client, user, outbox):
    Channel.objects.filter(user=user).delete()
    _at_expired_start(client, user, outbox)


def _nowhere(client, user, outbox):
    pass


CAPTCHA = ["captcha_0", "captcha_1"]
PASSWORDS = ["password1", "password2"]
STAGES = {
    "login": (_nowhere, LOGIN, ["username", "password", "next", *CAPTCHA]),
    "login continue": (_at_expired_start, CONTINUE, ["next", "user_id"]),
    "unlock": (_nowhere, UNLOCK, ["username", *CAPTCHA]),
    "unlock send": (_at_unlock_send, UNLOCK_SEND, ["kind"]),
    "unlock code": (_at_unlock_code, UNLOCK_CODE, ["code"]),
    "forgot": (_nowhere, FORGOT, ["login", "last_name", "huid", "date_of_birth", *CAPTCHA]),
    "forgot send": (_at_forgot_send, FORGOT_SEND, ["kind"]),
    "forgot code": (_at_forgot_code, FORGOT_CODE, ["code"]),
    "forgot new": (_at_forgot_new, FORGOT_NEW, PASSWORDS),
    "register": (
        _nowhere,
        REGISTER,
        ["last_name", "huid", "guest_key", "date_of_birth", "ssn", "next"],
    ),
    "register code": (_at_register_code, REGISTER_CODE, ["code", "action"]),
    "register account": (_at_register_account, REGISTER_ACCOUNT, ["username", *PASSWORDS]),
    "change": (_signed_in, CHANGE, ["current_password", *CAPTCHA]),
    "change send": (_at_change_send, CHANGE_SEND, ["channel"]),
    "change code": (_at_change_code, CHANGE_CODE, ["code"]),
    "change new": (_at_change_new, CHANGE_NEW, PASSWORDS),
    "expired": (_at_expired_start, EXPIRED, CAPTCHA),
    "expired send": (_at_expired_send, EXPIRED_SEND, ["channel"]),
    "expired code": (_at_expired_code, EXPIRED_CODE, ["code"]),
    "expired new": (_at_expired_new, EXPIRED_NEW, PASSWORDS),
    "expired safecode": (
        _at_expired_safecode,
        EXPIRED_SAFECODE,
        ["action", "phone", "carrier", "email", "code"],
    ),
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_hostile_values_in_every_field_of_every_stage_never_answer_500(stage, outbox, settings):
    """Each value in every field at once, then in each field alone (the others left empty, as
    a person would leave them), then as a list; and in the query string of a GET. A post that
    ends the stage (a long run of nines is a good enough new password) starts a fresh run for
    another account, so that every value meets the stage's own form."""
    settings.ACCOUNTS_RECOVERY_CODE_ATTEMPTS = 10_000
    settings.ACCOUNTS_CURRENT_PASSWORD_ATTEMPTS = 10_000
    arrive, url, fields = STAGES[stage]

    def fresh() -> Client:
        user = UserFactory()
        ChannelFactory(user=user)
        client = Client(raise_request_exception=False)
        arrive(client, user, outbox)
        return client

    client = fresh()
    served, failures = 0, []
    for value in HOSTILE:
        tries = [{field: value for field in fields}]
        tries += [{field: value} for field in fields]
        tries += [{field: [value, "1"] for field in fields}]
        for data in tries:
            answer = client.post(url, data)
            if answer.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
                failures.append(("POST", sorted(data), value[:20]))
            elif answer.status_code == HTTPStatus.FOUND:
                client = fresh()
            else:
                served += 1
        query = "&".join(f"{field}={value[:2000]}" for field in fields)
        answer = client.get(f"{url}?{query}")
        if answer.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            failures.append(("GET", fields, value[:20]))
    assert failures == []
    assert served or stage == "login continue", "the stage's own page never answered"


# A pending SafeCode prompt, and the paths it leaves open ----------------------------------

TRICKS = [
    "/help/../preferences/",
    "/help/..%2fpreferences/",
    "/help/%2e%2e/preferences/",
    "/help/%2e%2e%2fpreferences/",
    "/help//preferences/",
    "/help/./preferences/",
    "/help/preferences/",
    "/help/%0a/preferences/",
    "/help;/preferences/",
    "/static/../preferences/",
    "/static/..%2fpreferences/",
    "/static/%2e%2e/preferences/security/password/",
    "/static/../../preferences/",
    "/healthz/../preferences/",
    "/healthz../preferences/",
    "/healthzpreferences/",
    "/healthz/preferences/",
    "/captcha/../preferences/",
    "/captcha/refresh/../../preferences/",
    "/dev/../whitepages/",
    "/dev/outbox/../../preferences/",
    "/preferences/security/confirm/../password/",
    "/preferences/security/confirm/../../",
    "/preferences/security/confirm/%2e%2e/password/",
    "/preferences/security/confirm/code/../../password/",
    "/preferences/security/confirmx/",
    "/preferences/security/confirm/x/",
    "/HELP/",
    "/Help/../preferences/",
    "/PREFERENCES/",
    "/Preferences/",
    "//preferences/",
    "///help/../preferences/",
    "/help/\\..\\preferences/",
    "/help/%5c..%5cpreferences/",
    "/help/%00/../preferences/",
    "/preferences",
    "/preferences/security/password",
    "/whitepages",
    "/help/../preferences/security/password/",
    "/help/../preferences/security/password/send/",
    "/help/../password/expired/new/",
    "/safecode/../preferences/",
    "/safecode/..%2fpreferences/",
]
# The pages a person with the prompt pending may see.
OPEN_VIEWS = {
    "accounts:help",
    "accounts:recent_proof",
    "accounts:recent_proof_code",
    "healthz",
    "safecode:prompt",
    "safecode:manage",
}


@pytest.fixture
def prompt_pending():
    """Signed in, no SafeCode contact, and no skip left: the prompt is the only way on."""
    user = UserFactory()
    user.safecode_skips = safecode_settings.MAX_SKIPS + 100
    user.save(update_fields=["safecode_skips"])
    client = Client(raise_request_exception=False)
    post_login(client, user.username, DEFAULT_PASSWORD)
    assert signed_in_as(client) == user.pk
    assert client.get(PREFERENCES).url.startswith(PROMPT)
    return client, user


@pytest.mark.parametrize("path", TRICKS)
def test_no_path_trick_reaches_an_account_page_past_a_pending_prompt(prompt_pending, path):
    client, user = prompt_pending
    for method in ("get", "post"):
        answer = getattr(client, method)(path, {"current_password": DEFAULT_PASSWORD})
        assert answer.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, (method, path)
        if answer.status_code == HTTPStatus.OK:
            match = answer.resolver_match
            assert match is not None and match.view_name in OPEN_VIEWS, (method, path)
        elif answer.status_code in (HTTPStatus.MOVED_PERMANENTLY, HTTPStatus.FOUND):
            followed = getattr(client, method)(answer.url)
            if followed.status_code == HTTPStatus.OK:
                assert followed.resolver_match.view_name in OPEN_VIEWS, (method, path)
        else:
            assert answer.status_code in (
                HTTPStatus.BAD_REQUEST,
                HTTPStatus.FORBIDDEN,
                HTTPStatus.NOT_FOUND,
                HTTPStatus.METHOD_NOT_ALLOWED,
            ), (method, path, answer.status_code)
    assert not Channel.objects.filter(user=user).exists()
    assert still_has_password(user)


def test_the_prompt_cannot_be_skipped_past_its_limit(prompt_pending):
    client, user = prompt_pending
    for _ in range(3):
        client.post(PROMPT, {"next": PREFERENCES})
    assert client.get(PREFERENCES).url.startswith(PROMPT)
    assert client.get(CHANGE).url.startswith(PROMPT)
    assert client.post(CHANGE_NEW, NEW_PASSWORDS).url.startswith(PROMPT)
    assert still_has_password(user)


def test_a_pending_prompt_keeps_the_journeys_closed(prompt_pending, outbox):
    """A signed-in person with the prompt pending does not change their password, nor start
    a recovery that ends somewhere behind the prompt."""
    client, user = prompt_pending
    for page in (CHANGE, CHANGE_SEND, CHANGE_CODE, CHANGE_NEW, EXPIRED_NEW, CONTINUE):
        answer = client.post(page, NEW_PASSWORDS)
        assert answer.status_code == HTTPStatus.FOUND, page
        assert answer.url.startswith(PROMPT) or answer.url == HOME, page
        if answer.url == HOME:
            assert client.get(HOME).status_code == HTTPStatus.FOUND, "home leads to the prompt"
    assert still_has_password(user)
    assert list(outbox) == []


def test_another_accounts_change_code_does_nothing_in_this_run(outbox):
    """Two signed-in change runs at the code page: the victim's code, typed in the attacker's
    run, is refused like any wrong code, and still works for the victim."""
    mine, victim = UserFactory(), UserFactory()
    ChannelFactory(user=mine)
    ChannelFactory(user=victim, address=OTHER_PHONE)
    attacker, owner = Client(), Client()
    _at_change_code(attacker, mine, outbox)
    _at_change_code(owner, victim, outbox)
    theirs = code_sent_to(outbox, OTHER_PHONE)
    refused = attacker.post(CHANGE_CODE, {"code": theirs})
    assert refused.status_code != HTTPStatus.FOUND
    assert attacker.post(CHANGE_NEW, NEW_PASSWORDS).url == CHANGE_CODE
    assert owner.post(CHANGE_CODE, {"code": other_code(theirs)}).status_code != HTTPStatus.FOUND
    assert owner.post(CHANGE_CODE, {"code": theirs}).url == CHANGE_NEW
