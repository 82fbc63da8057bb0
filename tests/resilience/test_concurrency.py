"""Races over HTTP against the real multi-process, multi-threaded stack (2 gunicorn workers of
8 threads, tests/resilience/conftest.py): what must happen once happens once.

Every race is run by threads released together by a barrier, each with its own connection
(and, where the portal counts per IP, its own loopback address), so that the requests are in
the server at the same time: 16 of them can be served at once.
"""

from __future__ import annotations

import pytest
import requests

from tests.resilience.services import (
    CLIENT_TIMEOUT,
    CODE,
    CSRF,
    Database,
    at_once,
    browser,
    form_fields,
    seed,
    unlock_request_code,
    wait_for,
)

pytestmark = pytest.mark.integration

WRONG_PASSWORD = "not the password at all"
LOCKOUT_THRESHOLD = 10  # accounts.app_settings.LOCKOUT_THRESHOLD, the production default
SEED = """
import json
from guests.services.sponsorship import guest_request_create
from tests.factories import ChannelFactory, UserFactory, lock
from tests.guests.conftest import guest_details, make_sponsor

target = UserFactory(username="race.target")
locked = UserFactory(username="race.locked")
lock(locked)
ChannelFactory(user=locked, address="+16175550300")
issued = guest_request_create(sponsor=make_sponsor(), details=guest_details(), attested=True)
print("SEED:" + json.dumps({
    "target": target.pk,
    "locked": locked.pk,
    "sponsorship": issued.sponsorship.pk,
    "key": issued.key,
}))
"""


@pytest.fixture(scope="module")
def people(portal_stack) -> dict:
    return seed(portal_stack, SEED)


@pytest.fixture(scope="module")
def db(portal_stack) -> Database:
    return Database(portal_stack.database_url)


def no_server_error(responses: list[requests.Response]) -> None:
    statuses = [response.status_code for response in responses]
    assert all(status < 500 for status in statuses), statuses


def events(db: Database, event: str, subject: int) -> int:
    return db.value(
        "SELECT count(*) FROM audit_auditevent WHERE event = %s AND subject_id = %s",
        event,
        subject,
    )


def test_parallel_wrong_passwords_lock_the_account_once_and_tell_the_person_once(
    portal_stack, people, db
):
    base, user = portal_stack.url, people["target"]
    # Each browser from its own address, so that no per-IP rule (throttle, CAPTCHA) is what
    # stops them; each first types wrong passwords until the page asks for the CAPTCHA for
    # this name, as a person would meet it, and answers it in the race.
    browsers = []
    for n in range(12):
        person = browser(f"127.0.1.{n + 1}")
        page = person.get(f"{base}/login/", timeout=CLIENT_TIMEOUT)
        for _ in range(4):
            if 'name="captcha_0"' in page.text:
                break
            wrong = {"username": "race.target", "password": WRONG_PASSWORD}
            fields = form_fields(page, db.captcha_answer)
            page = person.post(f"{base}/login/", {**wrong, **fields}, timeout=CLIENT_TIMEOUT)
            assert page.status_code == 200, page.status_code
        assert 'name="captcha_0"' in page.text, "the sign-in page never asked for a CAPTCHA"
        data = {"username": "race.target", "password": WRONG_PASSWORD}
        browsers.append((person, {**data, **form_fields(page, db.captcha_answer)}))
    before = db.value("SELECT failed_login_count FROM accounts_user WHERE id = %s", user)
    assert db.value("SELECT locked_at FROM accounts_user WHERE id = %s", user) is None
    assert before + len(browsers) > LOCKOUT_THRESHOLD
    failures_before = db.value(
        "SELECT count(*) FROM accounts_signinfailure WHERE user_id = %s", user
    )

    responses = at_once(
        [
            lambda person=person, data=data: person.post(
                f"{base}/login/", data, timeout=CLIENT_TIMEOUT * 4
            )
            for person, data in browsers
        ]
    )

    no_server_error(responses)
    assert [response.status_code for response in responses] == [200] * len(browsers)
    assert all("The username or password is not right" in r.text for r in responses)
    count, locked_at = db.rows(
        "SELECT failed_login_count, locked_at FROM accounts_user WHERE id = %s", user
    )[0]
    assert locked_at is not None
    assert events(db, "account.locked", user) == 1
    # Every attempt is on the record, and none that came before the lock was lost.
    failures = db.value("SELECT count(*) FROM accounts_signinfailure WHERE user_id = %s", user)
    assert failures - failures_before == len(browsers)
    assert LOCKOUT_THRESHOLD <= count <= before + len(browsers)
    notices = db.rows(
        "SELECT id FROM delivery_message WHERE purpose = 'account_locked' AND user_id = %s", user
    )
    assert len(notices) == 1
    wait_for(
        lambda: (
            db.value(
                "SELECT count(*) FROM delivery_outboxentry WHERE message_id = %s", notices[0][0]
            )
            == 1
        ),
        "the lock notice to be delivered",
        log=portal_stack.directory / "worker.log",
    )


