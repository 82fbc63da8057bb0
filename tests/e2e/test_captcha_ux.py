"""The CAPTCHA as a person meets it in a browser, on the unlock page: a new picture without
leaving the page, the answer box right after the picture's controls in the tab order, and a
submit button that posts once however often it is pressed.

The picture is answered as a person who read it would: with its answer, read from the store
by the key on the page (no test-mode shortcut)."""

from __future__ import annotations

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.helpers import expect_picture_drawn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

UNLOCK = reverse("accounts:unlock")
UNLOCK_SEND = reverse("accounts:unlock_send")
NEW_PICTURE = "Show a new picture"
ANSWER_LABEL = "Type the characters in the picture"
MAX_TABS = 6
DOUBLE_CLICK_PRESS_MS = 100
BUSY_MS = 400


def picture_key(page) -> str:
    return page.locator("input[name='captcha_0']").input_value()


def picture_src(page) -> str:
    return page.locator("img.captcha").get_attribute("src")


def answer_of(key: str) -> str:
    return CaptchaStore.objects.get(hashkey=key).response


def focused(page) -> str:
    """What has keyboard focus: the answer box, the desk's phone link, or something else."""
    return page.evaluate(
        "() => { const el = document.activeElement;"
        " if (el.name === 'captcha_1') return 'answer';"
        " if ((el.getAttribute('href') || '').startsWith('tel:')) return 'desk';"
        " return el.outerHTML.slice(0, 80); }"
    )


def test_a_new_picture_replaces_the_old_one_without_leaving_the_page(page):
    page.goto(UNLOCK)
    expect_picture_drawn(page)
    page.evaluate("() => { window.samePage = true; }")
    old_key, old_src = picture_key(page), picture_src(page)

    page.get_by_role("button", name=NEW_PICTURE).click()

    picture = page.locator("img.captcha")
    expect(picture).not_to_have_attribute("src", old_src)
    expect_picture_drawn(page)
    expect(page.get_by_role("status").filter(has_text="New picture loaded")).to_have_count(1)
    expect(page.get_by_label(ANSWER_LABEL)).to_be_focused()
    new_key = picture_key(page)
    assert new_key != old_key
    assert new_key in picture_src(page)
    assert page.locator(f"input[value='{old_key}']").count() == 0
    # Still the same page: nothing was loaded again.
    assert page.evaluate("() => window.samePage") is True
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1

    page.get_by_label("Username or Harvard ID").fill("someone")
    page.get_by_label(ANSWER_LABEL).fill(answer_of(new_key))
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(f"**{UNLOCK_SEND}")


def test_the_old_picture_is_not_answered_after_a_new_one(page):
    page.goto(UNLOCK)
    old_key = picture_key(page)
    page.get_by_role("button", name=NEW_PICTURE).click()
    expect(page.locator("input[name='captcha_0']")).not_to_have_value(old_key)

    page.get_by_label("Username or Harvard ID").fill("someone")
    page.get_by_label(ANSWER_LABEL).fill(answer_of(old_key))
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_text("do not match the picture").first).to_be_visible()
    assert page.url.endswith(UNLOCK)


def test_without_the_script_the_link_loads_a_new_picture(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(UNLOCK)
        old_key = picture_key(page)
        expect(page.get_by_role("button", name=NEW_PICTURE)).to_have_count(0)

        page.get_by_role("link", name=NEW_PICTURE).click()

        expect(page.locator("input[name='captcha_0']")).not_to_have_value(old_key)
        new_key = picture_key(page)
        assert new_key in picture_src(page)
        page.get_by_label("Username or Harvard ID").fill("someone")
        page.get_by_label(ANSWER_LABEL).fill(answer_of(new_key))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"**{UNLOCK_SEND}")
    finally:
        context.close()


def test_tab_from_the_new_picture_control_reaches_the_answer_box_before_the_desk_phone(page):
    page.goto(UNLOCK)
    page.get_by_role("button", name=NEW_PICTURE).focus()

    reached = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        reached.append(focused(page))
        if reached[-1] in {"answer", "desk"}:
            break
    assert reached[-1] == "answer", reached

    # The desk's phone is still there for those who need it, after the box.
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if focused(page) == "desk":
            break
    assert focused(page) == "desk"


@pytest.fixture
def busy_portal(page):
    """The portal answers posts slowly, as when it is busy: a second press comes while the
    first post is still on its way. Returns the posts the page sent."""
    posts = []

    def hold_posts(route):
        if route.request.method == "POST":
            page.wait_for_timeout(BUSY_MS)
        route.continue_()

    page.route(f"**{UNLOCK}", hold_posts)
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    return posts


def fill_unlock(page) -> None:
    page.goto(UNLOCK)
    page.get_by_label("Username or Harvard ID").fill("someone")
    page.get_by_label(ANSWER_LABEL).fill(answer_of(picture_key(page)))


def test_a_double_click_on_continue_posts_once(page, busy_portal):
    fill_unlock(page)

    page.get_by_role("button", name="Continue").dblclick(delay=DOUBLE_CLICK_PRESS_MS)

    page.wait_for_url(f"**{UNLOCK_SEND}")
    page.wait_for_load_state()
    assert busy_portal == [page.url.replace(UNLOCK_SEND, UNLOCK)]


def test_enter_pressed_twice_posts_once(page, busy_portal):
    fill_unlock(page)

    page.keyboard.press("Enter", delay=DOUBLE_CLICK_PRESS_MS)
    page.keyboard.press("Enter", delay=DOUBLE_CLICK_PRESS_MS)

    page.wait_for_url(f"**{UNLOCK_SEND}")
    page.wait_for_load_state()
    assert busy_portal == [page.url.replace(UNLOCK_SEND, UNLOCK)]


def test_buttons_are_pressed_again_when_the_page_comes_back_from_the_history(page):
    """A page restored from the back/forward cache is as it was left, mid-submit; its buttons
    work again. Here the post is answered with "204 No Content", which leaves the page in
    place as the cache would, and the browser's restore event is then fired."""
    page.route(
        f"**{UNLOCK}",
        lambda route: (
            route.fulfill(status=204) if route.request.method == "POST" else route.continue_()
        ),
    )
    page.goto(UNLOCK)
    page.get_by_label("Username or Harvard ID").fill("someone")
    continue_ = page.get_by_role("button", name="Continue")

    continue_.click()

    expect(continue_).to_be_disabled()
    expect(page.locator("form[aria-busy='true']")).to_have_count(1)

    page.evaluate(
        "() => window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
    )

    expect(continue_).to_be_enabled()
    expect(page.locator("form[aria-busy='true']")).to_have_count(0)
