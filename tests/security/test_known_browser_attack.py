"""Attacks on the known-browser cookie and on the CAPTCHA a spray across the portal sets off,
performed over HTTP as an outside attacker would.

The cookie ("portal_known", ``accounts.services.known_browsers``) is bearer proof that a
sign-in once succeeded in a browser for a name. Stolen and replayed from another browser it
may spare that name, and that name only, the portal-wide spray CAPTCHA; it must never spare
it the per-name or per-IP CAPTCHA, the per-IP throttle, the lock or the second factor, and it
must stop vouching when it expires. Forged, truncated, oversized or duplicated, it vouches for
no one and never breaks the page.

While the CAPTCHA is asked for, a right and a wrong password get the same answer byte for byte
and no password is hashed; the redirect that asks for it goes nowhere but the sign-in page.

Every attempt comes from an address of its own unless a per-IP rule is what is attacked, as a
botnet spraying the portal would send them.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from urllib.parse import quote

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import SignInFailure
from accounts.services.known_browsers import COOKIE_NAME
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, UserFactory, lock
from tests.helpers import (
    captcha_answer,
    in_threads,
    is_captcha_redirect,
    on_postgresql,
    page_text,
    post_login,
)
from tests.twofactor.conftest import VERIFY, make_device, second_step, signed_in_as

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
LOGOUT = reverse("accounts:logout")
PREFERENCES = reverse("accounts:preferences")
SPRAY = 12
RACERS = 10
WRONG_CREDENTIALS = b"The username or password is not right"
CAPTCHA_NEEDED = b"type the characters in the picture as well"
CAPTCHA_FOR_EVERYONE = b"the portal now asks for the characters in the picture"
# The production defaults (accounts.app_settings), which the tests below rely on.
LOCKOUT_THRESHOLD = 10
NAME_CAPTCHA_AFTER = 3
IP_CAPTCHA_AFTER = 5
KNOWN_BROWSER_DAYS = 180


@pytest.fixture(autouse=True)
def pressure_after_a_dozen(settings):
    settings.ACCOUNTS_SIGNIN_PRESSURE_FAILURES = SPRAY


@pytest.fixture
def verifications(monkeypatch) -> list[tuple[str, str]]:
    """Every password verification, as ("hash", the stored hash it was checked against), and
    every wait that stands in for one, as ("wait", "")."""
    import accounts.services.passwords
    from portal.hashers import PortalArgon2PasswordHasher

    seen: list[tuple[str, str]] = []
    verify = PortalArgon2PasswordHasher.verify
    wait = accounts.services.passwords.verification_wait

    def counted_verify(self, password, encoded):
        seen.append(("hash", encoded))
        return verify(self, password, encoded)

    def counted_wait():
        seen.append(("wait", ""))
        wait()

    monkeypatch.setattr(PortalArgon2PasswordHasher, "verify", counted_verify)
    monkeypatch.setattr(accounts.services.passwords, "verification_wait", counted_wait)
    return seen


def hashed_against(verifications, user) -> int:
    """How many typed passwords were checked against ``user``'s password."""
    user.refresh_from_db()
    return sum(1 for kind, encoded in verifications if kind == "hash" and encoded == user.password)


_addresses = iter(range(1, 60_000))


def address() -> str:
    """An address no other attempt of the test used."""
    n = next(_addresses)
    return f"198.18.{n // 250}.{n % 250 + 1}"


def browser(cookie: str | None = None, at: str | None = None) -> Client:
    """A browser of its own at an address of its own, holding ``cookie`` as its known-browser
    cookie when given (what a thief copies from someone else's browser)."""
    client = Client(REMOTE_ADDR=at or address())
    if cookie is not None:
        client.cookies[COOKIE_NAME] = cookie
    return client


def attempt(client, username, password, **data):
    return client.post(LOGIN, {"username": username, "password": password, **data})


