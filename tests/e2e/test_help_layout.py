"""Help on the narrowest phone: the answers and the offices fit without sideways scrolling."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import expect_heading, snap

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_help_fits_a_320_pixel_screen_and_its_questions_lead_to_their_answers(page):
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/help/")

    expect_heading(page, "Help with your account")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the page is {width}px wide"
    snap(page, "help-320")

    page.get_by_role("link", name="My account is locked").click()
    expect(page.get_by_role("heading", level=3, name="My account is locked")).to_be_in_viewport()
    page.get_by_role("link", name="Unlock your account").click()
    expect_heading(page, "Unlock your account")
