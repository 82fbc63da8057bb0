from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Address, DirectoryChangeRequest
from accounts.services.profile import directory_changes_confirm
from safecode.models import Channel
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import prove_it_is_you

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = reverse("accounts:address")
HR_CHANGE = reverse("accounts:directory_change")
EMAIL_CHANGE = reverse("accounts:email_change")


def with_safecode(user):
    """Give the account a verified SafeCode channel, so that no prompt stands in the way."""
    Channel.objects.create(
        user=user,
        kind="email",
        address=f"{user.username}@example.org",
        status="verified",
        verified_at=timezone.now(),
    )
    return user


@pytest.fixture
def user(client):
    user = with_safecode(UserFactory())
    client.force_login(user)
    return user


def prove(client, outbox) -> None:
    """Confirm it is you (password, then a code to the SafeCode email) before the change."""
    prove_it_is_you(
        client,
        DEFAULT_PASSWORD,
        read_code=lambda: re.search(r"\b(\d{6})\b", outbox[-1].body).group(1),
    )
    outbox.clear()


def test_preferences_need_sign_in(client):
    for url in (reverse("accounts:preferences"), ADDRESS):
        response = client.get(url)
        assert response.status_code == HTTPStatus.FOUND
        assert response.url.startswith(reverse("accounts:login"))


def test_hr_fields_are_read_only_and_home_address_can_be_edited(client, user):
    page = client.get(ADDRESS)
    assert b"from HR" in page.content
    assert user.person.department.encode() in page.content
    edit = client.get(reverse("accounts:address_edit", args=["home"]))
    assert b'name="street"' in edit.content
    saved = client.post(
        reverse("accounts:address_edit", args=["home"]),
        {
            "street": "1 Elm St",
            "city": "Boston",
            "state": "MA",
            "postal_code": "02115",
            "country": "United States",
        },
        follow=True,
    )
    assert b"Home address saved" in saved.content
    assert b"1 Elm St" in saved.content
    assert Address.objects.get(user=user, kind="home").city == "Boston"


def test_hr_change_is_pending_until_the_feed_carries_it(client, user):
    client.post(HR_CHANGE, {"field": "office_phone", "value": "617-555-0100"})
    page = client.get(ADDRESS)
    assert b"pending HR update" in page.content
    person = user.person
    person.office_phone = "617-555-0100"
    person.save()
    assert directory_changes_confirm(person=person) == 1
    assert b"pending HR update" not in client.get(ADDRESS).content
    assert DirectoryChangeRequest.objects.get().confirmed_at is not None


def test_email_change_takes_effect_only_when_the_link_is_followed(client, user, outbox):
    old = user.email
    prove(client, outbox)
    client.post(EMAIL_CHANGE, {"email": "me@example.org"})
    user.refresh_from_db()
    assert user.email == old
    token = re.search(r"/preferences/email/([^/\s]+)/", outbox[-1].body).group(1)
    assert outbox[-1].recipient == "me@example.org"
    response = client.get(reverse("accounts:email_confirm", args=[token]), follow=True)
    assert b"Your contact email is now me@example.org" in response.content
    user.refresh_from_db()
    assert user.email == "me@example.org"
    assert any(m.recipient == old and "changed" in m.subject for m in outbox)
    again = client.get(reverse("accounts:email_confirm", args=[token]))
    assert again.status_code == HTTPStatus.NOT_FOUND


def test_email_link_of_another_account_does_nothing(client, user, outbox):
    prove(client, outbox)
    client.post(EMAIL_CHANGE, {"email": "me@example.org"})
    token = re.search(r"/preferences/email/([^/\s]+)/", outbox[-1].body).group(1)
    other = with_safecode(UserFactory())
    client.force_login(other)
    assert (
        client.get(reverse("accounts:email_confirm", args=[token])).status_code
        == HTTPStatus.NOT_FOUND
    )
    other.refresh_from_db()
    assert other.email != "me@example.org"
    client.force_login(user)
    client.get(reverse("accounts:email_confirm", args=[token]))
    user.refresh_from_db()
    assert user.email == "me@example.org"


def test_invalid_address_input_changes_nothing(client, user):
    response = client.post(reverse("accounts:address_edit", args=["home"]), {"street": "x" * 500})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Address.objects.exists()


def test_help_page_is_public_and_names_contacts(client):
    page = client.get(reverse("accounts:help"))
    assert page.status_code == HTTPStatus.OK
    assert b"first eight digits" in page.content
    assert b"617-432-2000" in page.content
    assert b"HarvardKey" in page.content


def test_the_hr_feed_confirms_a_requested_change(client, user, tmp_path):
    from django.core.management import call_command

    client.post(HR_CHANGE, {"field": "department", "value": "Systems Biology"})
    person = user.person
    header = "huid,first_name,last_name,affiliation,department\n"
    feed = tmp_path / "feed.csv"
    feed.write_text(
        header + f"{person.huid},{person.first_name},{person.last_name},staff,Genetics\n"
    )
    call_command("import_people", str(feed))
    assert b"pending HR update" in client.get(ADDRESS).content
    feed.write_text(
        header + f"{person.huid},{person.first_name},{person.last_name},staff,Systems Biology\n"
    )
    call_command("import_people", str(feed))
    assert b"pending HR update" not in client.get(ADDRESS).content
    assert DirectoryChangeRequest.objects.get().confirmed_at is not None