def spray(count: int = SPRAY) -> None:
    """Wrong passwords at names no one has, one per address: the portal comes under pressure."""
    for n in range(count):
        attempt(browser(), f"nobody.{n}", f"Spring{n}!")


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def known_cookie(user) -> str:
    """The cookie of a browser in which ``user`` signed in and then out, as a thief finds it."""
    home = browser()
    answer = post_login(home, user.username, DEFAULT_PASSWORD)
    assert answer.status_code == HTTPStatus.FOUND and signed_in(home)
    home.post(LOGOUT)
    return home.cookies[COOKIE_NAME].value


def asked_for_captcha(answer) -> bool:
    """The password was not taken: the answer sends the browser to answer a CAPTCHA first
    (a redirect to the sign-in page, or the page again with a picture and no verdict)."""
    if is_captcha_redirect(answer):
        return True
    return (
        answer.status_code == HTTPStatus.OK
        and b'name="captcha_0"' in answer.content
        and WRONG_CREDENTIALS not in answer.content
    )


# 1. A cookie stolen from someone's browser and replayed ---------------------------------------


def test_a_replayed_cookie_spares_its_own_name_the_spray_captcha_and_no_other_name(
    verifications,
):
    person, other = UserFactory(), UserFactory()
    cookie = known_cookie(person)
    spray()
    verifications.clear()

    # Bearer proof of a past sign-in: the thief's guess for that name is checked and refused.
    thief = browser(cookie)
    answer = attempt(thief, person.username, "a guess of the thief")
    assert answer.status_code == HTTPStatus.OK
    assert WRONG_CREDENTIALS in answer.content
    assert hashed_against(verifications, person) == 1
    assert not signed_in(thief)

    # For any other name, an account or none, the right password or not, it is worth nothing.
    for name, password in (
        (other.username, DEFAULT_PASSWORD),
        (other.person.huid, DEFAULT_PASSWORD),
        (other.username.upper(), "a guess of the thief"),
        ("no.such.person", "a guess of the thief"),
    ):
        verifications.clear()
        failures = SignInFailure.objects.count()
        thief = browser(cookie)
        answer = attempt(thief, name, password)
        assert asked_for_captcha(answer), name
        assert verifications == [], f"a password for {name!r} was checked before the CAPTCHA"
        assert SignInFailure.objects.count() == failures
        assert not signed_in(thief)


@pytest.mark.parametrize("username", ["3141-5926", "31-415-926", "-31415926-"])
def test_a_username_that_reads_as_a_harvard_id_is_refused(username):
    """The sign-in page reads 8 digits with hyphens as a Harvard ID, so no account may be
    named so: it would never sign in by its name, and its browser would be known for the ID."""
    with pytest.raises(ValidationError, match="read as a Harvard ID"):
        UserFactory.build(username=username).full_clean(exclude=["password", "person"])


def test_a_cookie_for_a_username_that_reads_as_a_harvard_id_does_not_vouch_for_that_id(
    verifications,
):
    """An account named before the rule above ("3141-5926", which the sign-in page reads as
    the Harvard ID 31415926): an attacker who signed in to it in his own browser must not be
    spared the spray CAPTCHA for the person whose Harvard ID it reads as."""
    victim = UserFactory(person__huid="31415926")
    attacker = UserFactory(username="3141-5926")  # saved without the username rule
    home = browser()
    assert post_login(home, attacker.person.huid, DEFAULT_PASSWORD).status_code == HTTPStatus.FOUND
    assert signed_in_as(home) == attacker.pk
    home.post(LOGOUT)
    cookie = home.cookies[COOKIE_NAME].value
    spray()
    verifications.clear()

    thief = browser(cookie)
    answer = attempt(thief, attacker.username, "a guess at the victim's password")

    assert asked_for_captcha(answer), "the attacker's cookie vouched for another account"
    assert hashed_against(verifications, victim) == 0
    victim.refresh_from_db()
    assert victim.failed_login_count == 0


