"""Steps that browser journeys share, written as a person would take them."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

# Six digits standing alone: not part of a longer number, a phone number or a date.
CODE = re.compile(r"(?<![\d-])(\d{6})(?![\d-])")
OUTBOX_RELOADS = 20


def read_latest_message(page: Page, recipient: str) -> str:
    """The newest message to ``recipient`` in the dev outbox, read in a second tab.

    The journey's own tab keeps its page and form. Delivery runs after the request's
    transaction commits, so the outbox is reloaded a bounded number of times until it shows up.
    """
    outbox = page.context.new_page()
    try:
        for _ in range(OUTBOX_RELOADS):
            outbox.goto("/dev/outbox/")
            entries = outbox.locator("main article").filter(has_text=recipient)
            if entries.count():
                return entries.first.locator("p").last.inner_text()
            outbox.wait_for_timeout(250)
        raise AssertionError(f"no message to {recipient} in the dev outbox")
    finally:
        outbox.close()


def read_latest_code(page: Page, recipient: str) -> str:
    """The 6-digit code in the newest message to ``recipient`` (needs the dev_outbox fixture)."""
    body = read_latest_message(page, recipient)
    match = CODE.search(body)
    assert match, f"no 6-digit code in the newest message to {recipient}: {body!r}"
    return match.group(1)


def log_in(page: Page, username: str, password: str) -> None:
    """Sign in through the sign-in form, by its labels; returns on the page that answers, so
    what a caller reads next is never the form it just sent."""
    page.goto("/login/")
    page.get_by_label(re.compile(r"^Username")).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def screenshot_path(name: str) -> Path:
    """``artifacts/screenshots/<name>.png``, with the name made safe for a file system."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_')}.png"


def snap(page: Page, name: str) -> None:
    """Save a full-page screenshot as ``artifacts/screenshots/<name>.png``."""
    page.screenshot(path=screenshot_path(name), full_page=True)


def expect_heading(page: Page, name: str | re.Pattern[str]) -> None:
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()


def expect_picture_drawn(page: Page) -> None:
    """The CAPTCHA picture in the page is an image the browser could draw, not a broken one."""
    page.wait_for_function(
        "() => { const img = document.querySelector('img.captcha');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
