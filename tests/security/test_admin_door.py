"""The service-desk console is no second door: it is entered only through the portal's sign-in.

Each test performs the attack over HTTP as it was performed against the portal: a locked
account signing in at /admin/login/, forty wrong passwords posted there, an expired password,
and ``authenticate()`` called directly, as any later door would.
"""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import SignInFailure, User
from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import post_login

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = reverse("admin:login")
ADMIN = reverse("admin:index")


@pytest.fixture
def desk_user():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Service desk"))
    return user


def test_the_admin_sign_in_page_sends_people_to_the_portal_sign_in(client):
    response = client.get(ADMIN_LOGIN, {"next": ADMIN})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == f"{reverse('accounts:login')}?next={ADMIN}"
    chain = client.get(ADMIN, follow=True).redirect_chain
    assert chain[-1][0].startswith(reverse("accounts:login"))


def test_a_locked_account_does_not_sign_in_at_the_admin(client, desk_user):
    User.objects.filter(pk=desk_user.pk).update(locked_at=timezone.now(), failed_login_count=10)
    response = client.post(
        f"{ADMIN_LOGIN}?next={ADMIN}",
        {"username": desk_user.username, "password": DEFAULT_PASSWORD, "next": ADMIN},
    )
    assert "_auth_user_id" not in client.session
    assert response.status_code == HTTPStatus.FOUND
    assert client.get(ADMIN).status_code == HTTPStatus.FOUND  # still sent to sign in
    # Nor through the portal's sign-in, which the admin's now leads to.
    post_login(client, desk_user.username, DEFAULT_PASSWORD, next=ADMIN)
    assert "_auth_user_id" not in client.session


def test_forty_wrong_passwords_at_the_admin_never_sign_in_and_never_check_a_password(
    client, desk_user
):
    for attempt in range(40):
        client.post(ADMIN_LOGIN, {"username": desk_user.username, "password": f"guess {attempt}"})
    assert "_auth_user_id" not in client.session
    # The admin's page checks no password at all: nothing to count, nothing to confirm.
    assert not SignInFailure.objects.exists()
    desk_user.refresh_from_db()
    assert desk_user.failed_login_count == 0


def test_authenticate_applies_lockout_counting_and_the_captcha_rule(desk_user):
    """Any caller of authenticate() (a later door) gets the sign-in service's rules."""
    request = RequestFactory().post("/anything/")
    for attempt in range(40):
        assert authenticate(request, username=desk_user.username, password=f"no {attempt}") is None
    desk_user.refresh_from_db()
    # Three wrong passwords for one name ask for a CAPTCHA, which this door cannot show:
    # it stops checking passwords instead of letting guessing go on.
    assert desk_user.failed_login_count == app_settings.SIGNIN_CAPTCHA_LOGIN_FAILURES
    assert authenticate(request, username=desk_user.username, password=DEFAULT_PASSWORD) is None
    assert AuditEvent.objects.filter(event="signin.captcha_required").count() >= 38


def test_authenticate_refuses_a_locked_account_with_the_right_password(desk_user):
    User.objects.filter(pk=desk_user.pk).update(locked_at=timezone.now(), failed_login_count=10)
    request = RequestFactory().post("/anything/")
    assert authenticate(request, username=desk_user.username, password=DEFAULT_PASSWORD) is None
    assert SignInFailure.objects.filter(user=desk_user).count() == 1


def test_authenticate_counts_failures_toward_the_lock(desk_user, settings):
    settings.ACCOUNTS_SIGNIN_CAPTCHA_LOGIN_FAILURES = 100
    settings.ACCOUNTS_SIGNIN_CAPTCHA_IP_FAILURES = 100
    request = RequestFactory().post("/anything/")
    for attempt in range(10):
        authenticate(request, username=desk_user.username, password=f"no {attempt}")
    desk_user.refresh_from_db()
    assert desk_user.is_locked
    assert authenticate(request, username=desk_user.username, password=DEFAULT_PASSWORD) is None


def test_authenticate_refuses_an_expired_password(desk_user, settings):
    User.objects.filter(pk=desk_user.pk).update(
        password_changed_at=timezone.now() - timedelta(days=366)
    )
    request = RequestFactory().post("/anything/")
    assert authenticate(request, username=desk_user.username, password=DEFAULT_PASSWORD) is None


def test_an_expired_password_is_replaced_before_the_console_opens(client, desk_user):
    User.objects.filter(pk=desk_user.pk).update(
        password_changed_at=timezone.now() - timedelta(days=366)
    )
    response = post_login(client, desk_user.username, DEFAULT_PASSWORD, next=ADMIN)
    assert response.url == reverse("accounts:password_expired")
    assert "_auth_user_id" not in client.session
    assert client.get(ADMIN).status_code == HTTPStatus.FOUND


def test_a_desk_user_reaches_the_console_through_the_portal_sign_in(client, desk_user):
    response = client.get(ADMIN, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("accounts:login"))
    signed_in = post_login(client, desk_user.username, DEFAULT_PASSWORD, next=ADMIN)
    assert signed_in.url == ADMIN
    assert client.get(ADMIN).status_code == HTTPStatus.OK
    # Coming back to the admin's sign-in page once signed in goes straight to the console.
    assert client.get(ADMIN_LOGIN, {"next": ADMIN}).url == ADMIN


def test_a_signed_in_person_without_console_access_is_refused_and_audited(client):
    user = UserFactory(safecode_skips=1)
    client.force_login(user)
    client.post(reverse("safecode:prompt"))  # skips the SafeCode prompt for this session
    response = client.get(ADMIN_LOGIN, {"next": ADMIN})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(event="admin.denied", actor=user).exists()
