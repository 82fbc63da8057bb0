"""The pages every visitor meets: home signed out and in, health check, error pages, sign-out."""

from __future__ import annotations

from http import HTTPStatus
from unittest import mock

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections
from django.template import Context, Template, loader
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

SERVICE_DESK_PHONE = "617-432-2000"


def registered_user(username: str = "jdoe"):
    """An account that has registered its SafeCode phone, so nothing stands before the hub."""
    from safecode.models import Channel

    user = get_user_model().objects.create_user(username=username, password="correct horse battery")
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.PHONE,
        address="+16175550123",
        region="US",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    return user


@pytest.fixture
def jdoe():
    return registered_user()


def test_home_signed_out_offers_the_four_ways_in(client):
    response = client.get("/")

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert f'href="{reverse("accounts:login")}"' in body
    for label, path in [
        ("Sign in", reverse("accounts:login")),
        ("Register", "/register/"),
        ("Unlock my account", "/unlock/"),
        ("Forgot my password", "/password/forgot/"),
    ]:
        assert f'<a href="{path}">{label}</a>' in body
    assert "Sign out" not in body


def test_home_signed_in_greets_and_leads_to_preferences_whitepages_and_help(client, jdoe):
    client.force_login(jdoe)

    response = client.get("/")

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "Hello, jdoe" in body
    for label, path in [
        ("Preferences", "/preferences/"),
        ("Whitepages", "/whitepages/"),
        ("Help", "/help/"),
    ]:
        assert f'<h3><a href="{path}">{label}</a></h3>' in body
    assert "Sign out" in body
    assert "Unlock my account</a></h3>" not in body


def test_preferences_show_each_setting_with_the_way_to_change_it(client, jdoe):
    client.force_login(jdoe)

    response = client.get(reverse("accounts:preferences"))

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "<h1>Preferences</h1>" in body
    assert "<dt>Mobile phone</dt><dd>***-***-0123</dd>" in body
    for label, path in [
        ("Change SafeCode contacts", "/safecode/"),
        ("Change password", "/preferences/security/password/"),
        ("Change my address", "/preferences/address/"),
    ]:
        assert f'href="{path}">{label}</a>' in body


def test_every_page_has_a_skip_link_main_landmark_and_service_desk(client):
    body = client.get("/").content.decode()

    assert '<html lang="en">' in body
    assert body.index('class="skip-link" href="#main"') < body.index("<header")
    assert '<main id="main"' in body
    assert SERVICE_DESK_PHONE in body
    assert "itservicedesk@hms.harvard.edu" in body


def test_messages_are_announced(client, jdoe):
    from django.contrib import messages
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from portal.views import home

    request = RequestFactory().get("/")
    request.user = jdoe
    request.session = client.session
    request._messages = FallbackStorage(request)
    messages.success(request, "Your password was changed.")
    messages.error(request, "That code has expired.")

    body = home(request).content.decode()

    status = body.index('role="status"')
    assert status < body.index("Your password was changed.")
    alert = body.index('role="alert"')
    assert alert < body.index("That code has expired.") < status


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert payload["database"] == "ok"
    assert "broker" in payload


