"""The /safecode/ screen through the client: register, confirm, replace, remove."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEvent
from safecode.models import Channel, Purpose
from safecode.services import safecode_issue
from tests.helpers import prove_it_is_you
from tests.safecode.conftest import (
    EMAIL,
    EMAIL_MASKED,
    PHONE,
    PHONE_MASKED,
    make_channel,
    make_user,
)

MANAGE = reverse("safecode:manage")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the delivery hand-off) as a committed request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def latest_code(outbox, recipient: str) -> str:
    body = next(m.body for m in reversed(outbox) if m.recipient == recipient)
    return re.search(r"\b(\d{6})\b", body).group(1)


def register(client, commit, **data):
    with commit():
        return client.post(MANAGE, data)


@pytest.fixture
def proven(signed_in, outbox, commit):
    """The signed-in session has just confirmed it is the account holder (password, code)."""

    def read_code():
        return latest_code(outbox, outbox[-1].recipient)

    prove_it_is_you(
        signed_in, "correct horse battery staple", read_code=read_code, on_commit=commit
    )
    outbox.clear()
    return signed_in


def confirm(client, commit, channel_pk: int, code: str):
    with commit():
        return client.post(reverse("safecode:verify", args=[channel_pk]), {"code": code})


def test_screen_explains_fees_delivery_trouble_and_which_addresses_count(signed_in):
    response = signed_in.get(MANAGE)

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "Standard text-message rates from your carrier may apply" in page
    assert "617-432-2000" in page
    assert "Use your personal email instead" in page
    assert "hms.harvard.edu" in page and "partners.org" in page
    assert 'for="id_phone"' in page and 'for="id_email"' in page and 'for="id_carrier"' in page


def test_registering_a_phone_sends_a_code_and_it_counts_once_entered(
    signed_in, user, outbox, commit
):
    response = register(signed_in, commit, phone="(617) 555-0123", carrier="verizon")

    channel = Channel.objects.get(user=user)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("safecode:verify", args=[channel.pk])
    assert channel.status == Channel.Status.PENDING
    assert (channel.address, channel.carrier) == (PHONE, "verizon")
    assert outbox[-1].recipient == PHONE

    page = signed_in.get(response["Location"]).content.decode()
    assert f"We sent a 6-digit code to <strong>{PHONE_MASKED}</strong>" in page

    response = confirm(signed_in, commit, channel.pk, latest_code(outbox, PHONE))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == MANAGE
    channel.refresh_from_db()
    assert channel.status == Channel.Status.VERIFIED


def test_the_screen_shows_channels_masked_only(signed_in, user, phone, email_channel):
    page = signed_in.get(MANAGE).content.decode()

    assert PHONE_MASKED in page and EMAIL_MASKED in page
    assert "5550123" not in page and "555-0123" not in page
    assert EMAIL not in page and "jane.doe" not in page


def test_phone_and_email_are_confirmed_one_after_the_other(signed_in, user, outbox, commit):
    register(signed_in, commit, phone="617-555-0123", email="Jane.Doe@Gmail.com")
    phone = Channel.objects.get(kind=Channel.Kind.PHONE)
    email = Channel.objects.get(kind=Channel.Kind.EMAIL)
    assert [m.recipient for m in outbox] == [PHONE]

    response = confirm(signed_in, commit, phone.pk, latest_code(outbox, PHONE))
    assert response["Location"] == reverse("safecode:verify", args=[email.pk])
    assert outbox[-1].recipient == "Jane.Doe@gmail.com"

    response = confirm(signed_in, commit, email.pk, latest_code(outbox, "Jane.Doe@gmail.com"))
    assert response["Location"] == MANAGE
    page = signed_in.get(MANAGE).content.decode()
    assert PHONE_MASKED in page and "J***@gmail.com" in page


def test_wrong_code_is_refused_with_a_message(signed_in, user, outbox, commit):
    register(signed_in, commit, phone="617-555-0123")
    channel = Channel.objects.get()
    right = latest_code(outbox, PHONE)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = confirm(signed_in, commit, channel.pk, wrong)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "That code is not right" in response.content.decode()
    channel.refresh_from_db()
    assert channel.status == Channel.Status.PENDING


@pytest.mark.parametrize("typed", ["12345", "abcdef", "", "1234567"])
def test_malformed_code_asks_for_six_digits(signed_in, user, outbox, commit, typed):
    register(signed_in, commit, phone="617-555-0123")

    response = confirm(signed_in, commit, Channel.objects.get().pk, typed)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter the 6-digit code" in response.content.decode()


def test_a_new_phone_replaces_the_old_only_once_confirmed_and_the_old_is_told(
    signed_in, user, phone, outbox, commit, proven
):
    register(signed_in, commit, phone="+1 617 555 0199")
    new = Channel.objects.get(status=Channel.Status.PENDING)
    phone.refresh_from_db()
    assert phone.status == Channel.Status.VERIFIED  # the old number stays in force meanwhile

    confirm(signed_in, commit, new.pk, latest_code(outbox, "+16175550199"))

    phone.refresh_from_db()
    new.refresh_from_db()
    assert (phone.status, new.status) == (Channel.Status.RETIRED, Channel.Status.VERIFIED)
    to_old = [m for m in outbox if m.recipient == PHONE]
    assert len(to_old) == 1
    assert "changed" in to_old[0].body and "617-432-2000" in to_old[0].body
    to_account = [m for m in outbox if m.recipient == user.email]
    assert len(to_account) == 1
    assert "***-***-0199" in to_account[0].body and PHONE_MASKED in to_account[0].body
    assert "itservicedesk@hms.harvard.edu" in to_account[0].body
    assert "/report/" in to_account[0].body  # "this was not me"
    assert AuditEvent.objects.filter(event="safecode.channel_replaced", subject=user).exists()


def test_a_new_email_replacing_the_old_tells_the_old_address(
    signed_in, user, email_channel, outbox, commit, proven
):
    register(signed_in, commit, email="jane@partners.org")
    new = Channel.objects.get(status=Channel.Status.PENDING)
    confirm(signed_in, commit, new.pk, latest_code(outbox, "jane@partners.org"))

    notice = next(m for m in outbox if m.recipient == EMAIL)
    assert "changed" in notice.subject
    assert "j***@partners.org" in notice.body and "617-432-2000" in notice.body


def test_the_last_channel_cannot_be_removed(signed_in, user, phone):
    response = signed_in.post(reverse("safecode:remove", args=[phone.pk]))

    assert response.status_code == HTTPStatus.CONFLICT
    assert "SafeCode cannot be turned off" in response.content.decode()
    phone.refresh_from_db()
    assert phone.status == Channel.Status.VERIFIED


def test_one_of_two_channels_can_be_removed_and_it_is_told(
    signed_in, user, phone, email_channel, outbox, commit, proven
):
    with commit():
        response = signed_in.post(reverse("safecode:remove", args=[phone.pk]))

    assert response.status_code == HTTPStatus.FOUND
    phone.refresh_from_db()
    assert phone.status == Channel.Status.RETIRED
    assert any(m.recipient == PHONE and "removed" in m.body for m in outbox)
    assert f"{PHONE_MASKED} no longer receives SafeCodes" in signed_in.get(MANAGE).content.decode()
    page = signed_in.get(MANAGE).content.decode()
    assert PHONE_MASKED not in page
    assert "SafeCode cannot be turned off" in page


def test_a_waiting_channel_can_be_cancelled(signed_in, user, phone, outbox, commit, proven):
    register(signed_in, commit, phone="617-555-0199")
    pending = Channel.objects.get(status=Channel.Status.PENDING)

    signed_in.post(reverse("safecode:remove", args=[pending.pk]))

    pending.refresh_from_db()
    assert pending.status == Channel.Status.RETIRED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "jane@hms.harvard.edu"}, "needs an address outside HMS"),
        ({"phone": "+44 20 7946 0958"}, "That is a landline number"),
        ({"phone": "617-555-0123"}, "already your SafeCode phone"),
        ({}, "Enter a mobile phone number, a personal email address, or both."),
    ],
)
def test_refusals_are_explained_and_nothing_is_stored(signed_in, user, phone, data, message):
    response = signed_in.post(MANAGE, data)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()
    assert Channel.objects.count() == 1


def test_resend_too_soon_says_when_the_next_code_can_be_sent(signed_in, user, outbox, commit):
    register(signed_in, commit, phone="617-555-0123")
    channel = Channel.objects.get()

    response = signed_in.post(reverse("safecode:send", args=[channel.pk]))

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "The next code can be sent at" in response.content.decode()


def test_resend_after_a_minute_sends_a_new_code(signed_in, user, outbox, commit, clock):
    register(signed_in, commit, phone="617-555-0123")
    channel = Channel.objects.get()
    clock.shift(timedelta(seconds=61))

    with commit():
        response = signed_in.post(reverse("safecode:send", args=[channel.pk]))

    assert response.status_code == HTTPStatus.FOUND
    assert len([m for m in outbox if m.recipient == PHONE]) == 2


def test_locked_out_page_gives_the_service_desk(signed_in, user, outbox, commit, clock):
    register(signed_in, commit, phone="617-555-0123")
    channel = Channel.objects.get()
    for _round in range(2):
        wrong = f"{(int(latest_code(outbox, PHONE)) + 1) % 1_000_000:06d}"
        for _ in range(5):
            response = confirm(signed_in, commit, channel.pk, wrong)
        clock.shift(timedelta(seconds=61))
        with commit():
            signed_in.post(reverse("safecode:send", args=[channel.pk]))

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    page = signed_in.get(reverse("safecode:verify", args=[channel.pk])).content.decode()
    assert "Too many wrong codes were entered" in page
    assert "617-432-2000" in page


def test_someone_elses_channel_is_not_found(signed_in):
    others = make_channel(make_user("other"), status=Channel.Status.PENDING)

    assert signed_in.get(reverse("safecode:verify", args=[others.pk])).status_code == 404
    assert signed_in.post(reverse("safecode:remove", args=[others.pk])).status_code == 404
    assert signed_in.post(reverse("safecode:send", args=[others.pk])).status_code == 404


def test_pages_need_a_signed_in_person(client):
    response = client.get(MANAGE)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("accounts:login"))


def test_pages_are_not_cached(signed_in):
    assert "no-store" in signed_in.get(MANAGE)["Cache-Control"]


def test_the_code_never_reaches_the_audit_trail(signed_in, user, outbox, commit):
    register(signed_in, commit, phone="617-555-0123")
    code = latest_code(outbox, PHONE)
    confirm(signed_in, commit, Channel.objects.get().pk, code)

    for event in AuditEvent.objects.all():
        assert code not in str(event.detail)
        assert PHONE not in str(event.detail)


def test_issued_codes_for_other_purposes_do_not_confirm_a_channel(
    signed_in, user, phone, outbox, commit, proven
):
    register(signed_in, commit, phone="617-555-0199")
    pending = Channel.objects.get(status=Channel.Status.PENDING)
    with commit():
        safecode_issue(user=user, purpose=Purpose.UNLOCK, channel=phone)

    response = confirm(signed_in, commit, pending.pk, latest_code(outbox, PHONE))

    assert response.status_code == HTTPStatus.BAD_REQUEST


# Hostile input ----------------------------------------------------------------------------------

hostile = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["\x00", "+" + "9" * 500, "a@" + "b." * 150 + "com", "%00", "' OR 1=1 --"]),
)


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(phone=hostile, email=hostile, carrier=hostile)
def test_hostile_registration_input_never_errors_and_stores_nothing(
    signed_in, user, phone, email, carrier
):
    before = Channel.objects.count()

    response = signed_in.post(MANAGE, {"phone": phone, "email": email, "carrier": carrier})

    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.FOUND)
    if response.status_code == HTTPStatus.BAD_REQUEST:
        assert Channel.objects.count() == before


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(code=hostile)
def test_hostile_code_input_never_errors_or_confirms(signed_in, user, code):
    channel = Channel.objects.filter(user=user).first() or make_channel(
        user, status=Channel.Status.PENDING
    )

    response = signed_in.post(reverse("safecode:verify", args=[channel.pk]), {"code": code})

    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.TOO_MANY_REQUESTS)
    channel.refresh_from_db()
    assert channel.status == Channel.Status.PENDING


def test_a_refused_resend_says_so_and_the_right_code_still_confirms(
    signed_in, user, outbox, commit
):
    register(signed_in, commit, phone="617-555-0123")
    channel = Channel.objects.get()
    code = latest_code(outbox, PHONE)
    refused = signed_in.post(reverse("safecode:send", args=[channel.pk]))
    page = refused.content.decode()
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 'role="alert"' in page and "No new code was sent" in page
    # The confirm form on that page posts to the confirm address, not back to "send".
    verify_url = reverse("safecode:verify", args=[channel.pk])
    assert f'action="{verify_url}"' in page
    with commit():
        confirmed = signed_in.post(verify_url, {"code": code})
    assert confirmed.status_code == HTTPStatus.FOUND
    channel.refresh_from_db()
    assert channel.status == Channel.Status.VERIFIED


def test_after_the_prompt_the_first_confirmed_contact_leads_where_the_person_was_going(
    signed_in, user, outbox, commit
):
    signed_in.get(reverse("safecode:prompt"), {"next": "/preferences/address/"})
    register(signed_in, commit, phone="617-555-0123")
    channel = Channel.objects.get()
    done = confirm(signed_in, commit, channel.pk, latest_code(outbox, PHONE))
    assert done.url == "/preferences/address/"
