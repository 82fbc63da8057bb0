"""SafeCode as a person meets it: the prompt after sign-in, two skips, then a phone and an
email registered and confirmed with the codes they receive, shown masked."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from safecode.models import Channel
from tests.e2e.helpers import expect_heading, log_in, read_latest_code, snap

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USERNAME = "sam.rivera"
PASSWORD = "quiet lantern over the river"
PHONE = "+16175550123"
EMAIL = "sam.rivera@gmail.com"


def sign_out(page):
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()


def test_skip_twice_then_register_a_phone_and_an_email(page, dev_outbox):
    get_user_model().objects.create_user(
        username=USERNAME, password=PASSWORD, email="sam_rivera@hms.harvard.edu"
    )

    log_in(page, USERNAME, PASSWORD)
    expect_heading(page, "Register for SafeCode")
    expect(page.get_by_text("5 skips left")).to_be_visible()
    snap(page, "safecode-prompt")
    page.get_by_role("button", name=re.compile("^Skip for now")).click()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out")
    ).to_be_visible()
    assert "/safecode/" not in page.url

    sign_out(page)
    log_in(page, USERNAME, PASSWORD)
    expect(page.get_by_text("4 skips left")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Skip for now")).click()
    assert "/safecode/" not in page.url

    sign_out(page)
    log_in(page, USERNAME, PASSWORD)
    expect(page.get_by_text("3 skips left")).to_be_visible()
    page.get_by_role("link", name="Register for SafeCode").click()

    expect_heading(page, "SafeCode")
    expect(
        page.get_by_text("Standard text-message rates from your carrier may apply")
    ).to_be_visible()
    page.get_by_label(re.compile("^Mobile phone number")).fill("(617) 555-0123")
    page.get_by_label(re.compile("^Mobile carrier")).select_option(label="Verizon")
    page.get_by_label(re.compile("^Personal email address")).fill(EMAIL)
    page.get_by_role("button", name="Save and send a code").click()

    expect_heading(page, "Confirm your mobile phone")
    expect(page.get_by_text("***-***-0123").first).to_be_visible()
    snap(page, "safecode-confirm-phone")
    page.get_by_label("6-digit code").fill(read_latest_code(page, PHONE))
    page.get_by_role("button", name="Confirm").click()

    expect_heading(page, "Confirm your personal email")
    page.get_by_label("6-digit code").fill(read_latest_code(page, EMAIL))
    page.get_by_role("button", name="Confirm").click()

    # Both confirmed, the person goes on where the sign-in was taking them (Home).
    expect(
        page.get_by_text("Your SafeCode personal email s***@gmail.com is confirmed.")
    ).to_be_visible()
    assert "/safecode/" not in page.url
    page.goto("/safecode/")
    expect_heading(page, "SafeCode")
    current = page.locator("section", has=page.get_by_role("heading", name="Where your codes go"))
    expect(current.get_by_text("***-***-0123", exact=True)).to_be_visible()
    expect(current.get_by_text("s***@gmail.com", exact=True)).to_be_visible()
    content = page.content()
    assert "555-0123" not in content.replace("***-***-0123", "")
    assert EMAIL not in content
    snap(page, "safecode-registered")

    assert sorted(
        Channel.objects.filter(status=Channel.Status.VERIFIED).values_list("kind", flat=True)
    ) == ["email", "phone"]
    page.goto("/")
    assert "/safecode/" not in page.url
