from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse

from accounts.models import SignInFailure, User
from accounts.services.passwords import password_set
from audit.models import AuditEvent
from delivery.models import Message
from tests.factories import DEFAULT_PASSWORD, PersonFactory, UserFactory
from tests.helpers import page_text, post_login

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")


@pytest.fixture
def hasher_calls(monkeypatch) -> list[int]:
    """One entry per password verification, or per wait that stands in for one: the time a
    request takes, in verifications."""
    from portal.hashers import PortalArgon2PasswordHasher

    calls: list[int] = []
    original = PortalArgon2PasswordHasher.verify

    def counting(self, password, encoded):
        calls.append(1)
        return original(self, password, encoded)

    monkeypatch.setattr(PortalArgon2PasswordHasher, "verify", counting)
    # A verification that must not run is a wait as long as one (portal.hashers): it counts.
    import accounts.services.passwords

    waiting = accounts.services.passwords.verification_wait

    def counted_wait():
        calls.append(1)
        waiting()

    monkeypatch.setattr(accounts.services.passwords, "verification_wait", counted_wait)
    return calls


def test_sign_in_with_username_rotates_session_and_lands_home(client):
    user = UserFactory()
    client.get(LOGIN)
    before = client.cookies.get("sessionid")
    response = post_login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == reverse("home")
    assert client.cookies["sessionid"].value != (before.value if before else None)
    assert AuditEvent.objects.filter(event="signin.succeeded", subject=user).exists()


def test_sign_in_with_harvard_id(client):
    user = UserFactory()
    response = post_login(client, user.person.huid, DEFAULT_PASSWORD)
    assert response.status_code == HTTPStatus.FOUND
    assert int(client.session["_auth_user_id"]) == user.pk


@pytest.mark.parametrize("variant", ["  {u}  ", "{U}", "{u}\t"])
def test_username_case_and_spaces_are_one_account(client, variant):
    user = UserFactory()
    typed = variant.format(u=user.username, U=user.username.upper())
    assert post_login(client, typed, DEFAULT_PASSWORD).status_code == HTTPStatus.FOUND


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    user = UserFactory()
    wrong = post_login(client, user.username, "not the password at all")
    unknown = post_login(client, "nobody.here", "not the password at all")
    assert wrong.status_code == unknown.status_code == HTTPStatus.OK
    assert page_text(wrong, user.username) == page_text(unknown, "nobody.here")
    assert b"username or password is not right" in wrong.content


def test_unknown_user_runs_the_hasher_as_often_as_a_wrong_password(client, hasher_calls):
    calls = hasher_calls
    user = UserFactory()
    password_set(user=user, raw_password="a brand new passphrase 1")
    calls.clear()
    post_login(client, user.username, "wrong wrong wrong wrong")
    known = len(calls)
    calls.clear()
    post_login(client, "missing.person", "wrong wrong wrong wrong")
    unknown = len(calls)
    calls.clear()
    User.objects.filter(pk=user.pk).update(locked_at="2026-01-01T00:00:00Z")
    post_login(client, user.username, "wrong wrong wrong wrong")
    assert known == unknown == len(calls) >= 1


def test_next_is_followed_only_to_same_site_paths(client):
    user = UserFactory()
    ok = post_login(client, user.username, DEFAULT_PASSWORD, next="/whitepages/?q=a")
    assert ok.url == "/whitepages/?q=a"
    for evil in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\\/evil.example",
        "http:evil.example",
    ]:
        client.logout()
        response = post_login(client, user.username, DEFAULT_PASSWORD, next=evil)
        assert response.url == reverse("home"), evil


