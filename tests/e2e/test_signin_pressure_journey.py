"""Signing in while a spray across the portal has every unknown browser answer a CAPTCHA, as a
person meets it in a browser: the picture with a visible label, a wrong answer announced and
tied to the answer box, the whole page done with the keyboard alone, and the browser the
person signed in from before not asked at all.

The picture is answered as a person who read it would: with its answer, read from the store
by the key on the page (no test-mode shortcut). Screenshots go to a temporary directory, for a
person to look at."""

from __future__ import annotations

import re

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import SignInFailure
from accounts.normalize import login_key
from tests.e2e.helpers import expect_picture_drawn
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOGIN = reverse("accounts:login")
SPRAY = 12
ANSWER_LABEL = "Type the characters in the picture"
USERNAME_LABEL = "Username or Harvard ID"
CAPTCHA_FOR_EVERYONE = "the portal now asks for the characters in the picture"
WRONG_ANSWER = "do not match the picture"
MAX_TABS = 25


@pytest.fixture(autouse=True)
def pressure_after_a_dozen(settings):
    settings.ACCOUNTS_SIGNIN_PRESSURE_FAILURES = SPRAY


@pytest.fixture
def person():
    return UserFactory(username="rosa.delgado")


def spray() -> None:
    """A dozen failed sign-ins at names no one has, each from its own address (none from the
    person's): the portal is under pressure from now on."""
    SignInFailure.objects.bulk_create(
        SignInFailure(ip=f"198.51.100.{n + 1}", login_key=login_key(f"nobody.{n}"))
        for n in range(SPRAY)
    )


def picture_answer(page) -> str:
    key = page.locator("input[name='captcha_0']").input_value()
    return CaptchaStore.objects.get(hashkey=key).response


def expect_signed_in(page) -> None:
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out")
    ).to_be_visible()


def focused_name(page) -> str:
    """The name of the form control that has keyboard focus ('' for anything else)."""
    return page.evaluate("() => document.activeElement.getAttribute('name') || ''")


def tab_to(page, name: str) -> list[str]:
    """Press Tab until the control ``name`` has focus; what was reached on the way."""
    reached: list[str] = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        reached.append(focused_name(page))
        if reached[-1] == name:
            return reached
    raise AssertionError(f"Tab never reached {name}: {reached}")


def test_under_a_spray_the_sign_in_page_shows_the_picture_with_its_label(page, tmp_path):
    spray()

    page.goto(LOGIN)

    answer = page.get_by_label(ANSWER_LABEL)
    expect(answer).to_be_visible()
    expect(page.locator("label", has_text=ANSWER_LABEL)).to_be_visible()
    expect(page.get_by_text("Letters are not case-sensitive")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("distorted characters"))).to_be_visible()
    expect_picture_drawn(page)
    # The answer box says what it is and how to get help to whoever cannot see the label.
    described = answer.get_attribute("aria-describedby") or ""
    assert described, "the answer box is linked to no help text"
    for ref in described.split():
        expect(page.locator(f"[id='{ref}']")).to_contain_text("case-sensitive")
    page.screenshot(path=tmp_path / "asked-for-the-picture.png", full_page=True)


def test_a_wrong_answer_is_announced_and_tied_to_the_answer_box(page, person, tmp_path):
    spray()
    page.goto(LOGIN)
    page.get_by_label(USERNAME_LABEL).fill(person.username)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_label(ANSWER_LABEL).fill("WRONG")

    page.get_by_role("button", name="Sign in").click()

    summary = page.get_by_role("alert").filter(has_text=WRONG_ANSWER)
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    answer = page.get_by_label(ANSWER_LABEL)
    expect(answer).to_have_attribute("aria-invalid", "true")
    described = (answer.get_attribute("aria-describedby") or "").split()
    errors = [ref for ref in described if ref.endswith("_error")]
    assert errors, f"the answer box is not linked to its error: {described}"
    expect(page.locator(f"[id='{errors[0]}']")).to_contain_text(WRONG_ANSWER)
    expect(answer).to_have_value("")
    # The name typed is kept; the password is typed again, with the new picture.
    expect(page.get_by_label(USERNAME_LABEL)).to_have_value(person.username)
    page.screenshot(path=tmp_path / "wrong-answer.png", full_page=True)

    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    answer.fill(picture_answer(page))
    page.get_by_role("button", name="Sign in").click()

    expect_signed_in(page)


def test_the_whole_sign_in_is_done_with_the_keyboard_alone(page, person, tmp_path):
    spray()
    page.goto(LOGIN)
    expect_picture_drawn(page)

    tab_to(page, "username")
    page.keyboard.type(person.username)
    assert tab_to(page, "password") == ["password"], "something comes between name and password"
    page.keyboard.type(DEFAULT_PASSWORD)
    on_the_way = tab_to(page, "captcha_1")
    # The picture's own controls may come first; nothing outside the form does.
    assert len(on_the_way) <= 3, on_the_way
    page.keyboard.type(picture_answer(page))
    page.screenshot(path=tmp_path / "keyboard-filled.png", full_page=True)

    page.keyboard.press("Enter")

    expect_signed_in(page)


def test_a_page_opened_before_the_spray_sends_the_person_to_answer_the_picture(
    page, person, tmp_path
):
    """The page had no picture when it was opened; the spray started while it was open."""
    page.goto(LOGIN)
    expect(page.locator("img.captcha")).to_have_count(0)
    spray()
    page.get_by_label(USERNAME_LABEL).fill(person.username)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)

    page.get_by_role("button", name="Sign in").click()

    notice = page.get_by_role("alert").filter(has_text=CAPTCHA_FOR_EVERYONE)
    expect(notice).to_be_visible()
    expect(page.get_by_label(ANSWER_LABEL)).to_be_visible()
    assert person.username not in page.url
    page.screenshot(path=tmp_path / "sent-to-answer.png", full_page=True)

    page.get_by_label(USERNAME_LABEL).fill(person.username)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_label(ANSWER_LABEL).fill(picture_answer(page))
    page.get_by_role("button", name="Sign in").click()

    expect_signed_in(page)


def test_a_browser_that_signed_in_before_is_not_asked_for_the_picture(page, person, tmp_path):
    page.goto(LOGIN)
    page.get_by_label(USERNAME_LABEL).fill(person.username)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("button")).to_have_count(0)
    spray()

    page.goto(LOGIN)

    expect(page.get_by_label(USERNAME_LABEL)).to_be_visible()
    expect(page.locator("img.captcha")).to_have_count(0)
    expect(page.get_by_label(ANSWER_LABEL)).to_have_count(0)
    page.screenshot(path=tmp_path / "known-browser.png", full_page=True)
    page.get_by_label(USERNAME_LABEL).fill(person.username)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect_signed_in(page)