def test_parallel_entries_of_one_safecode_unlock_the_account_once(portal_stack, people, db):
    base, user = portal_stack.url, people["locked"]
    person = browser("127.0.4.1")
    page = unlock_request_code(person, base, "race.locked", db.captcha_answer)
    assert page.url == f"{base}/unlock/code/"
    body = wait_for(
        lambda: db.value(
            "SELECT e.body FROM delivery_outboxentry e JOIN delivery_message m "
            "ON m.id = e.message_id WHERE m.user_id = %s AND m.purpose = 'safecode.unlock'",
            user,
        ),
        "the unlock code to be delivered",
        log=portal_stack.directory / "worker.log",
    )
    code = CODE.search(body).group(1)
    token = CSRF.search(page.text).group(1)
    # The same browser (its cookies) sends the right code from 8 tabs at the same moment.
    tabs = []
    for _ in range(8):
        tab = browser("127.0.4.1")
        tab.cookies.update(person.cookies)
        tabs.append(tab)

    responses = at_once(
        [
            lambda tab=tab: tab.post(
                f"{base}/unlock/code/",
                {"code": code, "csrfmiddlewaretoken": token},
                timeout=CLIENT_TIMEOUT * 4,
                allow_redirects=False,
            )
            for tab in tabs
        ]
    )

    no_server_error(responses)
    assert events(db, "safecode.verified", user) == 1
    assert events(db, "account.unlocked", user) == 1
    assert db.value("SELECT locked_at FROM accounts_user WHERE id = %s", user) is None
    used = db.rows(
        "SELECT used_at IS NOT NULL FROM safecode_safecode WHERE user_id = %s AND purpose = %s",
        user,
        "unlock",
    )
    assert used == [(True,)]
    # One tab goes on to "Unlocked". The others are refused the used code, or find that the
    # session they came with was replaced (the winner's new session key) and are answered
    # 400 by Django's session middleware (SessionInterrupted): no server error either way.
    answers = [(r.status_code, r.headers.get("Location", "")) for r in responses]
    done = [answer for answer in answers if answer[1].endswith("/unlock/done/")]
    assert len(done) == 1, answers


def test_parallel_redemptions_of_one_guest_key_make_one_account(portal_stack, people, db):
    from tests.guests.conftest import GUEST_LAST, GUEST_PASSWORD

    base = portal_stack.url
    guests = []
    for n in range(6):
        guest = browser(f"127.0.2.{n + 1}")
        start = guest.get(f"{base}/register/", timeout=CLIENT_TIMEOUT)
        details = {
            "last_name": GUEST_LAST,
            "huid": "",
            "guest_key": people["key"],
            "date_of_birth": "",
            "ssn": "",
        }
        step = guest.post(
            f"{base}/register/",
            {**details, **form_fields(start, db.captcha_answer)},
            timeout=CLIENT_TIMEOUT,
        )
        assert step.url == f"{base}/register/account/", (step.status_code, step.url)
        guests.append((guest, f"guest.racer{n}", form_fields(step, db.captcha_answer)))

    responses = at_once(
        [
            lambda guest=guest, username=username, fields=fields: guest.post(
                f"{base}/register/account/",
                {
                    "username": username,
                    "password1": GUEST_PASSWORD,
                    "password2": GUEST_PASSWORD,
                    **fields,
                },
                timeout=CLIENT_TIMEOUT * 4,
                allow_redirects=False,
            )
            for guest, username, fields in guests
        ]
    )

    no_server_error(responses)
    # One guest is signed in; every other is sent back to the start, the key refused.
    answers = [(r.status_code, r.headers.get("Location", "")) for r in responses]
    restarted = [answer for answer in answers if answer == (302, "/register/")]
    assert len(restarted) == len(guests) - 1, answers
    usernames = [username for _, username, _ in guests]
    accounts = db.rows("SELECT id FROM accounts_user WHERE username = ANY(%s)", usernames)
    assert len(accounts) == 1, accounts
    status, account = db.rows(
        "SELECT status, account_id FROM guests_sponsorship WHERE id = %s", people["sponsorship"]
    )[0]
    assert (status, account) == ("registered", accounts[0][0])
    keys = db.rows(
        "SELECT used_at IS NOT NULL FROM guests_guestkey WHERE sponsorship_id = %s",
        people["sponsorship"],
    )
    assert keys == [(True,)]
    assert events(db, "registration.completed", account) == 1