def test_logout_is_post_only(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert client.post(reverse("accounts:logout")).status_code == HTTPStatus.FOUND
    assert "_auth_user_id" not in client.session


def refused_page(response, typed: str) -> bytes:
    assert response.status_code == HTTPStatus.OK
    return page_text(response, typed)


@pytest.mark.parametrize(
    "make_account",
    [
        pytest.param(lambda: UserFactory(person=PersonFactory(is_active=False)), id="left"),
        pytest.param(
            lambda: UserFactory(
                person=None, kind=User.Kind.AFFILIATE, status=User.Status.PENDING_APPROVAL
            ),
            id="pending",
        ),
        pytest.param(lambda: UserFactory(status=User.Status.REFUSED), id="refused"),
        pytest.param(lambda: UserFactory(status=User.Status.DEACTIVATED), id="deactivated"),
        pytest.param(lambda: UserFactory(is_active=False), id="disabled"),
    ],
)
def test_an_account_that_cannot_sign_in_answers_alike_for_right_and_wrong_passwords(
    client, make_account
):
    user = make_account()
    right = post_login(client, user.username, DEFAULT_PASSWORD)
    assert "_auth_user_id" not in client.session
    wrong = post_login(client, user.username, "guess guess guess")
    assert refused_page(right, user.username) == refused_page(wrong, user.username)
    assert b"username or password is not right" in right.content


def test_lockout_after_ten_failures_never_confirms_the_password(client):
    user = UserFactory()
    for _ in range(9):
        post_login(client, user.username, "wrong password here")
    user.refresh_from_db()
    assert user.failed_login_count == 9 and not user.is_locked
    post_login(client, user.username, "wrong password here")
    user.refresh_from_db()
    assert user.is_locked
    assert AuditEvent.objects.filter(event="account.locked", subject=user).count() == 1
    wrong = post_login(client, user.username, "wrong password here")
    user.refresh_from_db()
    assert user.failed_login_count == 10, "attempts while locked do not move the counter"
    right = post_login(client, user.username, DEFAULT_PASSWORD)
    assert "_auth_user_id" not in client.session
    # The right password on a locked account reads exactly like a wrong one, so guessing on
    # past the lock learns nothing; the person learns of the lock from the notice and the
    # rule and unlock link that every sign-in page shows.
    assert page_text(right, user.username) == page_text(wrong, user.username)
    assert b"This account is locked" not in right.content
    assert b"Ten wrong passwords in a row lock an account" in right.content
    assert reverse("accounts:unlock").encode() in right.content
    assert Message.objects.filter(recipient=user.email, purpose="account_locked").count() == 1


def test_right_and_wrong_password_on_a_locked_account_cost_the_same_hashing(client, hasher_calls):
    calls = hasher_calls
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(locked_at="2026-01-01T00:00:00Z", failed_login_count=10)
    client.post(LOGIN, {"username": user.username, "password": "wrong wrong wrong"})
    wrong = len(calls)
    calls.clear()
    client.post(LOGIN, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert len(calls) == wrong >= 1


def test_success_resets_counter(client):
    user = UserFactory()
    for _ in range(3):
        post_login(client, user.username, "wrong password here")
    post_login(client, user.username, DEFAULT_PASSWORD)
    user.refresh_from_db()
    assert user.failed_login_count == 0


@pytest.mark.django_db(transaction=True)
def test_previous_password_does_not_count_and_warns_by_email(client, outbox):
    user = UserFactory()
    password_set(user=user, raw_password="the second passphrase")
    response = post_login(client, user.username, DEFAULT_PASSWORD)
    assert b"username or password is not right" in response.content
    user.refresh_from_db()
    assert user.failed_login_count == 0
    assert AuditEvent.objects.filter(event="signin.old_password", subject=user).exists()
    assert any("old" in m.subject.lower() and m.recipient == user.email for m in outbox)


def test_password_is_normalised_nfkc(client):
    user = UserFactory()
    password_set(user=user, raw_password="ｆｕｌｌｗｉｄｔｈ passphrase")
    assert post_login(client, user.username, "fullwidth passphrase").status_code == HTTPStatus.FOUND


def test_ip_throttle_answers_429_and_never_locks_an_account(client, settings):
    settings.ACCOUNTS_IP_FAILURE_LIMIT = 3
    victim = UserFactory()
    for i in range(3):
        post_login(client, f"sprayed{i}", "Winter2026!")
    response = post_login(client, victim.username, DEFAULT_PASSWORD)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    victim.refresh_from_db()
    assert victim.failed_login_count == 0 and not victim.is_locked
    other_ip = client.post(
        LOGIN, {"username": victim.username, "password": DEFAULT_PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert other_ip.status_code == HTTPStatus.FOUND


def test_forwarded_for_is_ignored_without_trusted_proxy(client, settings):
    settings.ACCOUNTS_IP_FAILURE_LIMIT = 2
    for i in range(2):
        client.post(
            LOGIN, {"username": f"x{i}", "password": "p"}, HTTP_X_FORWARDED_FOR=f"1.2.3.{i}"
        )
    assert set(SignInFailure.objects.values_list("ip", flat=True)) == {"127.0.0.1"}


def test_pbkdf2_hash_is_upgraded_to_argon2_on_sign_in(client):
    from django.contrib.auth.hashers import make_password

    user = UserFactory()
    User.objects.filter(pk=user.pk).update(
        password=make_password(DEFAULT_PASSWORD, hasher="pbkdf2_sha256")
    )
    post_login(client, user.username, DEFAULT_PASSWORD)
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password(DEFAULT_PASSWORD, user.password)


def test_the_lock_notice_reaches_the_safecode_email_too(client):
    from django.utils import timezone

    from safecode.models import Channel

    user = UserFactory()
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address="personal@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    for attempt in range(10):
        post_login(client, user.username, f"wrong password {attempt}")
    notices = Message.objects.filter(purpose="account_locked")
    assert sorted(notices.values_list("recipient", flat=True)) == sorted(
        [user.email, "personal@example.org"]
    )


def test_repeated_failures_warn_before_the_lock_alike_for_any_name(client):
    user = UserFactory()
    for attempt in range(4):
        page = post_login(client, user.username, f"wrong password {attempt}")
        assert b"sign-ins with this name failed" not in page.content
        post_login(client, "nobody.named.so", f"wrong password {attempt}")
    quiet = post_login(client, user.username, "wrong password 4")
    assert b"5 sign-ins with this name failed" in quiet.content
    known = post_login(client, user.username, "wrong password 5")
    post_login(client, "nobody.named.so", "wrong password 4")
    unknown = post_login(client, "nobody.named.so", "wrong password 5")
    assert b"sign-ins with this name failed in the last 15 minutes" in known.content
    assert page_text(known, user.username) == page_text(unknown, "nobody.named.so")
    user.refresh_from_db()
    assert not user.is_locked
