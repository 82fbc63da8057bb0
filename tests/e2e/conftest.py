"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright never downloads a browser here; without /usr/bin/chromium the journeys are skipped
with a reason that says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.helpers import screenshot_path

# Playwright's sync API runs an asyncio loop in this thread; Django would otherwise refuse the
# ORM calls that tests and fixtures make while it runs.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEFAULT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"browser journeys need Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from playwright.sync_api import expect

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context per test, rooted at the live server; a screenshot at the end."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    yield page
    try:
        page.screenshot(path=screenshot_path(request.node.name), full_page=True)
    finally:
        context.close()


@pytest.fixture
def dev_outbox(settings):
    """What a person needs to read codes in development: DEBUG on, messages to /dev/outbox/."""
    settings.DEBUG = True
    settings.DELIVERY_SMS_BACKEND = "delivery.backends.outbox.OutboxBackend"
    settings.DELIVERY_EMAIL_BACKEND = "delivery.backends.outbox.OutboxBackend"
    return settings