@pytest.mark.parametrize(
    "typed",
    ["31415926", " ３１４１５９２６ ", "3141-5926", "3141 5926", "31-415-926", "3 1 4 1 5 9 2 6"],
)
def test_the_per_name_captcha_counts_every_way_of_typing_one_harvard_id(verifications, typed):
    """The sign-in page takes a Harvard ID typed with spaces or hyphens as that ID, so the
    failures counted for the typed name must count all those ways as one name, as they count
    a username's case and surrounding spaces (no spray here: the per-name rule alone)."""
    victim = UserFactory(person__huid="31415926")
    for n in range(NAME_CAPTCHA_AFTER):
        assert WRONG_CREDENTIALS in attempt(browser(), victim.person.huid, f"guess {n}").content
    verifications.clear()

    bot = browser()
    answer = attempt(bot, typed, DEFAULT_PASSWORD)

    assert asked_for_captcha(answer), f"{typed!r} escaped the failures counted for the ID"
    assert verifications == []
    assert not signed_in(bot)


def test_a_replayed_cookie_does_not_spare_its_name_the_captcha_that_failures_for_it_set_off(
    verifications,
):
    person = UserFactory()
    cookie = known_cookie(person)
    spray()
    for n in range(NAME_CAPTCHA_AFTER):
        assert WRONG_CREDENTIALS in attempt(browser(cookie), person.username, f"guess {n}").content
    verifications.clear()

    thief = browser(cookie)
    answer = attempt(thief, person.username, DEFAULT_PASSWORD)

    assert asked_for_captcha(answer)
    assert verifications == []
    assert not signed_in(thief)


def test_a_replayed_cookie_does_not_spare_an_address_with_failures_the_captcha(verifications):
    person = UserFactory()
    cookie = known_cookie(person)
    here = address()
    for n in range(IP_CAPTCHA_AFTER):
        post_login(browser(at=here), f"someone.else.{n}", "a guess")
    spray()
    verifications.clear()

    thief = browser(cookie, at=here)
    answer = attempt(thief, person.username, DEFAULT_PASSWORD)

    assert asked_for_captcha(answer)
    assert verifications == []
    assert not signed_in(thief)


def test_a_replayed_cookie_does_not_lift_the_per_address_throttle(settings, verifications):
    settings.ACCOUNTS_IP_FAILURE_LIMIT = IP_CAPTCHA_AFTER + 1
    person = UserFactory()
    cookie = known_cookie(person)
    here = address()
    for n in range(IP_CAPTCHA_AFTER + 1):
        post_login(browser(at=here), f"someone.else.{n}", "a guess")
    spray()
    thief = browser(cookie, at=here)
    page = thief.get(LOGIN)
    verifications.clear()

    # Even with the CAPTCHA answered and the right password, the address is throttled.
    answer = attempt(thief, person.username, DEFAULT_PASSWORD, **captcha_answer(page))

    assert answer.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert verifications == []
    assert not signed_in(thief)


def test_a_replayed_cookie_does_not_open_a_locked_account(verifications):
    person = UserFactory()
    cookie = known_cookie(person)
    lock(person)
    spray()
    verifications.clear()

    thief = browser(cookie)
    right = attempt(thief, person.username, DEFAULT_PASSWORD)
    wrong = attempt(browser(cookie), person.username, "a guess of the thief")

    assert right.status_code == wrong.status_code == HTTPStatus.OK
    assert page_text(right) == page_text(wrong)
    assert WRONG_CREDENTIALS in right.content
    assert not signed_in(thief)
    assert thief.get(PREFERENCES).status_code == HTTPStatus.FOUND
    person.refresh_from_db()
    assert person.is_locked
    assert person.failed_login_count == LOCKOUT_THRESHOLD, "attempts while locked were counted"
    # The cookie spared the picture; the lock answered, at the cost of a wrong password.
    assert hashed_against(verifications, person) == 2


def test_a_replayed_cookie_and_the_right_password_still_meet_the_second_factor(settings):
    settings.TWOFACTOR_REQUIRED_FOR = "all"
    person = UserFactory()
    ChannelFactory(user=person)
    device = make_device(person, name="My iPhone", number="+16175550142")
    home = browser()
    assert post_login(home, person.username, DEFAULT_PASSWORD).url == VERIFY
    second_step(home, device)
    assert signed_in_as(home) == person.pk
    home.post(LOGOUT)
    cookie = home.cookies[COOKIE_NAME].value
    spray()

    thief = browser(cookie)
    answer = attempt(thief, person.username, DEFAULT_PASSWORD)

    # The cookie spared the picture, and nothing more: the second step is asked for.
    assert answer.status_code == HTTPStatus.FOUND and answer.url == VERIFY
    assert signed_in_as(thief) is None
    preferences = thief.get(PREFERENCES)
    assert preferences.status_code == HTTPStatus.FOUND
    assert preferences.url.startswith(LOGIN)
    assert signed_in_as(thief) is None


