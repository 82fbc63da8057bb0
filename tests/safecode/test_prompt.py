"""The "Register for SafeCode" prompt after sign-in, and its five skips."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from safecode.errors import SafeCodeSkipsExhausted
from safecode.services import safecode_skip
from tests.safecode.conftest import make_channel, make_user

PROMPT = reverse("safecode:prompt")
HOME = reverse("home")


def sign_in_again(client, user):
    """A new sign-in, as after signing out and back in."""
    client.logout()
    client.force_login(user)


def skip(client, next_url=HOME):
    return client.post(PROMPT, {"next": next_url})


def test_an_account_without_safecode_is_sent_to_the_prompt(signed_in):
    response = signed_in.get(HOME)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{PROMPT}?next=%2F"


def test_the_prompt_offers_register_or_skip_and_counts_skips_left(signed_in):
    page = signed_in.get(f"{PROMPT}?next=/").content.decode()

    assert "Register for SafeCode" in page
    assert reverse("safecode:manage") in page
    assert "Skip for now" in page
    assert "5 skips left" in page


def test_after_a_skip_the_person_goes_on_until_the_next_sign_in(signed_in, user):
    response = skip(signed_in, "/whitepages/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/whitepages/"
    assert signed_in.get(HOME).status_code == HTTPStatus.OK
    user.refresh_from_db()
    assert user.safecode_skips == 1

    sign_in_again(signed_in, user)
    assert signed_in.get(HOME)["Location"].startswith(PROMPT)
    assert "4 skips left" in signed_in.get(PROMPT).content.decode()


def test_skip_never_redirects_off_site(signed_in):
    assert skip(signed_in, "https://evil.example/")["Location"] == HOME
    assert skip(signed_in, "//evil.example/")["Location"] == HOME


def test_five_skips_then_no_sixth(signed_in, user):
    for _ in range(5):
        assert skip(signed_in)["Location"] == HOME
        sign_in_again(signed_in, user)

    page = signed_in.get(PROMPT).content.decode()
    assert "Skip for now" not in page
    assert "skipped registration 5 times" in page

    response = skip(signed_in)
    assert response["Location"] == PROMPT
    user.refresh_from_db()
    assert user.safecode_skips == 5
    assert signed_in.get(HOME)["Location"].startswith(PROMPT)
    assert signed_in.get("/whitepages/")["Location"].startswith(PROMPT)
    assert AuditEvent.objects.filter(event="safecode.skipped", outcome="failure").exists()


def test_a_skipped_out_person_can_still_register_and_sign_out(signed_in, user):
    user.safecode_skips = 5
    user.save(update_fields=["safecode_skips"])

    page = signed_in.get(PROMPT).content.decode()
    assert f'action="{reverse("accounts:logout")}"' in page
    assert signed_in.get(reverse("safecode:manage")).status_code == HTTPStatus.OK
    # Help, with the service desk's contacts, is never a dead end.
    help_page = signed_in.get(reverse("accounts:help"))
    assert help_page.status_code == HTTPStatus.OK
    assert b"617-432-2000" in help_page.content

    response = signed_in.post(reverse("accounts:logout"))
    assert response.status_code == HTTPStatus.FOUND
    assert "_auth_user_id" not in signed_in.session


def test_skips_are_counted_atomically(user):
    user.safecode_skips = 4
    user.save(update_fields=["safecode_skips"])
    stale = type(user).objects.get(pk=user.pk)  # a second tab that read the same count

    assert safecode_skip(user=user) == 0
    with pytest.raises(SafeCodeSkipsExhausted):
        safecode_skip(user=stale)
    stale.refresh_from_db()
    assert stale.safecode_skips == 5


def test_an_account_with_a_verified_channel_is_not_prompted(signed_in, user):
    make_channel(user)

    assert signed_in.get(HOME).status_code == HTTPStatus.OK
    assert signed_in.get(PROMPT)["Location"] == HOME


@pytest.mark.parametrize("path", ["/safecode/", "/healthz", "/static/css/portal.css", "/dev/x"])
def test_exempt_paths_are_not_redirected(signed_in, path):
    response = signed_in.get(path)

    assert not response.get("Location", "").startswith(PROMPT)


def test_admin_is_exempt_for_staff_only(client, db):
    person = make_user("person")
    client.force_login(person)
    assert client.get("/admin/")["Location"].startswith(PROMPT)

    staff = make_user("staffer", is_staff=True)
    client.force_login(staff)
    assert not client.get("/admin/").get("Location", "").startswith(PROMPT)


def test_signed_out_visitors_are_not_prompted(client, db):
    assert client.get(HOME).status_code == HTTPStatus.OK
