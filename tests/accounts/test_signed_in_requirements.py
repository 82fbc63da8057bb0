"""What a signed-in person must do first (accounts.requirements): the SafeCode prompt today, in
order with any requirement another app adds, and what stays reachable until it is done."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import Address, DirectoryChangeRequest
from accounts.requirements import SignedInRequirement
from safecode.app_settings import app_settings as safecode_settings
from safecode.models import Channel
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory
from tests.helpers import post_login

pytestmark = pytest.mark.django_db

HOME = reverse("home")
PROMPT = reverse("safecode:prompt")
ENROLL = reverse("accounts:whitepages")  # stands in for a later app's enrollment page
ENROLLED_KEY = "tests:enrolled"


class FakeEnrollment(SignedInRequirement):
    """A second step, as a two-factor app would add: met once the session says so."""

    name = "fake-enrollment"
    url_name = "accounts:whitepages"

    def is_met(self, request) -> bool:
        return bool(request.session.get(ENROLLED_KEY))


SAFECODE_THEN_ENROLLMENT = override_settings(
    ACCOUNTS_SIGNED_IN_REQUIREMENTS=[
        "safecode.requirements.SafeCodeRegistration",
        "tests.accounts.test_signed_in_requirements.FakeEnrollment",
    ]
)

# Pages of the account a pending requirement keeps closed, and forms posted to them directly.
ACCOUNT_PAGES = [
    reverse("accounts:preferences"),
    reverse("accounts:address"),
    reverse("accounts:address_edit", args=["home"]),
    reverse("accounts:email_change"),
    reverse("accounts:directory_change"),
    reverse("accounts:whitepages"),
    reverse("accounts:password_change"),
    reverse("accounts:password_change_new"),
]
# Reachable whatever is pending.
ALWAYS_REACHABLE = [
    reverse("accounts:help"),
    reverse("accounts:recent_proof"),
    reverse("accounts:recent_proof_code"),
    reverse("healthz"),
    "/static/css/portal.css",
    "/captcha/image/0123456789abcdef/",
    "/dev/outbox/",
]


def prompt_for(path: str) -> str:
    return f"{PROMPT}?next={quote(path, safe='')}"


def no_skips_left(user) -> None:
    user.safecode_skips = safecode_settings.MAX_SKIPS
    user.save(update_fields=["safecode_skips"])


def enroll(client) -> None:
    session = client.session
    session[ENROLLED_KEY] = True
    session.save()


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


# SafeCode, the one requirement in force ---------------------------------------------------


def test_the_safecode_prompt_comes_right_after_signing_in(client, user):
    signed_in = post_login(client, user.username, DEFAULT_PASSWORD)
    assert signed_in.status_code == HTTPStatus.FOUND

    response = client.get(signed_in.url)

    assert response.status_code == HTTPStatus.FOUND
    assert response.url == prompt_for(signed_in.url)
    assert b"Register for SafeCode" in client.get(response.url).content


def test_the_prompt_remembers_where_the_person_was_going(signed_in):
    response = signed_in.get(reverse("accounts:preferences"))

    assert response.url == prompt_for(reverse("accounts:preferences"))


def test_a_skip_lets_the_person_go_on_for_this_sign_in(signed_in, user):
    skipped = signed_in.post(PROMPT, {"next": reverse("accounts:preferences")})

    assert skipped.url == reverse("accounts:preferences")
    for path in (HOME, reverse("accounts:preferences"), reverse("accounts:address")):
        assert signed_in.get(path).status_code == HTTPStatus.OK
    signed_in.logout()
    signed_in.force_login(user)
    assert signed_in.get(HOME).url == prompt_for(HOME)


def test_a_verified_channel_meets_the_requirement(signed_in, user):
    ChannelFactory(user=user)

    assert signed_in.get(HOME).status_code == HTTPStatus.OK


def test_a_channel_waiting_for_its_code_does_not(signed_in, user):
    ChannelFactory(user=user, status=Channel.Status.PENDING)

    assert signed_in.get(HOME).url == prompt_for(HOME)


@pytest.mark.parametrize("path", ACCOUNT_PAGES)
def test_with_no_skips_left_every_account_page_leads_to_the_prompt(signed_in, user, path):
    no_skips_left(user)

    response = signed_in.get(path)

    assert response.status_code == HTTPStatus.FOUND
    assert response.url == prompt_for(path)


@pytest.mark.parametrize("path", ALWAYS_REACHABLE)
def test_with_no_skips_left_help_and_the_exempt_paths_stay_open(signed_in, user, path):
    no_skips_left(user)

    response = signed_in.get(path)

    assert not response.get("Location", "").startswith(PROMPT)


def test_with_no_skips_left_safecode_help_and_sign_out_are_reachable(signed_in, user):
    no_skips_left(user)

    assert signed_in.get(PROMPT).status_code == HTTPStatus.OK
    assert signed_in.get(reverse("safecode:manage")).status_code == HTTPStatus.OK
    help_page = signed_in.get(reverse("accounts:help"))
    assert help_page.status_code == HTTPStatus.OK
    assert b"617-432-2000" in help_page.content
    assert signed_in.post(PROMPT, {"next": HOME}).url == PROMPT, "no skip is left to take"

    signed_out = signed_in.post(reverse("accounts:logout"))
    assert signed_out.status_code == HTTPStatus.FOUND
    assert "_auth_user_id" not in signed_in.session


def test_typing_account_addresses_while_the_prompt_is_pending_changes_nothing(signed_in, user):
    """Someone who skips the prompt's page and posts the account's forms by hand."""
    no_skips_left(user)
    attempts = [
        (reverse("accounts:address_edit", args=["home"]), {"street": "1 Elm St"}),
        (reverse("accounts:address_edit", kwargs={"kind": "home"}), {"street": "1 Elm St"}),
        (reverse("accounts:directory_change"), {"field": "department", "value": "Genetics"}),
        (reverse("accounts:email_change"), {"email": "thief@example.net"}),
        (reverse("accounts:password_change"), {"current_password": DEFAULT_PASSWORD}),
        (reverse("accounts:password_change_new"), {"new_password1": "x", "new_password2": "x"}),
    ]

    for path, data in attempts:
        response = signed_in.post(path, data)
        assert response.status_code == HTTPStatus.FOUND, path
        assert response.url.startswith(PROMPT), path

    assert not Address.objects.exists()
    assert not DirectoryChangeRequest.objects.exists()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_staff_reach_the_admin_and_nobody_else_does(client):
    person = UserFactory()
    no_skips_left(person)
    client.force_login(person)
    assert client.get("/admin/").url.startswith(PROMPT)

    staff = UserFactory(is_staff=True)
    no_skips_left(staff)
    client.force_login(staff)
    assert not client.get("/admin/").get("Location", "").startswith(PROMPT)


def test_signed_out_visitors_meet_no_requirement(client):
    assert client.get(HOME).status_code == HTTPStatus.OK


# A second requirement, added through the setting ------------------------------------------


@SAFECODE_THEN_ENROLLMENT
def test_the_second_requirement_is_asked_for_only_once_the_first_is_met(signed_in, user):
    assert signed_in.get(HOME).url == prompt_for(HOME)

    ChannelFactory(user=user)
    assert signed_in.get(HOME).url == f"{ENROLL}?next={quote(HOME, safe='')}"
    assert signed_in.get(reverse("accounts:preferences")).url.startswith(ENROLL)

    enroll(signed_in)
    assert signed_in.get(HOME).status_code == HTTPStatus.OK
    assert signed_in.get(reverse("accounts:preferences")).status_code == HTTPStatus.OK


@SAFECODE_THEN_ENROLLMENT
def test_a_skipped_prompt_counts_as_met_and_the_second_is_asked_for(signed_in):
    signed_in.post(PROMPT, {"next": HOME})

    assert signed_in.get(HOME).url.startswith(ENROLL)


@SAFECODE_THEN_ENROLLMENT
def test_the_second_requirements_pages_are_no_way_around_the_first(signed_in, user):
    no_skips_left(user)

    response = signed_in.get(ENROLL)

    assert response.status_code == HTTPStatus.FOUND
    assert response.url == prompt_for(ENROLL)


@SAFECODE_THEN_ENROLLMENT
def test_while_the_second_is_pending_the_first_ones_pages_stay_open(signed_in, user):
    ChannelFactory(user=user)

    assert signed_in.get(ENROLL).status_code == HTTPStatus.OK
    assert signed_in.get(reverse("safecode:manage")).status_code == HTTPStatus.OK
    assert signed_in.get(reverse("accounts:help")).status_code == HTTPStatus.OK
    assert signed_in.post(reverse("accounts:logout")).status_code == HTTPStatus.FOUND


@override_settings(ACCOUNTS_SIGNED_IN_REQUIREMENTS=[])
def test_with_no_requirement_in_force_every_page_is_open(signed_in):
    assert signed_in.get(HOME).status_code == HTTPStatus.OK
    assert signed_in.get(reverse("accounts:preferences")).status_code == HTTPStatus.OK