def test_a_stolen_cookie_stops_vouching_when_it_expires(verifications):
    person = UserFactory()
    signed_at = timezone.now()
    with time_machine.travel(signed_at, tick=False):
        cookie = known_cookie(person)
    lifetime = timedelta(days=KNOWN_BROWSER_DAYS)

    for offset, vouches in ((timedelta(seconds=-1), True), (timedelta(seconds=1), False)):
        with time_machine.travel(signed_at + lifetime + offset, tick=False):
            spray()
            verifications.clear()
            thief = browser(cookie)
            answer = attempt(thief, person.username, "a guess of the thief")
            if vouches:
                assert WRONG_CREDENTIALS in answer.content
                assert hashed_against(verifications, person) == 1
            else:
                assert asked_for_captcha(answer)
                assert verifications == []
            assert not signed_in(thief)


# 2. Ten guesses at once with a stolen cookie ------------------------------------------------


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_guesses_at_once_with_a_stolen_cookie_lock_the_account_once_at_its_threshold(
    settings, verifications
):
    """The per-name CAPTCHA (three failures) is set aside so that the lock is what stops the
    guesses: ten at once, each from its own address, with the cookie of the person's browser,
    while the spray rule is on."""
    settings.ACCOUNTS_SIGNIN_CAPTCHA_LOGIN_FAILURES = 2 * RACERS + 1
    assert RACERS == LOCKOUT_THRESHOLD
    person = UserFactory()
    cookie = known_cookie(person)
    spray()
    verifications.clear()
    thieves = [browser(cookie) for _ in range(RACERS)]

    def guess(i: int):
        answer = attempt(thieves[i], person.username, f"guess number {i}")
        return answer.status_code, WRONG_CREDENTIALS in answer.content, signed_in(thieves[i])

    results = in_threads(guess, RACERS)

    assert all(status < HTTPStatus.INTERNAL_SERVER_ERROR for status, _, _ in results), results
    assert results == [(HTTPStatus.OK, True, False)] * RACERS
    person.refresh_from_db()
    assert person.is_locked
    # Every guess was counted, none was lost and none was checked without being counted.
    assert person.failed_login_count == LOCKOUT_THRESHOLD
    assert hashed_against(verifications, person) == LOCKOUT_THRESHOLD
    assert SignInFailure.objects.filter(user=person).count() == RACERS
    assert AuditEvent.objects.filter(event="account.locked", subject=person).count() == 1
    assert Message.objects.filter(user=person, purpose__contains="account_locked").count() == 1

    # Ten more at once, one of them the right password: the lock answers them all alike.
    thieves = [browser(cookie) for _ in range(RACERS)]

    def after_the_lock(i: int):
        password = DEFAULT_PASSWORD if i == 0 else f"guess number {RACERS + i}"
        answer = attempt(thieves[i], person.username, password)
        return answer.status_code, WRONG_CREDENTIALS in answer.content, signed_in(thieves[i])

    results = in_threads(after_the_lock, RACERS)

    assert results == [(HTTPStatus.OK, True, False)] * RACERS
    person.refresh_from_db()
    assert person.is_locked
    assert person.failed_login_count == LOCKOUT_THRESHOLD
    assert AuditEvent.objects.filter(event="account.locked", subject=person).count() == 1
    assert Message.objects.filter(user=person, purpose__contains="account_locked").count() == 1


# 3. While the CAPTCHA is asked for, a right password reads as a wrong one --------------------


def no_picture(client, username, password):
    """Posted from a page that showed no CAPTCHA."""
    return attempt(client, username, password)


