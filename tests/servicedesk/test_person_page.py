"""Finding a person and their page, as a desk agent sees them.

A desk agent is staff in the "Service desk" group (the admin asks for no second factor in
these tests: ``TWOFACTOR_REQUIRED_FOR_STAFF`` is off). They find a person by any of the keys
the desk is given on the phone, filter by the desk's standings, read "why can't they sign
in?" first with the action that fixes it, and never reach the raw forms nor a secret.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Person, User
from safecode.models import Channel, Purpose, SafeCode
from safecode.services import safecode_issue
from servicedesk.admin import StandingFilter
from tests.factories import (
    PHONE,
    SAFECODE_EMAIL,
    ChannelFactory,
    PersonFactory,
    UserFactory,
    lock,
)
from tests.twofactor.conftest import MOBILE_NUMBER, make_device
from twofactor.models import PhoneDevice, RememberedBrowser
from twofactor.services import browser_remember, passcode_send

pytestmark = pytest.mark.django_db

FIND = reverse("admin:servicedesk_deskaccount_changelist")


@pytest.fixture
def agent():
    account = UserFactory(is_staff=True, username="desk.agent", person=None)
    account.groups.add(Group.objects.get(name="Service desk"))
    return account


@pytest.fixture
def maya():
    """Maya Okafor: Harvard ID 31415926, a SafeCode phone and a personal email."""
    account = UserFactory(
        username="mokafor",
        person=PersonFactory(
            huid="31415926",
            first_name="Maya",
            last_name="Okafor",
            email="maya.okafor@hms.harvard.edu",
        ),
    )
    ChannelFactory(user=account)
    ChannelFactory(user=account, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)
    return account


@pytest.fixture
def someone_else():
    # Named outright: the factory's cycling names could otherwise give this account Maya's.
    account = UserFactory(
        username="zz.other", person=PersonFactory(first_name="Zed", last_name="Other")
    )
    ChannelFactory(user=account, address="+16175550987")
    return account


def page(account) -> str:
    return reverse("admin:servicedesk_deskaccount_change", args=[account.pk])


def found(client, text: str) -> set[str]:
    response = client.get(FIND, {"q": text})
    assert response.status_code == HTTPStatus.OK
    return {account.username for account in response.context["cl"].result_list}


@pytest.mark.parametrize(
    "typed",
    [
        "mokafor",
        "MOKAFOR",
        "31415926",
        "Maya Okafor",
        "Okafor",
        "Okafor, Maya",
        "maya.okafor@hms.harvard.edu",
        "Maya.Okafor@HMS.harvard.edu",
        SAFECODE_EMAIL,
        "(617) 555-0123",
        "617.555.0123",
        "+1 617 555 0123",
        "6175550123",
    ],
)
def test_the_desk_finds_a_person_by_what_the_caller_says(desk, maya, someone_else, typed):
    assert found(desk, typed) == {"mokafor"}


def test_a_phone_number_finds_a_two_factor_phone_too(desk, someone_else):
    account = UserFactory(username="phone.only")
    make_device(account, name="Work phone", number=MOBILE_NUMBER)

    assert found(desk, "(617) 555-0142") == {"phone.only"}


def test_a_search_matching_nobody_lists_nobody(desk, maya):
    assert found(desk, "(617) 555-0000") == set()
    assert found(desk, "nobody@example.org") == set()


@pytest.fixture
def standings(settings):
    """One account per standing, and one in good standing."""
    good = UserFactory(username="good")
    make_device(good, name="Phone")
    ChannelFactory(user=good)
    accounts = {"good": good}

    def make(name, **fields):
        account = UserFactory(username=name, **fields)
        ChannelFactory(user=account)
        make_device(account, name="Phone")
        accounts[name] = account
        return account

    lock(make("locked"))
    make("departmental", kind=User.Kind.DEPARTMENTAL)
    make("guest", kind=User.Kind.GUEST, person=None)
    make("pending", kind=User.Kind.AFFILIATE, status=User.Status.PENDING_APPROVAL, person=None)
    make("expired", password_changed_at=timezone.now() - timedelta(days=400))
    make("must_change", must_change_password=True)
    make("deactivated", status=User.Status.DEACTIVATED)
    make("inactive", is_active=False)
    no_safecode = UserFactory(username="no_safecode")
    make_device(no_safecode, name="Phone")
    ChannelFactory(user=no_safecode, status=Channel.Status.PENDING)
    no_device = UserFactory(username="no_device")
    ChannelFactory(user=no_device)
    return accounts


EXPECTED = {
    "locked": {"locked"},
    "departmental": {"departmental"},
    "guest": {"guest"},
    "pending": {"pending"},
    "expired": {"expired", "must_change"},
    "no_safecode": {"no_safecode", "desk.agent"},
    "no_device": {"no_device", "desk.agent"},
    "deactivated": {"deactivated", "inactive"},
}


def test_every_standing_of_the_filter_is_tested():
    assert {value for value, _ in StandingFilter.lookups(None, None, None)} == set(EXPECTED)


@pytest.mark.parametrize("standing", sorted(EXPECTED))
def test_each_standing_lists_exactly_its_accounts(desk, standings, standing):
    response = desk.get(FIND, {"standing": standing})

    assert response.status_code == HTTPStatus.OK
    assert {a.username for a in response.context["cl"].result_list} == EXPECTED[standing]


def test_a_standing_combines_with_the_search(desk, standings):
    response = desk.get(FIND, {"standing": "locked", "q": "good"})

    assert list(response.context["cl"].result_list) == []


def test_the_page_answers_why_they_cannot_sign_in_first_with_the_fix_beside_it(desk):
    account = UserFactory(username="stuck", kind=User.Kind.DEPARTMENTAL)
    lock(account)

    response = desk.get(page(account))

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    signin = body.index('id="panel-signin"')
    sections = [body.index(f'id="panel-{name}"') for name in ("account", "safecode", "activity")]
    assert signin < min(sections)
    first = body[signin : body.index("</section>", signin)]
    assert "Why can&#x27;t they sign in?" in first or "Why can't they sign in?" in first
    assert "Locked" in first
    assert "cannot be unlocked by self-service" in first
    assert "No SafeCode" in first
    assert 'id="act-unlock"' in first
    assert reverse("admin:servicedesk_act", args=[account.pk, "unlock"]) in first


def test_an_account_in_good_standing_is_said_to_be_so(desk, maya):
    body = desk.get(page(maya)).content.decode()

    assert "Nothing stops this account from signing in." in body


@pytest.mark.parametrize(
    "path",
    [
        "admin:accounts_user_changelist",
        "admin:accounts_person_changelist",
        "admin:auth_group_changelist",
        "admin:auth_group_add",
    ],
)
def test_the_raw_lists_and_forms_are_closed_to_the_desk(desk, path):
    assert desk.get(reverse(path)).status_code == HTTPStatus.FORBIDDEN


def test_the_raw_account_and_person_forms_of_a_person_are_closed_to_the_desk(desk, maya):
    user_form = reverse("admin:accounts_user_change", args=[maya.pk])
    person_form = reverse("admin:accounts_person_change", args=[maya.person_id])

    assert desk.get(user_form).status_code == HTTPStatus.FORBIDDEN
    assert desk.get(person_form).status_code == HTTPStatus.FORBIDDEN
    response = desk.post(user_form, {"username": "renamed", "is_superuser": "on"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    maya.refresh_from_db()
    assert maya.username == "mokafor" and not maya.is_superuser
    password = reverse("admin:accounts_user_password_change", args=[maya.pk])
    assert desk.get(password).status_code == HTTPStatus.FORBIDDEN
    response = desk.post(password, {"password1": "x" * 20, "password2": "x" * 20, "reason": "x"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert User.objects.get(pk=maya.pk).password == maya.password


@pytest.mark.parametrize(
    "path",
    [
        "/admin/safecode/",
        "/admin/safecode/channel/",
        "/admin/safecode/safecode/",
        "/admin/twofactor/device/",
        "/admin/twofactor/phonedevice/",
        "/admin/otp_totp/totpdevice/",
        "/admin/servicedesk/deskaccount/1/delete/",
        "/admin/servicedesk/deskaccount/add/",
    ],
)
def test_no_raw_channel_code_or_device_form_exists_for_the_desk(desk, maya, path):
    """These models have no admin at all for anyone (404), or the desk may not use it (403);
    either way, no raw form."""
    response = desk.get(path)
    assert response.status_code in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND), path


def test_the_desk_cannot_change_groups_nor_its_own(desk, agent):
    desk_group = Group.objects.get(name="Service desk")
    admins = Group.objects.get(name="Identity administrators")
    change = reverse("admin:auth_group_change", args=[desk_group.pk])

    assert desk.get(change).status_code == HTTPStatus.FORBIDDEN
    response = desk.post(change, {"name": "Service desk", "permissions": []})
    assert response.status_code == HTTPStatus.FORBIDDEN
    response = desk.post(
        reverse("admin:accounts_user_change", args=[agent.pk]),
        {"username": agent.username, "groups": [desk_group.pk, admins.pk]},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert list(agent.groups.all()) == [desk_group]
    assert desk_group.permissions.count() > 0


def test_no_secret_appears_on_the_persons_page(desk, maya):
    phone = make_device(maya, name="Maya's phone", number=MOBILE_NUMBER)
    passcode_send(device=phone, method="sms")
    cookie = browser_remember(user=maya, user_agent="Mozilla/5.0 (Macintosh) Safari/605.1.15")
    channel = Channel.objects.get(user=maya, kind=Channel.Kind.PHONE)
    safecode_issue(user=maya, purpose=Purpose.UNLOCK, channel=channel)
    maya.refresh_from_db()

    body = desk.get(page(maya)).content.decode()

    person = Person.objects.get(pk=maya.person_id)
    totp = TOTPDevice.objects.get(pk=phone.totp_id)
    secrets = {
        "password hash": maya.password,
        "password hash body": maya.password.split("$")[-1],
        "SSN hash": person.ssn_hash,
        "SafeCode hash": SafeCode.objects.get(user=maya).code_hash,
        "TOTP key": totp.key,
        "phone passcode hash": PhoneDevice.objects.get(pk=phone.phone_id).code_hash,
        "remembered browser secret": cookie.partition(":")[2],
        "remembered browser hash": RememberedBrowser.objects.get(user=maya).secret_hash,
        "SafeCode phone": PHONE,
        "SafeCode email": SAFECODE_EMAIL,
        "two-factor number": MOBILE_NUMBER,
        "date of birth": person.date_of_birth.isoformat(),
    }
    for what, secret in secrets.items():
        assert secret and secret not in body, what
    assert "argon2" not in body and "pbkdf2" not in body
    # What the desk may see is there: the masked contacts and the devices.
    assert "•••-•••-0123" in body and "m•••@example.org" in body and "Maya&#x27;s phone" in body
