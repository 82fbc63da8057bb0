"""The service-desk console as an agent meets it in a browser, and the person on the phone.

desk.demo (staff, group "Service desk", an authenticator app on "Desk iPhone") signs in with
the password and a passcode from the app, since the console demands a second factor of staff
(``TWOFACTOR_REQUIRED_FOR_STAFF``). On Service desk › Find a person they type the phone
number the caller gives, in another format than it is stored, and open the locked
departmental account dept.radiology. "Why can't they sign in?" says "Locked" first. The agent
sends a SafeCode to the account's SafeCode phone, types the code the caller reads back (read
from the dev outbox, which keeps what the phone received), unlocks without a written reason
(the call is verified) and issues one bypass code, shown once. The person, in their own
browser, signs in with the password and "Enter a bypass code"; in a third browser the same
code is refused.

A second journey unlocks with the keyboard only: the Unlock button is reached by Tab, its
reason field is labelled, and Enter presses it.
"""

from __future__ import annotations

import inspect
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.e2e.conftest import DEFAULT_TIMEOUT_MS
from tests.e2e.helpers import expect_heading, read_latest_code, snap
from tests.e2e.test_twofactor_journeys import (
    AuthenticatorApp,
    enter_password,
    expect_signed_in,
    expect_signed_out,
    verify_with_app,
)
from tests.factories import ChannelFactory, PersonFactory, UserFactory, lock
from tests.twofactor.conftest import make_device
from twofactor.models import BypassCode

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SERVICE_DESK = "Service desk"
DESK_USERNAME = "desk.demo"
DESK_DEVICE = "Desk iPhone"
DEPT_USERNAME = "dept.radiology"
DEPT_SAFECODE_PHONE = "+16175550150"  # as seed_demo_devices stores it
PHONE_AS_THE_CALLER_SAYS_IT = "(617) 555-0150"
DEPT_DEVICE = "Radiology iPad"
BYPASS_SHAPE = re.compile(r"\d{3} \d{3} \d{3}")
WRONG_BYPASS = "That bypass code is not right, or it has expired or been used."


def console_groups() -> None:
    """The console's groups as the data migrations make them.

    A transactional test's database is flushed after each test, groups and all (permissions
    come back with ``post_migrate``, groups do not), so the migrations that build "Service
    desk" are replayed, in migration order, when the group is missing.
    """
    if Group.objects.filter(name=SERVICE_DESK).exists():
        return
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    state = executor.loader.project_state(leaves)
    plan = executor.migration_plan(leaves, clean_start=True)
    for migration, _backwards in plan:
        for operation in migration.operations:
            if isinstance(operation, RunPython) and f'"{SERVICE_DESK}"' in inspect.getsource(
                inspect.getmodule(operation.code)
            ):
                operation.code(state.apps, connection.schema_editor())


@pytest.fixture
def staff_policy(dev_outbox):
    """Production's rule for the console: staff give a second factor; codes to the outbox."""
    dev_outbox.TWOFACTOR_REQUIRED_FOR = ()
    dev_outbox.TWOFACTOR_REQUIRED_FOR_STAFF = True
    return dev_outbox


