"""The front door in a real browser: the ways in, the skip link, and the dev outbox."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import expect_heading, snap

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_home_offers_the_ways_in_and_a_skip_link(page):
    page.goto("/")

    expect_heading(page, re.compile("Welcome"))
    main = page.get_by_role("main")
    for name, path in [
        ("Sign in", "/login/"),
        ("Register", "/register/"),
        ("Unlock my account", "/unlock/"),
        ("Forgot my password", "/password/forgot/"),
    ]:
        expect(main.get_by_role("link", name=name, exact=True)).to_have_attribute("href", path)

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    snap(page, "home")

    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_dev_outbox_opens_in_development(page, dev_outbox):
    page.goto("/dev/outbox/")

    expect_heading(page, re.compile("outbox", re.IGNORECASE))
    snap(page, "dev-outbox")