def test_healthz_answers_503_when_the_database_is_unreachable(client):
    with mock.patch.object(
        connections["default"], "cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/healthz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["database"] == "unreachable"


def test_a_page_answers_503_and_when_to_retry_when_the_database_is_unreachable(client):
    """An outage is not the portal's bug: a person and a load balancer read "try again", and
    the page needs no database to be shown."""
    with mock.patch.object(
        connections["default"], "cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get(reverse("accounts:login"))

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"] == "30"
    body = response.content.decode()
    assert "The portal is briefly unavailable" in body
    assert "connection refused" not in body
    assert SERVICE_DESK_PHONE in body


def test_unknown_path_gets_the_styled_404(client):
    response = client.get("/no/such/page/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    body = response.content.decode()
    assert "Page not found" in body
    assert SERVICE_DESK_PHONE in body
    assert 'href="#main"' in body


def test_logout_is_post_only(client, jdoe):
    client.force_login(jdoe)

    response = client.get(reverse("accounts:logout"))

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert "<h1>Hello, jdoe</h1>" in client.get("/").content.decode()


def test_logout_by_post_signs_out(client, jdoe):
    client.force_login(jdoe)

    response = client.post(reverse("accounts:logout"))

    assert response.status_code == HTTPStatus.FOUND
    assert "Unlock my account" in client.get("/").content.decode()


def test_login_page_offers_help_and_the_harvard_id(client):
    response = client.get(reverse("accounts:login"))

    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "<h1>Sign in</h1>" in body
    assert '<label for="id_username">' in body
    assert '<label for="id_password">' in body
    assert "8-digit Harvard ID" in body
    assert 'aria-describedby="id_username_helptext"' in body
    for path in ["/unlock/", "/password/forgot/", "/register/"]:
        assert f'href="{path}"' in body


class ContactForm(forms.Form):
    code = forms.CharField(label="Code", help_text="The 6 digits we sent you.")
    phone = forms.CharField(label="Phone", required=False)
    channel = forms.ChoiceField(
        label="Send it by", choices=[("sms", "Text"), ("email", "Email")], widget=forms.RadioSelect
    )
    agree = forms.BooleanField(label="I agree")
    token = forms.CharField(widget=forms.HiddenInput)

    def clean(self):
        raise forms.ValidationError("That did not work.")


def render_form(form) -> str:
    return Template('{% include "components/form.html" with form=form %}').render(
        Context({"form": form})
    )


def test_form_component_links_labels_help_and_errors():
    body = render_form(ContactForm(data={"phone": "x"}))

    summary = body.index('class="error-summary" role="alert" tabindex="-1"')
    assert summary < body.index("That did not work.") < body.index('<label for="id_code">')
    assert '<a href="#id_code">Code: This field is required.</a>' in body
    assert '<a href="#id_channel_0">Send it by: This field is required.</a>' in body
    assert 'type="hidden" name="token"' in body
    # The widget names its help text and its error; the error carries a text prefix.
    assert 'aria-invalid="true" aria-describedby="id_code_helptext id_code_error"' in body
    assert '<div class="field__help" id="id_code_helptext">The 6 digits we sent you.</div>' in body
    assert (
        '<div class="field__error" id="id_code_error"><p>'
        '<span class="field__error-prefix">Error:</span> This field is required.</p></div>'
    ) in body
    assert '<label for="id_phone">Phone (optional)</label>' in body
    # Radio buttons are a group named by its legend.
    assert '<fieldset class="field field--invalid" aria-describedby="id_channel_error">' in body
    assert '<legend class="field__label">Send it by</legend>' in body
    assert '<label for="id_agree">I agree</label>' in body


def test_form_component_is_quiet_when_valid():
    body = render_form(ContactForm())

    assert "error-summary" not in body
    assert "aria-invalid" not in body
    assert 'aria-describedby="id_code_helptext"' in body


def test_step_indicator_marks_done_current_and_todo():
    body = Template('{% include "components/steps.html" with steps=steps current=2 %}').render(
        Context({"steps": ["Find your account", "Verify", "New password"]})
    )

    assert "Step 2 of 3" in body
    assert '<li class="steps__done">Find your account<span class="visually-hidden">' in body
    assert '<li class="steps__current" aria-current="step">Verify<span' in body
    assert '<li class="steps__todo">New password</li>' in body
    assert body.count("aria-current") == 1


def test_500_page_stands_alone():
    """Django renders 500.html with an empty context: no request, no context processors."""
    body = loader.get_template("500.html").render()

    assert SERVICE_DESK_PHONE in body
    assert "/static/css/portal.css" in body
    assert '<html lang="en">' in body


@pytest.mark.parametrize(
    ("template", "heading"),
    [
        ("400.html", "could not read that request"),
        ("403.html", "do not have access"),
        ("403_csrf.html", "Your form has expired"),
        ("404.html", "Page not found"),
    ],
)
def test_error_pages_share_the_layout_and_the_service_desk(rf, template, heading):
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/")
    request.user = AnonymousUser()

    body = loader.get_template(template).render({}, request)

    assert heading in body
    assert SERVICE_DESK_PHONE in body
    assert 'href="#main"' in body


def test_no_link_on_the_home_page_or_the_hub_leads_nowhere(client, jdoe):
    import re

    signed_out = client.get("/").content.decode()
    client.force_login(jdoe)
    signed_in = client.get("/").content.decode()
    paths = set(re.findall(r'href="(/[^"#?]*)', signed_out + signed_in))
    assert paths
    for path in sorted(paths):
        assert client.get(path).status_code != HTTPStatus.NOT_FOUND, path