def wrong_picture(client, username, password):
    """The page's CAPTCHA answered wrongly."""
    key = captcha_answer(client.get(LOGIN))["captcha_0"]
    return attempt(client, username, password, captcha_0=key, captcha_1="WRONG")


@pytest.mark.parametrize(
    ("how", "cookie_of_another"),
    [(no_picture, False), (wrong_picture, False), (no_picture, True)],
    ids=["no-answer", "wrong-answer", "cookie-of-another-name"],
)
def test_while_a_captcha_is_asked_a_right_and_a_wrong_password_get_one_answer_and_no_hash(
    verifications, how, cookie_of_another
):
    victim = UserFactory()
    # The attacker's own account: its cookie vouches for the attacker's name, not the victim's.
    cookie = known_cookie(UserFactory()) if cookie_of_another else None
    spray()
    verifications.clear()
    failures = SignInFailure.objects.count()

    right_browser, wrong_browser = browser(cookie), browser(cookie)
    right = how(right_browser, victim.username, DEFAULT_PASSWORD)
    wrong = how(wrong_browser, victim.username, "not the password at all")

    assert asked_for_captcha(right)
    assert right.status_code == wrong.status_code
    assert right.get("Location") == wrong.get("Location")
    assert page_text(right) == page_text(wrong)
    assert dict(right.headers) == dict(wrong.headers)
    assert sorted(right.cookies) == sorted(wrong.cookies)
    # The CSRF cookie is new in every browser; any other cookie must say the same.
    said = [name for name in sorted(right.cookies) if name != django_settings.CSRF_COOKIE_NAME]
    assert [right.cookies[name].value for name in said] == [
        wrong.cookies[name].value for name in said
    ]
    assert verifications == [], "a password was checked before the CAPTCHA"
    assert SignInFailure.objects.count() == failures
    assert not signed_in(right_browser)


# 4. The redirect that asks for the CAPTCHA ---------------------------------------------------

HOSTILE_NEXT = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "///evil.example",
    "/\t/evil.example",
    "https:evil.example",
    "http://testserver@evil.example",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("where", ["query", "form"])
@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_the_captcha_redirect_goes_to_the_sign_in_page_only(where, target):
    person = UserFactory()
    spray()
    bot = browser()
    url = f"{LOGIN}?next={quote(target)}" if where == "query" else LOGIN
    extra = {"next": target} if where == "form" else {}

    answer = bot.post(url, {"username": person.username, "password": DEFAULT_PASSWORD, **extra})

    assert answer.status_code == HTTPStatus.FOUND
    assert answer["Location"] == LOGIN
    assert person.username not in answer["Location"]
    # Answered, the CAPTCHA signs the person in at the portal, not at the hostile target.
    page = bot.get(answer["Location"])
    assert page.status_code == HTTPStatus.OK
    assert b"evil.example" not in page.content
    signed = attempt(bot, person.username, DEFAULT_PASSWORD, **captcha_answer(page))
    assert signed.status_code == HTTPStatus.FOUND
    assert signed["Location"] == reverse("home")
    assert signed_in(bot)


def test_the_captcha_redirect_keeps_a_safe_target_and_no_name_and_ends(verifications):
    person = UserFactory(username="maya.typed.name")
    spray()
    bot = browser()
    verifications.clear()

    answer = bot.post(
        f"{LOGIN}?next={quote(PREFERENCES)}",
        {"username": person.username, "password": DEFAULT_PASSWORD},
    )

    assert answer.status_code == HTTPStatus.FOUND
    assert answer["Location"] == f"{LOGIN}?next={quote(PREFERENCES, safe='')}"
    assert "maya" not in answer["Location"].lower()
    assert verifications == []
    # Not a loop: the page it sends to shows the picture, and answering it signs in.
    page = bot.get(answer["Location"])
    assert page.status_code == HTTPStatus.OK
    assert b'name="captcha_0"' in page.content
    assert CAPTCHA_FOR_EVERYONE in page.content
    signed = bot.post(
        answer["Location"],
        {"username": person.username, "password": DEFAULT_PASSWORD, **captcha_answer(page)},
    )
    assert signed.status_code == HTTPStatus.FOUND
    assert signed["Location"] == PREFERENCES
    assert signed_in(bot)