@pytest.fixture
def another_browser(browser, live_server, request):
    """Opens a browser context sharing nothing with the agent's: the person's own browser."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-US"
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for number, context in enumerate(contexts, start=1):
        try:
            for tab in context.pages[:1]:
                snap(tab, f"{request.node.name}-browser-{number}")
        finally:
            context.close()


def desk_demo() -> tuple[User, AuthenticatorApp]:
    """desk.demo as ``seed_demo`` makes it (Desmond Desk, staff, group "Service desk") with a
    verified SafeCode email and a confirmed authenticator app; and the app."""
    person = PersonFactory(
        huid="10000003",
        first_name="Desmond",
        last_name="Desk",
        department="IT Service Desk",
        email="desmond_desk@hms.harvard.edu",
    )
    agent = UserFactory(username=DESK_USERNAME, person=person, is_staff=True)
    console_groups()
    agent.groups.add(Group.objects.get(name=SERVICE_DESK))
    ChannelFactory(user=agent, kind="email", address="desk.demo@example.org")
    # The desk's least privilege: the console's actions, never the raw account forms.
    assert agent.has_perm("servicedesk.unlock_account")
    assert agent.has_perm("servicedesk.issue_bypass_codes")
    assert not agent.has_perm("accounts.change_user")
    device = make_device(agent, name=DESK_DEVICE, number="+16175550143")
    return agent, AuthenticatorApp.holding(device)


def locked_radiology() -> User:
    """dept.radiology as the demo has it (a departmental account of no one in the directory,
    SafeCode phone +16175550150) with an iPad for the second step, locked after ten wrong
    passwords."""
    account = UserFactory(
        username=DEPT_USERNAME,
        person=None,
        kind=User.Kind.DEPARTMENTAL,
        first_name="Radiology",
        last_name="Department",
        email="radiology@hms.harvard.edu",
    )
    ChannelFactory(user=account, address=DEPT_SAFECODE_PHONE)
    make_device(account, kind="tablet", name=DEPT_DEVICE)
    lock(account)
    account.refresh_from_db()
    return account


# Steps the agent takes -------------------------------------------------------------------------


def sign_in_to_the_console(page: Page, app: AuthenticatorApp) -> None:
    page.goto("/admin/")
    enter_password(page, DESK_USERNAME)
    verify_with_app(page, app, DESK_DEVICE)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Service desk").first).to_be_visible()


def find_by_phone(page: Page, typed: str) -> None:
    """Service desk › Find a person, the number typed as the caller says it, then their page."""
    page.get_by_role("link", name=re.compile("^Find a person", re.I)).first.click()
    search = page.locator("#searchbar")
    search.fill(typed)
    search.press("Enter")
    results = page.locator("#result_list tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text(DEPT_USERNAME)
    results.first.get_by_role("link", name=DEPT_USERNAME).click()
    expect(page.locator(".desk-person__who")).to_contain_text(DEPT_USERNAME)


def why_cannot_they_sign_in(page: Page):
    return page.get_by_role("region", name="Why can't they sign in?")


def messages_shown(page: Page):
    return page.locator("ul.messagelist")


def verify_the_caller_with_a_safecode(page: Page) -> None:
    verify = page.locator("#panel-verify")
    expect(verify.get_by_label("Send a code to")).to_contain_text("0150")
    verify.get_by_role("button", name="Send a code to the caller").click()
    expect(messages_shown(page)).to_contain_text("Sent a code to mobile phone •••-•••-0150")
    read_back = read_latest_code(page, DEPT_SAFECODE_PHONE)
    verify = page.locator("#panel-verify")
    verify.get_by_label("Code the caller reads back").fill(read_back)
    verify.get_by_role("button", name="Check").click()
    expect(messages_shown(page)).to_contain_text("SafeCode: matches")
    expect(messages_shown(page)).to_contain_text("The caller is verified")
    expect(page.get_by_text("You verified this caller at")).to_be_visible()


def issue_one_bypass_code(page: Page) -> str:
    """Issue bypass codes: one, working 1 hour; the code read from the page shown once."""
    bypass = page.locator("#panel-bypass")
    expect(bypass).to_contain_text("No bypass codes were issued")
    bypass.get_by_label("How many").select_option("1")
    bypass.get_by_label("They work for").select_option(label="1 hour")
    bypass.get_by_role("button", name="Issue bypass codes").click()
    expect(page.get_by_text("These codes are shown once.")).to_be_visible()
    shown = page.locator("ol.desk-bypass-codes code")
    expect(shown).to_have_count(1)
    code = shown.first.inner_text().strip()
    assert BYPASS_SHAPE.fullmatch(code), code
    snap(page, "servicedesk-bypass-shown")
    return code.replace(" ", "")


def tab_to(page: Page, element_id: str, *, limit: int = 80) -> int:
    """Press Tab from the top of the page until ``element_id`` has the focus; how many times."""
    page.locator("body").focus()
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return presses
    raise AssertionError(f"#{element_id} was not reached in {limit} presses of Tab")


# Steps the person takes ------------------------------------------------------------------------


def sign_in_with_bypass_code(page: Page, code: str) -> None:
    page.goto("/login/")
    enter_password(page, DEPT_USERNAME)
    expect_heading(page, "Verify it is you")
    bypass = page.get_by_role("region", name="Enter a bypass code")
    bypass.get_by_label("Bypass code").fill(code)
    bypass.get_by_role("button", name="Sign in with the bypass code").click()


# The journeys ----------------------------------------------------------------------------------


def test_desk_finds_a_locked_departmental_account_by_phone_unlocks_it_and_gives_a_bypass_code(
    page, another_browser, staff_policy
):
    _, app = desk_demo()
    account = locked_radiology()

    sign_in_to_the_console(page, app)
    find_by_phone(page, PHONE_AS_THE_CALLER_SAYS_IT)

    problems = why_cannot_they_sign_in(page).locator("ul.desk-problems > li")
    expect(problems.first).to_contain_text("Locked")
    expect(problems.first).to_contain_text("It cannot be unlocked by self-service.")
    snap(page, "servicedesk-person-locked")

    verify_the_caller_with_a_safecode(page)
    signin = why_cannot_they_sign_in(page)
    expect(signin.get_by_label("Reason (optional)")).to_be_visible()
    signin.get_by_role("button", name="Unlock").click()
    expect(messages_shown(page)).to_contain_text("Unlocked the account.")
    expect(why_cannot_they_sign_in(page)).to_contain_text(
        "Nothing stops this account from signing in."
    )
    account.refresh_from_db()
    assert not account.is_locked

    code = issue_one_bypass_code(page)
    assert BypassCode.objects.filter(user=account, used_at__isnull=True).count() == 1

    # The person, in their own browser, with the code the agent read to them.
    person = another_browser()
    sign_in_with_bypass_code(person, code)
    expect_signed_in(person)
    expect_heading(person, "Hello, Radiology Department")
    expect(person).not_to_have_url(re.compile("/twofactor/|/login/"))
    snap(person, "servicedesk-bypass-signed-in")

    # Once only: in yet another browser the same code is refused.
    again = another_browser()
    sign_in_with_bypass_code(again, code)
    expect_heading(again, "Verify it is you")
    refused = again.get_by_role("region", name="Enter a bypass code")
    expect(refused.get_by_role("link", name=f"Bypass code: {WRONG_BYPASS}")).to_be_visible()
    expect(refused.get_by_label("Bypass code")).to_have_accessible_description(
        re.compile(re.escape(WRONG_BYPASS))
    )
    expect_signed_out(again)
    assert BypassCode.objects.get(user=account).used_at is not None


def test_the_unlock_button_is_reached_and_pressed_with_the_keyboard(page, staff_policy):
    _, app = desk_demo()
    account = locked_radiology()
    sign_in_to_the_console(page, app)
    find_by_phone(page, PHONE_AS_THE_CALLER_SAYS_IT)

    tab_to(page, "act-unlock")
    unlock = page.get_by_role("button", name="Unlock", exact=True)
    expect(unlock).to_be_focused()
    # The reason field just before it is labelled, and is what Shift+Tab reaches.
    page.keyboard.press("Shift+Tab")
    reason = why_cannot_they_sign_in(page).get_by_role("textbox", name="Reason", exact=True)
    expect(reason).to_be_focused()
    page.keyboard.type("Caller from Radiology, called back on the department's number")
    page.keyboard.press("Tab")
    expect(unlock).to_be_focused()
    page.keyboard.press("Enter")

    expect(messages_shown(page)).to_contain_text("Unlocked the account.")
    account.refresh_from_db()
    assert not account.is_locked
