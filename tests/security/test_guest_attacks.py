"""Attacks on sponsored guest access (issue 12), performed over HTTP as an outsider would.

Each test performs one attack and asserts that it fails. Where it succeeds (a hole in the
code as it stands), the test is kept and marked ``xfail(strict=True)`` with the hole in its
reason, so that it turns green once the hole is fixed.

The races run real threads on PostgreSQL (``on_postgresql``); they are skipped on SQLite.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from contextlib import contextmanager, suppress
from datetime import timedelta
from http import HTTPStatus
from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.views.debug import SafeExceptionReporterFilter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import Person, RegistrationAttempt, User
from accounts.services.passwords import password_set
from accounts.services.sessions import account_sessions_end
from audit.models import AuditEvent
from delivery.models import Message
from guests.keys import normalize_key
from guests.models import GuestKey, Sponsorship
from guests.services.sponsorship import (
    GuestDetails,
    guest_key_reissue,
    guest_request_create,
    guest_revoke,
    latest_end_date,
)
from tests.factories import ChannelFactory, PersonFactory, UserFactory
from tests.helpers import in_threads, on_postgresql, page_text, post_login

pytestmark = pytest.mark.django_db

HOME = reverse("guests:home")
REQUEST = reverse("guests:request")
REGISTER = reverse("accounts:register")
REGISTER_ACCOUNT = reverse("accounts:register_account")
PREFERENCES = reverse("accounts:preferences")
ADMIN = reverse("admin:index")
LOGIN = reverse("accounts:login")

GUEST_FIRST = "Ada"
GUEST_LAST = "Okonkwo"
GUEST_PASSWORD = "quiet lantern over the river"


# Helpers -----------------------------------------------------------------------------------------


def make_sponsor(**person) -> User:
    """A full-time staff member (unless told) with a verified SafeCode phone."""
    user = UserFactory(person=PersonFactory(**person))
    ChannelFactory(user=user)
    return user


def details(**overrides) -> GuestDetails:
    today = timezone.localdate()
    fields = {
        "first_name": GUEST_FIRST,
        "last_name": GUEST_LAST,
        "email": "ada@partner.example",
        "organisation": "Partner Lab",
        "purpose": "Shared data analysis.",
        "start_date": today,
        "end_date": today + timedelta(days=30),
    }
    fields.update(overrides)
    return GuestDetails(**fields)


def issue(sponsor: User, **overrides) -> tuple[Sponsorship, str]:
    issued = guest_request_create(sponsor=sponsor, details=details(**overrides), attested=True)
    return issued.sponsorship, issued.key


def signed_in(user: User, **client_kwargs) -> Client:
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


def form_data(**overrides) -> dict[str, str]:
    today = timezone.localdate()
    data = {
        "first_name": GUEST_FIRST,
        "last_name": GUEST_LAST,
        "email": "ada@partner.example",
        "organisation": "Partner Lab",
        "purpose": "Shared data analysis.",
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=30)).isoformat(),
        "attest": "on",
        "submission": "tok-" + timezone.now().strftime("%H%M%S%f"),
    }
    data.update(overrides)
    return data


def register_details(client: Client, *, key: str, last_name: str = GUEST_LAST, **extra):
    """STEP 1 and 2 of /register/ with a guest key; UPPERCASE extras are request headers."""
    meta = {k: extra.pop(k) for k in list(extra) if k.isupper()}
    data = {"last_name": last_name, "huid": "", "guest_key": key, "date_of_birth": "", "ssn": ""}
    data.update(extra)
    return client.post(REGISTER, data, **meta)


def register_account(client: Client, username: str, password: str = GUEST_PASSWORD):
    return client.post(
        REGISTER_ACCOUNT, {"username": username, "password1": password, "password2": password}
    )


def register_guest(
    client: Client, key: str, username: str = "ada.guest", last_name: str = GUEST_LAST
) -> User:
    checked = register_details(client, key=key, last_name=last_name)
    assert checked.status_code == HTTPStatus.FOUND and checked.url == REGISTER_ACCOUNT
    register_account(client, username)
    return User.objects.get(username=username, kind=User.Kind.GUEST)


def live_keys(sponsorship: Sponsorship):
    return GuestKey.objects.filter(
        sponsorship=sponsorship, used_at__isnull=True, ended_at__isnull=True
    )


def key_forms(key: str) -> list[str]:
    """The key as shown and as stored symbols: neither may appear anywhere else."""
    return [key, normalize_key(key)]


def guest_accounts() -> int:
    return User.objects.filter(kind=User.Kind.GUEST).count()


def signed_in_user_id(client: Client):
    return client.session.get("_auth_user_id")


def is_signed_out(response) -> bool:
    return response.status_code == HTTPStatus.FOUND and response.url.startswith(LOGIN)


@pytest.fixture
def sponsor(db):
    return make_sponsor()


@pytest.fixture
def other_sponsor(db):
    return make_sponsor()


# Authorisation: IDOR, eligibility, CSRF ----------------------------------------------------------


@pytest.mark.parametrize("action", ["extend", "revoke", "new_key"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_another_sponsors_guest_is_404_and_untouched(sponsor, other_sponsor, action, method):
    guest, _ = issue(sponsor)
    attacker = signed_in(other_sponsor)
    url = reverse(f"guests:{action}", args=[guest.pk])
    data = {
        "end_date": (guest.end_date + timedelta(days=10)).isoformat(),
        "reason": "mine now",
        "submission": "attacker-token",
    }
    response = getattr(attacker, method)(url, data if method == "post" else None)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert guest.full_name.encode() not in response.content
    fresh = Sponsorship.objects.get(pk=guest.pk)
    assert (fresh.status, fresh.end_date) == (guest.status, guest.end_date)
    assert GuestKey.objects.filter(sponsorship=guest).count() == 1
    assert live_keys(guest).count() == 1
    # A pk that does not exist reads the same: no one learns which guests exist.
    missing = getattr(attacker, method)(reverse(f"guests:{action}", args=[guest.pk + 999]))
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert page_text(missing) == page_text(response)


def _part_time_staff():
    return make_sponsor(full_time=False)


def _student():
    return make_sponsor(affiliation="student")


def _inactive_staff():
    return make_sponsor(is_active=False)


def _departmental():
    user = UserFactory(person=None, kind=User.Kind.DEPARTMENTAL, username="dept.lab")
    ChannelFactory(user=user)
    return user


def _affiliate():
    user = UserFactory(person=None, kind=User.Kind.AFFILIATE, username="aff.one")
    ChannelFactory(user=user)
    return user


def _guest_account():
    sponsor = make_sponsor()
    _, key = issue(sponsor)
    guest = register_guest(Client(), key, username="ada.guest")
    ChannelFactory(user=guest)
    return guest


def _staff_whose_person_is_a_guest():
    return make_sponsor(affiliation="guest")


NOT_ELIGIBLE = {
    "part-time staff": _part_time_staff,
    "student": _student,
    "inactive in the directory": _inactive_staff,
    "departmental": _departmental,
    "affiliate": _affiliate,
    "guest account": _guest_account,
    "guest affiliation": _staff_whose_person_is_a_guest,
}


@pytest.mark.parametrize("who", sorted(NOT_ELIGIBLE))
def test_a_non_eligible_account_posting_the_request_form_gets_nothing(who):
    attacker = NOT_ELIGIBLE[who]()
    before = Sponsorship.objects.count()
    client = signed_in(attacker)
    response = client.post(REQUEST, form_data())
    # Refused (403), or not even signed in any more (an account that may not sign in).
    assert response.status_code == HTTPStatus.FORBIDDEN or is_signed_out(response)
    assert b'class="guest-key"' not in response.content
    assert Sponsorship.objects.count() == before
    assert Sponsorship.objects.filter(sponsor=attacker).count() == 0
    home = client.get(HOME)
    assert home.status_code == HTTPStatus.FORBIDDEN or is_signed_out(home)


def test_a_sponsor_who_became_part_time_cannot_issue_keys_or_extend_but_can_revoke(sponsor):
    guest, _ = issue(sponsor)
    Person.objects.filter(pk=sponsor.person_id).update(full_time=False)
    client = signed_in(sponsor)
    new_key = client.post(reverse("guests:new_key", args=[guest.pk]), {"submission": "t-1"})
    assert new_key.status_code == HTTPStatus.FORBIDDEN
    assert b'class="guest-key"' not in new_key.content
    extend = client.post(
        reverse("guests:extend", args=[guest.pk]),
        {"end_date": (guest.end_date + timedelta(days=5)).isoformat()},
    )
    assert extend.status_code == HTTPStatus.FORBIDDEN
    assert Sponsorship.objects.get(pk=guest.pk).end_date == guest.end_date
    assert GuestKey.objects.filter(sponsorship=guest).count() == 1
    # Revoking stays possible: access can always be taken away.
    client.post(reverse("guests:revoke", args=[guest.pk]), {"reason": ""})
    assert Sponsorship.objects.get(pk=guest.pk).status == Sponsorship.Status.REVOKED


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", ["home", "request", "extend", "revoke", "new_key"])
def test_signed_out_visitors_reach_nothing(sponsor, name, method):
    guest, _ = issue(sponsor)
    args = [] if name in ("home", "request") else [guest.pk]
    response = getattr(Client(), method)(
        reverse(f"guests:{name}", args=args), form_data() if method == "post" else None
    )
    assert is_signed_out(response)
    assert Sponsorship.objects.get(pk=guest.pk).status == Sponsorship.Status.KEY_ISSUED
    assert Sponsorship.objects.count() == 1
    assert GuestKey.objects.count() == 1


def test_every_guest_post_needs_the_csrf_token(sponsor):
    guest, key = issue(sponsor)
    client = signed_in(sponsor, enforce_csrf_checks=True)
    posts = {
        REQUEST: form_data(),
        reverse("guests:new_key", args=[guest.pk]): {"submission": "csrf-1"},
        reverse("guests:extend", args=[guest.pk]): {
            "end_date": (guest.end_date + timedelta(days=3)).isoformat()
        },
        reverse("guests:revoke", args=[guest.pk]): {"reason": "forged"},
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == HTTPStatus.FORBIDDEN, url
        assert b'class="guest-key"' not in response.content
    fresh = Sponsorship.objects.get(pk=guest.pk)
    assert (fresh.status, fresh.end_date) == (Sponsorship.Status.KEY_ISSUED, guest.end_date)
    assert Sponsorship.objects.count() == 1
    assert GuestKey.objects.count() == 1
    # Nor can a forged form on another site register with the key in the victim's browser.
    anonymous = Client(enforce_csrf_checks=True)
    assert register_details(anonymous, key=key).status_code == HTTPStatus.FORBIDDEN
    assert not RegistrationAttempt.objects.exists()


# Guessing keys: the per-IP budget ----------------------------------------------------------------


def wrong_key(i: int) -> str:
    """A well-formed key that no one was given."""
    return f"2222-3333-4444-5555-{i:04d}".replace("0", "A").replace("1", "B")


def test_alternating_harvard_ids_and_keys_gives_no_second_budget(sponsor):
    _, key = issue(sponsor)
    client = Client()
    limit = accounts_settings.REGISTRATION_IP_LIMIT
    for i in range(limit):
        if i % 2:
            register_details(client, key=wrong_key(i))
        else:
            client.post(
                REGISTER,
                {"last_name": "Nobody", "huid": f"{90_000_000 + i:08d}", "guest_key": ""},
            )
    assert RegistrationAttempt.objects.filter(matched=False).count() == limit
    # Past the limit, even the right key and name are not looked at...
    refused = register_details(client, key=key)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # ...and neither path opens again with a fresh session (same IP).
    again = Client().post(REGISTER, {"last_name": "Nobody", "huid": "91000000"})
    assert again.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_varying_the_last_name_or_the_key_format_gives_no_new_budget(sponsor):
    _, key = issue(sponsor)
    limit = accounts_settings.REGISTRATION_IP_LIMIT
    for i in range(limit):
        typed = wrong_key(i) if i % 3 else "not a key at all"
        register_details(Client(), key=typed, last_name=f"Okonkwo{i}")
    assert register_details(Client(), key=key).status_code == HTTPStatus.TOO_MANY_REQUESTS


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_a_forged_x_forwarded_for_gives_no_new_budget(sponsor):
    _, key = issue(sponsor)
    limit = accounts_settings.REGISTRATION_IP_LIMIT
    for i in range(limit):
        register_details(
            Client(),
            key=wrong_key(i),
            HTTP_X_FORWARDED_FOR=f"10.9.{i}.1, 203.0.113.9",
        )
    response = register_details(Client(), key=key, HTTP_X_FORWARDED_FOR="10.200.0.1, 203.0.113.9")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_leaked_key_cannot_be_paired_with_unbounded_last_name_guesses(sponsor):
    _, key = issue(sponsor)
    for i in range(30):
        refused = register_details(
            Client(), key=key, last_name=f"Wrongname{i}", REMOTE_ADDR=f"198.51.100.{i + 1}"
        )
        assert refused.status_code == HTTPStatus.OK
    found = register_details(Client(), key=key, REMOTE_ADDR="198.51.100.200")
    assert found.status_code == HTTPStatus.OK, "the 31st guess still found the right last name"


# Enumeration -------------------------------------------------------------------------------------


def _refusal_cases(sponsor) -> dict[str, tuple[str, str]]:
    """Each kind of refusal as (last name typed, key typed)."""
    now = timezone.now()
    cases = {}
    cases["wrong key"] = (GUEST_LAST, wrong_key(1))
    _, key = issue(sponsor, last_name="Zhang")
    cases["right key, wrong last name"] = ("Zhangg", key)
    _, used = issue(sponsor, last_name="Used")
    register_guest(Client(REMOTE_ADDR="192.0.2.1"), used, username="used.guest", last_name="Used")
    cases["used key"] = ("Used", used)
    revoked, key = issue(sponsor, last_name="Revoked")
    guest_revoke(sponsorship=revoked, actor=sponsor)
    cases["revoked key"] = ("Revoked", key)
    expired, key = issue(sponsor, last_name="Expired")
    GuestKey.objects.filter(sponsorship=expired).update(expires_at=now - timedelta(seconds=1))
    cases["expired key"] = ("Expired", key)
    replaced, key = issue(sponsor, last_name="Replaced")
    guest_key_reissue(sponsor=sponsor, sponsorship=replaced)
    cases["replaced key"] = ("Replaced", key)
    ended, key = issue(sponsor, last_name="Ended")
    yesterday = timezone.localdate() - timedelta(days=1)
    Sponsorship.objects.filter(pk=ended.pk).update(start_date=yesterday, end_date=yesterday)
    cases["access already over (beat not run)"] = ("Ended", key)
    cases["malformed key"] = (GUEST_LAST, "0000-OOOO-IIII")
    return cases


def test_every_refusal_answers_the_same_way(sponsor):
    cases = _refusal_cases(sponsor)
    seen = {}
    for i, (name, (last_name, key)) in enumerate(cases.items()):
        client = Client(REMOTE_ADDR=f"203.0.113.{i + 10}")
        before = AuditEvent.objects.count()
        with CaptureQueriesContext(connection) as queries:
            response = register_details(client, key=key, last_name=last_name)
        # The trail may tell the desk more (which key a wrong last name came with); which
        # events it records, and with what outcome, is the same for every refusal.
        events = list(AuditEvent.objects.order_by("pk")[before:].values_list("event", "outcome"))
        seen[name] = (
            response.status_code,
            page_text(response, key, last_name),
            sorted(k for k in response.headers if k.lower() != "content-length"),
            sorted(response.cookies),
            len(queries),
            events,
            signed_in_user_id(client),
            client.session.get("registration"),
        )
        assert response.status_code == HTTPStatus.OK, name
        assert "do not match a guest key that can be used" in response.content.decode()
    first = seen.pop("wrong key")
    for name, answer in seen.items():
        assert answer[:4] == first[:4], f"{name}: page/status/headers differ"
        assert answer[5:] == first[5:], f"{name}: audit or session differ"
    # The same work, except that a malformed key is refused before anything is looked up.
    counts = {name: answer[4] for name, answer in seen.items() if name != "malformed key"}
    assert set(counts.values()) == {first[4]}, counts


# Where the key may be seen -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_key_is_on_the_page_that_issued_it_and_nowhere_else(caplog):
    caplog.set_level(logging.DEBUG)
    sponsor = make_sponsor()
    admin = UserFactory(is_staff=True, is_superuser=True)
    ChannelFactory(user=admin)
    client = signed_in(sponsor)
    data = form_data(submission="once-only-token")
    shown = client.post(REQUEST, data)
    match = re.search(rb'<code class="guest-key" id="guest-key">([^<]+)</code>', shown.content)
    assert match
    key = match.group(1).decode()
    guest = Sponsorship.objects.get()
    forms = key_forms(key)
    assert shown.headers["Cache-Control"].startswith("max-age=0")
    assert "no-store" in shown.headers["Cache-Control"]

    def assert_absent(text: str, where: str) -> None:
        for form in forms:
            assert form not in text, f"the key is in {where}"

    # The same form sent again (reload) shows no key, and issues none.
    again = client.post(REQUEST, data, follow=True)
    assert_absent(again.content.decode(), "the reloaded form")
    assert GuestKey.objects.count() == 1
    # Later pages of the sponsor and the admin.
    for url in (
        HOME,
        reverse("guests:extend", args=[guest.pk]),
        reverse("guests:revoke", args=[guest.pk]),
        reverse("guests:new_key", args=[guest.pk]),
    ):
        assert_absent(client.get(url).content.decode(), url)
    console = signed_in(admin)
    for url in (
        reverse("admin:guests_sponsorship_changelist"),
        reverse("admin:guests_sponsorship_change", args=[guest.pk]),
    ):
        page = console.get(url)
        assert page.status_code == HTTPStatus.OK, url
        assert_absent(page.content.decode(), url)
    # The guest registers: the key is in no later page of theirs either.
    guest_client = Client()
    account_page = guest_client.get(register_details(guest_client, key=key).url)
    assert_absent(account_page.content.decode(), "the account page")
    done = register_account(guest_client, "ada.guest")
    assert_absent(done.content.decode(), "the answer to Create my account")
    # Nor in any session, the audit trail, the stored email (once sent) or any log record.
    for session in Session.objects.all():
        assert_absent(json.dumps(session.get_decoded()), "a session")
    for event in AuditEvent.objects.all():
        assert_absent(json.dumps(event.detail) + event.event, f"audit event {event.event}")
    messages = Message.objects.filter(purpose="guest_key")
    assert messages.count() == 1
    for message in messages:
        assert_absent(message.subject, "the email subject")
        if message.sent_at:
            assert_absent(message.body, "the sent email kept in the database")
    for record in caplog.records:
        assert_absent(record.getMessage(), f"log record {record.name}")


def test_a_refused_key_is_not_written_back_into_the_page(sponsor):
    _, key = issue(sponsor)
    response = register_details(Client(), key=key, last_name="Okonkow")
    assert response.status_code == HTTPStatus.OK
    for form in key_forms(key):
        assert form.encode() not in response.content


def test_an_error_report_does_not_carry_the_guest_key(sponsor, caplog):
    _, key = issue(sponsor)
    caplog.set_level(logging.ERROR, logger="django.request")
    client = Client(raise_request_exception=False)
    with mock.patch(
        "accounts.views.register.guest_key_check", side_effect=RuntimeError("db went away")
    ):
        response = register_details(client, key=key)
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert key.encode() not in response.content
    records = [r for r in caplog.records if getattr(r, "request", None) is not None]
    assert records, "no error was logged"
    cleansed = SafeExceptionReporterFilter().get_post_parameters(records[-1].request)
    assert cleansed.get("guest_key") != key


# Replaying the account stage ---------------------------------------------------------------------


def test_back_button_and_a_copied_cookie_cannot_make_a_second_account(sponsor):
    _, key = issue(sponsor)
    client = Client()
    assert register_details(client, key=key).url == REGISTER_ACCOUNT
    # The attacker copies the session cookie while the guest is at the account stage...
    copied = client.cookies["sessionid"].value
    register_account(client, "ada.guest")
    assert guest_accounts() == 1
    # ...the guest presses Back and sends the form again with other credentials...
    back = register_account(client, "ada.second", "another long passphrase here")
    assert guest_accounts() == 1
    assert not User.objects.filter(username="ada.second").exists()
    assert back.status_code in (HTTPStatus.FOUND, HTTPStatus.OK)
    # ...and a second browser with the copied cookie tries the same.
    thief = Client()
    thief.cookies["sessionid"] = copied
    thief.get(REGISTER_ACCOUNT)
    register_account(thief, "thief.account", "a thief's long passphrase")
    assert not User.objects.filter(username="thief.account").exists()
    assert guest_accounts() == 1
    assert signed_in_user_id(thief) is None
    # A fresh run with the used key is refused, by the same message.
    again = register_details(Client(), key=key)
    assert again.status_code == HTTPStatus.OK
    assert "do not match a guest key that can be used" in again.content.decode()


def test_the_session_key_changes_when_the_key_is_accepted(sponsor):
    _, key = issue(sponsor)
    client = Client()
    client.get(REGISTER)
    planted = client.session.session_key
    client.session.save()
    register_details(client, key=key)
    assert client.cookies["sessionid"].value != planted


def _revoke_over_http(sponsor, guest):
    return signed_in(sponsor).post(reverse("guests:revoke", args=[guest.pk]), {"reason": "r"})


def _new_key_over_http(sponsor, guest):
    token = f"new-key-{guest.pk}-{timezone.now().timestamp()}"
    url = reverse("guests:new_key", args=[guest.pk])
    return signed_in(sponsor).post(url, {"submission": token})


def _end_passes(sponsor, guest):
    yesterday = timezone.localdate() - timedelta(days=1)
    Sponsorship.objects.filter(pk=guest.pk).update(start_date=yesterday, end_date=yesterday)


def _key_expires(sponsor, guest):
    GuestKey.objects.filter(sponsorship=guest).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.parametrize(
    "meanwhile",
    [_revoke_over_http, _new_key_over_http, _end_passes, _key_expires],
    ids=["revoked", "new key", "end date passed", "key expired"],
)
def test_a_key_that_stopped_working_at_the_account_stage_creates_nothing(sponsor, meanwhile):
    guest, key = issue(sponsor)
    client = Client()
    assert register_details(client, key=key).url == REGISTER_ACCOUNT
    meanwhile(sponsor, guest)
    page = client.get(REGISTER_ACCOUNT)
    if page.status_code == HTTPStatus.OK:  # the form may still show; sending it must fail
        response = register_account(client, "late.first")
        assert response.status_code == HTTPStatus.FOUND and response.url == REGISTER
    else:
        assert page.status_code == HTTPStatus.FOUND and page.url == REGISTER
    # The attacker skips the page and posts the form directly.
    client2 = Client()
    guest2, key2 = issue(sponsor, last_name="Second")
    assert register_details(client2, key=key2, last_name="Second").url == REGISTER_ACCOUNT
    meanwhile(sponsor, guest2)
    response = register_account(client2, "late.guest")
    assert response.status_code == HTTPStatus.FOUND and response.url == REGISTER
    assert guest_accounts() == 0
    assert signed_in_user_id(client2) is None
    assert Sponsorship.objects.get(pk=guest2.pk).account_id is None


# Extending ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tamper", ["one day too late", "far future", "garbage", "earlier"])
def test_a_tampered_end_date_does_not_extend(sponsor, tamper):
    guest, _ = issue(sponsor)
    latest = latest_end_date(guest.start_date)
    value = {
        "one day too late": (latest + timedelta(days=1)).isoformat(),
        "far future": "9999-12-31",
        "garbage": "2026-02-30' OR 1=1",
        "earlier": (guest.end_date - timedelta(days=1)).isoformat(),
    }[tamper]
    response = signed_in(sponsor).post(
        reverse("guests:extend", args=[guest.pk]), {"end_date": value}
    )
    assert response.status_code == HTTPStatus.OK
    assert Sponsorship.objects.get(pk=guest.pk).end_date == guest.end_date


def test_the_latest_allowed_end_date_is_the_limit_for_the_account_too(sponsor):
    guest, key = issue(sponsor)
    user = register_guest(Client(), key)
    latest = latest_end_date(guest.start_date)
    client = signed_in(sponsor)
    client.post(reverse("guests:extend", args=[guest.pk]), {"end_date": latest.isoformat()})
    fresh = Sponsorship.objects.get(pk=guest.pk)
    assert fresh.end_date == latest
    user.refresh_from_db()
    assert user.access_ends_at == fresh.access_ends_at
    assert user.access_ends_at - user.access_starts_at <= timedelta(days=366)  # DST-safe
    beyond = client.post(
        reverse("guests:extend", args=[guest.pk]),
        {"end_date": (latest + timedelta(days=1)).isoformat()},
    )
    assert beyond.status_code == HTTPStatus.OK
    assert Sponsorship.objects.get(pk=guest.pk).end_date == latest


@pytest.mark.parametrize("state", ["revoked", "ended, beat not run", "expired by the job"])
def test_ended_access_cannot_be_extended_back_to_life(sponsor, state):
    from guests.services.lifecycle import guests_end_due

    guest, key = issue(sponsor)
    user = register_guest(Client(), key)
    if state == "revoked":
        guest_revoke(sponsorship=guest, actor=sponsor)
    else:
        yesterday = timezone.localdate() - timedelta(days=1)
        Sponsorship.objects.filter(pk=guest.pk).update(start_date=yesterday, end_date=yesterday)
        User.objects.filter(pk=user.pk).update(access_ends_at=timezone.now())
        if state == "expired by the job":
            assert guests_end_due() == 1
    before = Sponsorship.objects.get(pk=guest.pk)
    user.refresh_from_db()
    ends = user.access_ends_at
    response = signed_in(sponsor).post(
        reverse("guests:extend", args=[guest.pk]),
        {"end_date": (timezone.localdate() + timedelta(days=20)).isoformat()},
    )
    assert response.status_code in (HTTPStatus.FOUND, HTTPStatus.OK)
    after = Sponsorship.objects.get(pk=guest.pk)
    assert (after.status, after.end_date) == (before.status, before.end_date)
    user.refresh_from_db()
    assert user.access_ends_at == ends
    assert not user.may_sign_in
    # Nor can a new key be issued for it.
    _new_key_over_http(sponsor, guest)
    assert live_keys(guest).count() == 0


# Hostile input -----------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\x1b[2J",
            "\u202eevil",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "A" * 5000,
            "𝟚𝟛𝟜𝟝-𝟞𝟟𝟠𝟡-AAAA-BBBB-CCCC",
            "２３４５ー６７８９",
            "9999-99-99",
            "",
            "  ",
        ]
    ),
)
FUZZ = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
REQUEST_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "organisation",
    "purpose",
    "start_date",
    "end_date",
    "attest",
    "submission",
]


@pytest.mark.parametrize("field", REQUEST_FIELDS)
@FUZZ
@given(value=hostile_text)
def test_hostile_input_in_the_request_form_never_fails_nor_stores_bad_text(sponsor, field, value):
    client = signed_in(sponsor)
    Sponsorship.objects.all().delete()
    response = client.post(REQUEST, form_data(**{field: value}))
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    for row in Sponsorship.objects.all():
        for text in (row.first_name, row.last_name, row.email, row.organisation, row.purpose):
            assert "\x00" not in text
            assert len(text) <= 1000
    if field not in ("attest",) and ("\x00" in value or len(value) > 1000):
        assert not Sponsorship.objects.exists()


@FUZZ
@given(end=hostile_text, reason=hostile_text, submission=hostile_text)
def test_hostile_input_in_the_action_forms_never_fails(sponsor, end, reason, submission):
    guest = Sponsorship.objects.filter(sponsor=sponsor).first() or issue(sponsor)[0]
    client = signed_in(sponsor)
    extend = client.post(reverse("guests:extend", args=[guest.pk]), {"end_date": end})
    assert extend.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    new_key = client.post(reverse("guests:new_key", args=[guest.pk]), {"submission": submission})
    assert new_key.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert live_keys(guest).count() <= 1
    if "\x00" in reason or len(reason) > 500:
        revoke = client.post(reverse("guests:revoke", args=[guest.pk]), {"reason": reason})
        assert revoke.status_code == HTTPStatus.OK
        assert Sponsorship.objects.get(pk=guest.pk).status == Sponsorship.Status.KEY_ISSUED


@FUZZ
@given(key=hostile_text, last_name=hostile_text)
def test_hostile_keys_at_registration_never_fail_nor_create_anything(sponsor, key, last_name):
    RegistrationAttempt.objects.all().delete()
    response = register_details(Client(raise_request_exception=False), key=key, last_name=last_name)
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    assert guest_accounts() == 0


@FUZZ
@given(username=hostile_text, password=hostile_text)
def test_hostile_input_at_the_guest_account_stage_never_fails(sponsor, username, password):
    RegistrationAttempt.objects.all().delete()
    _, key = issue(sponsor)
    client = Client(raise_request_exception=False)
    assert register_details(client, key=key).url == REGISTER_ACCOUNT
    response = client.post(
        REGISTER_ACCOUNT, {"username": username, "password1": password, "password2": password}
    )
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
    for user in User.objects.filter(kind=User.Kind.GUEST):
        assert "\x00" not in user.username
        assert re.fullmatch(r"[a-z0-9._-]{3,30}", user.username)


# Ending sessions ---------------------------------------------------------------------------------


def test_a_revoked_guest_is_signed_out_everywhere_on_the_next_request(sponsor):
    guest, key = issue(sponsor)
    user = register_guest(Client(), key)
    User.objects.filter(pk=user.pk).update(is_staff=True)  # were the guest given the console
    ChannelFactory(user=user)
    portal, console = signed_in(user), signed_in(user)
    assert portal.get(PREFERENCES).status_code == HTTPStatus.OK
    assert console.get(ADMIN).status_code == HTTPStatus.OK
    assert _revoke_over_http(sponsor, guest).status_code == HTTPStatus.FOUND
    assert is_signed_out(portal.get(PREFERENCES))
    assert console.get(ADMIN).status_code == HTTPStatus.FOUND
    assert console.get(reverse("admin:accounts_user_changelist")).status_code == HTTPStatus.FOUND
    assert "_auth_user_id" not in post_login(Client(), user.username, GUEST_PASSWORD).client.session


def test_the_end_date_closes_sessions_and_sign_in_to_the_second_without_the_job(
    sponsor, time_machine
):
    guest, key = issue(sponsor, end_date=timezone.localdate())
    user = register_guest(Client(), key)
    ChannelFactory(user=user)
    user.refresh_from_db()
    # Signed in shortly before the end, so the session's own lifetime is not what ends it.
    time_machine.move_to(user.access_ends_at - timedelta(minutes=5), tick=False)
    client = signed_in(user)
    time_machine.move_to(user.access_ends_at - timedelta(seconds=1), tick=False)
    assert client.get(PREFERENCES).status_code == HTTPStatus.OK
    time_machine.move_to(user.access_ends_at, tick=False)
    assert is_signed_out(client.get(PREFERENCES))
    fresh = Client()
    post_login(fresh, user.username, GUEST_PASSWORD)
    assert signed_in_user_id(fresh) is None
    assert Sponsorship.objects.get(pk=guest.pk).status == Sponsorship.Status.REGISTERED


def test_a_guest_who_starts_later_is_not_signed_in_before_the_first_day(sponsor):
    tomorrow = timezone.localdate() + timedelta(days=1)
    _, key = issue(sponsor, start_date=tomorrow, end_date=tomorrow + timedelta(days=3))
    client = Client()
    register_details(client, key=key)
    response = register_account(client, "early.guest")
    assert response.status_code == HTTPStatus.OK
    assert signed_in_user_id(client) is None
    assert client.get(PREFERENCES).status_code == HTTPStatus.FOUND
    post_login(client, "early.guest", GUEST_PASSWORD)
    assert signed_in_user_id(client) is None


def test_nothing_brings_an_ended_session_back(sponsor):
    guest, key = issue(sponsor)
    user = register_guest(Client(), key)
    ChannelFactory(user=user)
    ended = signed_in(user)
    copied = ended.cookies["sessionid"].value
    account_sessions_end(user=user, reason="test")
    # The same password set again (a new salt) and the generation unchanged otherwise...
    password_set(user=User.objects.get(pk=user.pk), raw_password=GUEST_PASSWORD)
    thief = Client()
    thief.cookies["sessionid"] = copied
    assert is_signed_out(thief.get(PREFERENCES))
    # ...nor a revocation followed by a service-desk reactivation of the account.
    fresh = signed_in(User.objects.get(pk=user.pk))
    copied = fresh.cookies["sessionid"].value
    guest_revoke(sponsorship=guest, actor=sponsor)
    User.objects.filter(pk=user.pk).update(status=User.Status.ACTIVE)
    thief = Client()
    thief.cookies["sessionid"] = copied
    assert is_signed_out(thief.get(PREFERENCES))
    assert not User.objects.get(pk=user.pk).may_sign_in  # access ended at the revocation


# Redirects ---------------------------------------------------------------------------------------

OFF_SITE = ["//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_on_register_with_a_guest_key_stays_on_the_site(sponsor, target):
    _, key = issue(sponsor)
    client = Client()
    client.get(REGISTER, {"next": target})
    checked = register_details(client, key=key, next=target)
    assert checked.url == REGISTER_ACCOUNT
    response = register_account(client, "ada.guest")
    chain = [response.url] if response.status_code == HTTPStatus.FOUND else []
    followed = client.get(response.url, follow=True) if chain else response
    chain += [url for url, _ in getattr(followed, "redirect_chain", [])]
    for url in chain:
        assert url.startswith("/") and not url.startswith("//") and "evil" not in url, chain
    # Once signed in, /register/?next= is no open redirect either.
    user = User.objects.get(username="ada.guest")
    ChannelFactory(user=user)
    back = signed_in(user).get(REGISTER, {"next": target})
    assert back.status_code == HTTPStatus.FOUND
    assert "evil" not in back.url and not back.url.startswith("//")


# Races (PostgreSQL) ------------------------------------------------------------------------------


@contextmanager
def held_at(target: str, parties: int):
    """Make ``parties`` threads that call ``target`` meet after it returns, widening the
    window a real race has (the race itself is the code's)."""
    import importlib

    module, name = target.rsplit(".", 1)
    original = getattr(importlib.import_module(module), name)
    barrier = threading.Barrier(parties)

    def held(*args, **kwargs):
        result = original(*args, **kwargs)
        with suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        return result

    with mock.patch(target, held):
        yield


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_parallel_redemptions_of_one_key_make_one_account():
    sponsor = make_sponsor()
    guest, key = issue(sponsor)
    clients = []
    for i in range(6):
        client = Client(REMOTE_ADDR=f"192.0.2.{i + 1}")
        assert register_details(client, key=key).url == REGISTER_ACCOUNT
        clients.append(client)
    responses = in_threads(lambda i: register_account(clients[i], f"racer{i}", GUEST_PASSWORD), 6)
    assert all(r.status_code < HTTPStatus.INTERNAL_SERVER_ERROR for r in responses)
    assert guest_accounts() == 1
    assert GuestKey.objects.filter(sponsorship=guest, used_at__isnull=False).count() == 1
    assert Sponsorship.objects.get(pk=guest.pk).account.username.startswith("racer")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_parallel_new_key_posts_leave_at_most_one_live_key():
    sponsor = make_sponsor()
    guest, _ = issue(sponsor)
    clients = [signed_in(sponsor) for _ in range(6)]
    url = reverse("guests:new_key", args=[guest.pk])
    responses = in_threads(lambda i: clients[i].post(url, {"submission": f"race-{i}"}), 6)
    assert all(r.status_code == HTTPStatus.OK for r in responses)
    assert live_keys(guest).count() == 1
    shown = [re.search(rb'id="guest-key">([^<]+)<', r.content).group(1).decode() for r in responses]
    working = [k for k in shown if register_details(Client(), key=k).status_code == 302]
    assert len(working) == 1
    # The same form sent six times at once issues one key.
    responses = in_threads(lambda i: clients[i].post(url, {"submission": "same-token"}), 6)
    assert all(r.status_code < HTTPStatus.INTERNAL_SERVER_ERROR for r in responses)
    assert GuestKey.objects.filter(submission="same-token").count() == 1
    assert live_keys(guest).count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_same_request_form_sent_in_parallel_records_one_guest():
    sponsor = make_sponsor()
    clients = [signed_in(sponsor) for _ in range(5)]
    data = form_data(submission="double-click")
    responses = in_threads(lambda i: clients[i].post(REQUEST, data), 5)
    assert all(r.status_code < HTTPStatus.INTERNAL_SERVER_ERROR for r in responses)
    assert Sponsorship.objects.count() == 1
    assert GuestKey.objects.count() == 1
    assert sum(b'id="guest-key"' in r.content for r in responses) == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_cannot_exceed_the_ip_budget():
    sponsor = make_sponsor()
    issue(sponsor)
    limit = accounts_settings.REGISTRATION_IP_LIMIT
    for _ in range(limit - 1):
        RegistrationAttempt.objects.create(ip="127.0.0.1", matched=False)
    clients = [Client() for _ in range(8)]
    with held_at("guests.services.redemption.registration_attempt_open", 8):
        responses = in_threads(lambda i: register_details(clients[i], key=wrong_key(i)), 8)
    looked_up = sum(r.status_code == HTTPStatus.OK for r in responses)
    assert RegistrationAttempt.objects.filter(ip="127.0.0.1", matched=False).count() <= limit
    assert looked_up <= 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_revocation_racing_a_redemption_is_never_lost():
    """The sponsor revokes at the moment the guest presses "Create my account": either the
    account is never made, or it is made and then disabled; the revocation always holds."""
    from django.test import RequestFactory

    from guests.services.redemption import GuestKeyRefused, guest_key_redeem

    sponsor = make_sponsor()
    guest, _ = issue(sponsor)
    key_id = GuestKey.objects.get(sponsorship=guest).pk
    request = RequestFactory().post("/register/account/")
    outcomes = {}

    def work(i):
        try:
            if i == 0:
                guest_key_redeem(
                    key_id=key_id, username="racing.guest", password=GUEST_PASSWORD,
                    request=request,
                )  # fmt: skip
                outcomes["redeem"] = "created"
            else:
                outcomes["revoke"] = guest_revoke(sponsorship=guest, actor=sponsor)
        except GuestKeyRefused:
            outcomes["redeem"] = "refused"
        except Exception as exc:  # a deadlock or any database error
            outcomes["error" + str(i)] = repr(exc)

    # The redemption has consumed the key (its row locked) and the revocation has updated the
    # sponsorship (its row locked) when each goes on to the other's row.
    barrier = threading.Barrier(2)

    def meet():
        with suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)

    from portal.single_use import single_use_consume

    def consume_then_meet(*args, **kwargs):
        done = single_use_consume(*args, **kwargs)
        meet()
        return done

    real_keys = GuestKey.objects

    class KeysAfterMeeting:
        @staticmethod
        def filter(*args, **kwargs):
            meet()
            return real_keys.filter(*args, **kwargs)

    with (
        mock.patch("guests.services.redemption.single_use_consume", consume_then_meet),
        mock.patch("guests.services.lifecycle.GuestKey", mock.Mock(objects=KeysAfterMeeting)),
    ):
        in_threads(work, 2)
    assert not [k for k in outcomes if k.startswith("error")], outcomes
    assert Sponsorship.objects.get(pk=guest.pk).status == Sponsorship.Status.REVOKED
    account = User.objects.filter(username="racing.guest").first()
    assert account is None or not account.may_sign_in