def test_a_post_that_answered_the_captcha_is_never_sent_back_to_the_sign_in_page():
    """A wrong answer, an empty one, or a spent picture: the page again, with its error, never
    the redirect (which would send the person round the same page forever)."""
    person = UserFactory()
    spray()
    bot = browser()
    spent = captcha_answer(bot.get(LOGIN))
    attempt(bot, person.username, "a first try", **spent)

    for answer_fields in (
        {**captcha_answer(bot.get(LOGIN)), "captcha_1": "WRONG"},
        {**captcha_answer(bot.get(LOGIN)), "captcha_1": ""},
        spent,
    ):
        answer = attempt(bot, person.username, DEFAULT_PASSWORD, **answer_fields)
        assert answer.status_code == HTTPStatus.OK, answer_fields
        assert b"do not match the picture" in answer.content or b"Type the characters" in (
            answer.content
        )
        assert b'name="captcha_0"' in answer.content
        assert not signed_in(bot)


# 5. Tampered cookies -------------------------------------------------------------------------


def tampered(kind: str, mine: str, theirs: str, other_signed: str) -> str:
    """A Cookie header holding a forged known-browser cookie for the victim's name.

    ``mine`` is a real cookie for the victim's name, ``theirs`` one for another account, and
    ``other_signed`` another value the portal signs (its messages cookie)."""
    payload, _, _ = mine.rsplit(":", 2)
    _, their_stamp, their_signature = theirs.rsplit(":", 2)
    if kind == "truncated":
        return f"{COOKIE_NAME}={mine[:-6]}"
    if kind == "signature-of-another-name":
        return f"{COOKIE_NAME}={payload}:{their_stamp}:{their_signature}"
    if kind == "another-signed-value":
        return f"{COOKIE_NAME}={other_signed}"
    if kind == "huge":
        return f"{COOKIE_NAME}={mine}{'A' * 100_000}"
    if kind == "non-ascii":
        # As a WSGI server hands on UTF-8 bytes it cannot decode: one character per byte.
        return f"{COOKIE_NAME}={mine}é名".encode().decode("latin-1")
    if kind == "non-ascii-only":
        return f"{COOKIE_NAME}=名前:ナマエ:署名".encode().decode("latin-1")
    if kind == "garbage":
        return f"{COOKIE_NAME}=!!!:???:***"
    if kind == "duplicates":
        return "; ".join(f"{COOKIE_NAME}=forged{n}:1abc:xyz" for n in range(500))
    if kind == "real-then-duplicates":
        return "; ".join(
            [f"{COOKIE_NAME}={mine}"] + [f"{COOKIE_NAME}=forged{n}" for n in range(50)]
        )
    raise AssertionError(kind)


TAMPERED = [
    "truncated",
    "signature-of-another-name",
    "another-signed-value",
    "huge",
    "non-ascii",
    "non-ascii-only",
    "garbage",
    "duplicates",
    "real-then-duplicates",
]


@pytest.mark.parametrize("kind", TAMPERED)
def test_a_tampered_cookie_is_no_cookie(verifications, kind):
    person, other = UserFactory(), UserFactory()
    mine, theirs = known_cookie(person), known_cookie(other)
    spray()
    messages = attempt(browser(), person.username, DEFAULT_PASSWORD).cookies["messages"].value
    header = tampered(kind, mine, theirs, messages)
    verifications.clear()

    bot = browser()
    page = bot.get(LOGIN, HTTP_COOKIE=header)
    answer = bot.post(
        LOGIN, {"username": person.username, "password": DEFAULT_PASSWORD}, HTTP_COOKIE=header
    )
    without = browser().post(LOGIN, {"username": person.username, "password": DEFAULT_PASSWORD})

    assert page.status_code == HTTPStatus.OK
    assert b'name="captcha_0"' in page.content, "the page took the cookie for a known browser"
    assert answer.status_code == without.status_code == HTTPStatus.FOUND
    assert answer["Location"] == without["Location"] == LOGIN
    assert verifications == []
    assert not signed_in(bot)
