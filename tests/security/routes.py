"""Every route of the portal, read from the URL resolver, and a catalogue of those that take a
POST: how a person reaches each one (signed out, signed in, or part-way through a journey,
set up with the portal's own pages and services), and the fields its forms have, read from
the form classes.

``tests/security/test_form_fuzz.py`` posts hostile bodies to every catalogued route and
``tests/security/test_headers_every_page.py`` checks the headers of every page and the CSRF
check of every POST route. Both fail when the resolver has a route the catalogue does not
know, so that a new form cannot be left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.test import Client, RequestFactory, TestCase
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.factories import (
    DEFAULT_PASSWORD,
    PHONE,
    ChannelFactory,
    PersonFactory,
    UserFactory,
)

# The resolver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: its qualified name (``namespace:name``), its route text and its view."""

    name: str
    route: str
    callback: Callable

    @property
    def methods(self) -> frozenset[str] | None:
        """The methods the view accepts, when a decorator or a class says so; None when it
        takes any method."""
        return accepted_methods(self.callback)

    @property
    def accepts_post(self) -> bool:
        methods = self.methods
        return methods is None or "POST" in methods

    @property
    def accepts_get(self) -> bool:
        methods = self.methods
        return methods is None or "GET" in methods

    @property
    def csrf_exempt(self) -> bool:
        return bool(getattr(self.callback, "csrf_exempt", False))


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name or f"<unnamed {prefix}{pattern.pattern}>"
            if pattern.name and namespace:
                name = f"{namespace}:{pattern.name}"
            yield Route(name, prefix + str(pattern.pattern), pattern.callback)


def all_routes() -> list[Route]:
    """Every URL pattern the portal serves, in resolver order."""
    return list(_walk(get_resolver().url_patterns))


def accepted_methods(callback: Callable) -> frozenset[str] | None:
    """The HTTP methods ``callback`` accepts, read from ``require_http_methods`` (and its
    ``require_GET``, ``require_POST`` and ``require_safe`` forms) anywhere in its chain of
    decorators, or from a class-based view's handlers; None when nothing restricts them."""
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        allowed = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)}
        return frozenset(allowed)
    seen = set()
    function = callback
    while function is not None and id(function) not in seen:
        seen.add(id(function))
        code = getattr(function, "__code__", None)
        if code is not None and "request_method_list" in code.co_freevars:
            cell = function.__closure__[code.co_freevars.index("request_method_list")]
            return frozenset(cell.cell_contents)
        function = getattr(function, "__wrapped__", None) or getattr(function, "__func__", None)
    return None


# Reaching a route --------------------------------------------------------------------------------


@dataclass
class Reached:
    """A browser at a route: its client (with the cookies of its session), the path to post
    to, the account whose fields must not change, and values each field would accept."""

    client: Client
    path: str
    user: object | None = None
    valid: dict[str, list[str]] = field(default_factory=dict)


def on_commit():
    """Run the delivery hand-off of the posts made inside (the suite does not commit)."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def browser(ip: str = "10.20.0.1") -> Client:
    return Client(REMOTE_ADDR=ip)


def signed_in(user, **kwargs) -> Client:
    client = browser(**kwargs)
    client.force_login(user)
    return client


def with_session(client: Client, user, *changes: Callable) -> None:
    """Apply the portal's own session services (``changes``, each taking a request) to the
    session of ``client``, as the pages that call them would."""
    request = RequestFactory().get("/")
    request.session = client.session
    request.user = user
    for change in changes:
        change(request)
    request.session.save()


def member(**person):
    """A directory person's account with a verified SafeCode phone: nothing stands before
    the portal once signed in."""
    user = UserFactory(person=PersonFactory(**person))
    ChannelFactory(user=user)
    return user


def last_code(outbox, recipient: str) -> str:
    bodies = [m.body for m in outbox if m.recipient == recipient]
    assert bodies, f"nothing was sent to {recipient}"
    return re.search(r"\b(\d{6})\b", bodies[-1].replace(", ", "")).group(1)


def last_link(outbox, pattern: str) -> str:
    for message in reversed(outbox):
        found = re.search(pattern, message.body)
        if found:
            return found.group(1)
    raise AssertionError(f"no message has a link like {pattern}")


def captcha(client: Client, path: str) -> dict[str, str]:
    from tests.helpers import captcha_answer

    return captcha_answer(client.get(path))


def fresh_second_factor(request) -> None:
    from twofactor.freshness import second_factor_mark_fresh

    second_factor_mark_fresh(request)


def recent_proof(request) -> None:
    from accounts.services.recent_proof import recent_proof_record_second_factor

    recent_proof_record_second_factor(request, request.user)


def device_of(user, **kwargs):
    from tests.twofactor.conftest import make_device

    return make_device(user, **kwargs)


# Field names, read from the forms ----------------------------------------------------------------


def form_fields(*forms, prefix: str = "") -> list[str]:
    """The names a browser posts for the fields of ``forms`` (a multi-value field such as the
    CAPTCHA posts one name per widget)."""
    names: list[str] = []
    for form in forms:
        for name, form_field in form.base_fields.items():
            full = f"{prefix}-{name}" if prefix else name
            widgets = getattr(form_field.widget, "widgets", None)
            if widgets:
                names.extend(f"{full}_{i}" for i in range(len(widgets)))
            else:
                names.append(full)
    return list(dict.fromkeys(names))


def _captcha_fields() -> list[str]:
    from accounts.forms import CaptchaForm

    return form_fields(CaptchaForm)


def _method_choice_fields() -> list[str]:
    from twofactor.forms import BypassCodeForm, PasscodeForm, SecurityKeyForm, SendPasscodeForm

    return [
        *form_fields(PasscodeForm, SendPasscodeForm, SecurityKeyForm),
        *form_fields(BypassCodeForm, prefix="bypass"),
        "action",
    ]


# The catalogue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostRoute:
    """A route that takes a POST. ``reach()`` sets up a browser there; ``fields()`` lists the
    names its forms post; ``changes`` names the models a post the page accepted may change
    (nothing else may, and nothing at all when it refused); ``body`` says what it reads:
    ``form`` fields, ``json``, or ``nothing`` (a button whose post carries no data)."""

    name: str
    reach: Callable[[], Reached]
    fields: Callable[[], list[str]] = list
    changes: frozenset[str] = frozenset()
    body: str = "form"


def _changes(*labels: str) -> frozenset[str]:
    return frozenset(labels)


CATALOGUE: dict[str, PostRoute] = {}


def post_route(name: str, *, fields=list, changes=(), body: str = "form"):
    def register(reach):
        CATALOGUE[name] = PostRoute(name, reach, fields, _changes(*changes), body)
        return reach

    return register


# Signed out --------------------------------------------------------------------------------------


def _login_fields():
    from accounts.forms import LoginForm

    return [*form_fields(LoginForm), *_captcha_fields(), "next"]


@post_route("accounts:login", fields=_login_fields, changes=("accounts.User",))
def _reach_login():
    user = member()
    return Reached(
        browser(),
        reverse("accounts:login"),
        user,
        valid={"username": [user.username], "password": [DEFAULT_PASSWORD, "x" * 12]},
    )


@post_route("accounts:signin_continue", body="nothing")
def _reach_signin_continue():
    return Reached(browser(), reverse("accounts:signin_continue"))


@post_route("accounts:logout", body="nothing")
def _reach_logout():
    user = member()
    return Reached(signed_in(user), reverse("accounts:logout"), user)


def _register_fields():
    from accounts.forms import RegistrationDetailsForm

    return [*form_fields(RegistrationDetailsForm), "next"]


@post_route(
    "accounts:register",
    fields=_register_fields,
    changes=("delivery.Message", "accounts.RegistrationCode", "guests.GuestKey"),
)
def _reach_register():
    person = PersonFactory()
    issued = _guest(member())
    return Reached(
        browser(),
        reverse("accounts:register"),
        valid={
            "last_name": [person.last_name, issued.sponsorship.last_name],
            "huid": [person.huid],
            "guest_key": [issued.key],
            "date_of_birth": [person.date_of_birth.isoformat()],
        },
    )


def _register_code_fields():
    from safecode.forms import CodeForm

    return [*form_fields(CodeForm), "action"]


@post_route(
    "accounts:register_code",
    fields=_register_code_fields,
    changes=("delivery.Message", "accounts.RegistrationCode"),
)
def _reach_register_code():
    from delivery.backends import locmem
    from tests.helpers import code_sent_to

    person = PersonFactory()
    client = browser()
    with on_commit():
        client.post(
            reverse("accounts:register"),
            {"last_name": person.last_name, "huid": person.huid},
        )
    return Reached(
        client,
        reverse("accounts:register_code"),
        valid={"code": [code_sent_to(locmem.outbox, person.email)], "action": ["resend"]},
    )


def _register_account_fields():
    from accounts.forms import RegistrationAccountForm

    return form_fields(RegistrationAccountForm)


@post_route(
    "accounts:register_account",
    fields=_register_account_fields,
    changes=("accounts.User", "accounts.PasswordHistory", "delivery.Message"),
)
def _reach_register_account():
    from delivery.backends import locmem
    from tests.helpers import code_sent_to

    person = PersonFactory()
    client = browser()
    with on_commit():
        client.post(
            reverse("accounts:register"), {"last_name": person.last_name, "huid": person.huid}
        )
    client.post(
        reverse("accounts:register_code"), {"code": code_sent_to(locmem.outbox, person.email)}
    )
    return Reached(
        client,
        reverse("accounts:register_account"),
        valid={
            "username": ["newcomer"],
            "password1": ["a quiet harbour at dawn"],
            "password2": ["a quiet harbour at dawn"],
        },
    )


def _affiliate_fields():
    from accounts.forms import AffiliateEmailForm

    return form_fields(AffiliateEmailForm)


@post_route(
    "accounts:register_affiliate",
    fields=_affiliate_fields,
    changes=("accounts.EmailToken", "delivery.Message"),
)
def _reach_register_affiliate():
    return Reached(
        browser(), reverse("accounts:register_affiliate"), valid={"email": ["pat@partners.org"]}
    )


def _affiliate_complete_fields():
    from accounts.forms import AffiliateCompleteForm

    return form_fields(AffiliateCompleteForm)


def affiliate_token() -> str:
    """The token of an affiliate sign-up link, as the email carries it."""
    from accounts.services.registration import affiliate_signup_start
    from delivery.backends import locmem

    request = RequestFactory().post("/", REMOTE_ADDR="10.20.0.9")
    with on_commit():
        affiliate_signup_start(email="sam@partners.org", request=request)
    return last_link(locmem.outbox, r"/register/affiliate/([^/\s]+)/")


@post_route(
    "accounts:register_affiliate_complete",
    fields=_affiliate_complete_fields,
    changes=(
        "accounts.User",
        "accounts.EmailToken",
        "accounts.PasswordHistory",
        "delivery.Message",
    ),
)
def _reach_register_affiliate_complete():
    token = affiliate_token()
    return Reached(
        browser(),
        reverse("accounts:register_affiliate_complete", args=[token]),
        valid={
            "first_name": ["Sam"],
            "last_name": ["Okoye"],
            "username": ["sokoye"],
            "password1": ["a quiet harbour at dawn"],
            "password2": ["a quiet harbour at dawn"],
        },
    )


def not_me_token(user) -> str:
    from accounts.services.not_me import not_me_url

    return not_me_url(user=user, change="password").rstrip("/").rsplit("/", 1)[-1]


@post_route("accounts:not_me", body="nothing", changes=("delivery.Message",))
def _reach_not_me():
    user = member()
    return Reached(browser(), reverse("accounts:not_me", args=[not_me_token(user)]), user)


def _unlock_fields():
    from accounts.forms import UnlockStartForm

    return form_fields(UnlockStartForm)


@post_route("accounts:unlock", fields=_unlock_fields)
def _reach_unlock():
    user = member()
    client = browser()
    path = reverse("accounts:unlock")
    answer = captcha(client, path)
    return Reached(
        client,
        path,
        user,
        valid={"username": [user.username], **{k: [v] for k, v in answer.items()}},
    )


def _forgot_fields():
    from accounts.forms import ForgotPasswordForm

    return form_fields(ForgotPasswordForm)


@post_route("accounts:password_forgot", fields=_forgot_fields)
def _reach_password_forgot():
    user = member()
    client = browser()
    path = reverse("accounts:password_forgot")
    answer = captcha(client, path)
    return Reached(
        client,
        path,
        user,
        valid={
            "login": [user.username],
            "last_name": [user.person.last_name],
            "huid": [user.person.huid],
            **{k: [v] for k, v in answer.items()},
        },
    )


def _recovery_started(journey: str, user) -> Client:
    client = browser()
    path = reverse(f"accounts:{journey}")
    answer = captcha(client, path)
    if journey == "unlock":
        data = {"username": user.username}
    else:
        data = {
            "login": user.username,
            "last_name": user.person.last_name,
            "huid": user.person.huid,
        }
    response = client.post(path, {**data, **answer})
    assert response.status_code == 302, response.content
    return client


def _kind_fields():
    from accounts.forms import ChannelKindForm

    return form_fields(ChannelKindForm)


def _recovery_send(journey: str):
    def reach():
        from accounts.forms import ChannelKindForm

        user = member()
        client = _recovery_started(journey, user)
        kinds = [str(value) for value, _ in ChannelKindForm.base_fields["kind"].choices]
        return Reached(client, reverse(f"accounts:{journey}_send"), user, valid={"kind": kinds})

    return reach


def _recovery_code(journey: str):
    def reach():
        from delivery.backends import locmem
        from tests.factories import lock

        user = member()
        if journey == "unlock":
            lock(user)
        client = _recovery_started(journey, user)
        with on_commit():
            client.post(reverse(f"accounts:{journey}_send"), {"kind": "phone"})
        code = last_code(locmem.outbox, PHONE)
        return Reached(client, reverse(f"accounts:{journey}_code"), user, valid={"code": [code]})

    return reach


def _code_fields():
    from safecode.forms import CodeForm

    return form_fields(CodeForm)


for _journey in ("unlock", "password_forgot"):
    post_route(
        f"accounts:{_journey}_send",
        fields=_kind_fields,
        changes=("delivery.Message", "safecode.SafeCode"),
    )(_recovery_send(_journey))
    post_route(
        f"accounts:{_journey}_code",
        fields=_code_fields,
        changes=("safecode.SafeCode", "accounts.User", "delivery.Message"),
    )(_recovery_code(_journey))


def _forgot_proven(user) -> Client:
    from delivery.backends import locmem

    client = _recovery_started("password_forgot", user)
    with on_commit():
        client.post(reverse("accounts:password_forgot_send"), {"kind": "phone"})
    response = client.post(
        reverse("accounts:password_forgot_code"), {"code": last_code(locmem.outbox, PHONE)}
    )
    assert response.status_code == 302, response.content
    return client


def _new_password_fields():
    from accounts.forms import NewPasswordForm

    return form_fields(NewPasswordForm)


NEW_PASSWORD = "a quiet harbour at dawn"
PASSWORD_CHANGES = (
    "accounts.User",
    "accounts.PasswordHistory",
    "delivery.Message",
    "twofactor.RememberedBrowser",
)


@post_route("accounts:password_forgot_new", fields=_new_password_fields, changes=PASSWORD_CHANGES)
def _reach_password_forgot_new():
    user = member()
    client = _forgot_proven(user)
    return Reached(
        client,
        reverse("accounts:password_forgot_new"),
        user,
        valid={"password1": [NEW_PASSWORD], "password2": [NEW_PASSWORD]},
    )


SECOND_FACTOR_CHANGES = (
    "twofactor.PhoneDevice",
    "twofactor.PushRequest",
    "twofactor.WebAuthnChallenge",
    "twofactor.Device",
    "twofactor.BypassCode",
    "otp_totp.TOTPDevice",
    "delivery.Message",
)


@post_route("twofactor:reset", fields=_method_choice_fields, changes=SECOND_FACTOR_CHANGES)
def _reach_twofactor_reset():
    user = member()
    device = device_of(user, number="+16175550142")
    client = _forgot_proven(user)
    return Reached(
        client,
        reverse("twofactor:reset"),
        user,
        valid={
            "device": [str(device.pk)],
            "method": ["passcode", "sms"],
            "action": ["send", "bypass", "webauthn", "push"],
        },
    )


@post_route("accounts:reset_link", body="nothing", changes=("accounts.EmailToken",))
def _reach_reset_link():
    from accounts.services.reset_link import reset_link_send
    from delivery.backends import locmem

    user = member()
    agent = UserFactory(is_staff=True)
    with on_commit():
        reset_link_send(user=user, channel_id=int(_channel_of(user)), agent=agent)
    token = last_link(locmem.outbox, r"/password/link/([^/\s]+)/")
    return Reached(browser(), reverse("accounts:reset_link", args=[token]), user)


# A pending sign-in -------------------------------------------------------------------------------


def pending_sign_in(user) -> Client:
    from tests.helpers import post_login

    client = browser()
    response = post_login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 302, response.content
    return client


@post_route("twofactor:verify", fields=_method_choice_fields, changes=SECOND_FACTOR_CHANGES)
def _reach_twofactor_verify():
    user = member()
    device = device_of(user, number="+16175550142")
    return Reached(
        pending_sign_in(user),
        reverse("twofactor:verify"),
        user,
        valid={
            "device": [str(device.pk)],
            "method": ["passcode", "sms", "push"],
            "action": ["send", "bypass", "webauthn", "push"],
        },
    )


def _key_options_fields():
    return ["step", "device"]


@post_route(
    "twofactor:key_options", fields=_key_options_fields, changes=("twofactor.WebAuthnChallenge",)
)
def _reach_key_options():
    user = member()
    device = device_of(user)
    return Reached(
        pending_sign_in(user),
        reverse("twofactor:key_options"),
        user,
        valid={"step": ["signin", "step_up", "reset"], "device": [str(device.pk)]},
    )


def expired(user):
    from accounts.models import User

    User.objects.filter(pk=user.pk).update(must_change_password=True)
    user.refresh_from_db()
    return user


@post_route("accounts:password_expired", fields=_captcha_fields)
def _reach_password_expired():
    user = expired(member())
    client = pending_sign_in(user)
    path = reverse("accounts:password_expired")
    answer = captcha(client, path)
    return Reached(client, path, user, valid={k: [v] for k, v in answer.items()})


def _expired_started(user) -> Client:
    client = pending_sign_in(user)
    path = reverse("accounts:password_expired")
    response = client.post(path, captcha(client, path))
    assert response.status_code == 302, response.content
    return client


def _send_fields():
    from safecode.forms import SendCodeForm

    return form_fields(SendCodeForm)


def _channel_of(user) -> str:
    from safecode.models import Channel

    return str(Channel.objects.get(user=user).pk)


@post_route(
    "accounts:password_expired_send",
    fields=_send_fields,
    changes=("safecode.SafeCode", "delivery.Message"),
)
def _reach_password_expired_send():
    user = expired(member())
    client = _expired_started(user)
    return Reached(
        client,
        reverse("accounts:password_expired_send"),
        user,
        valid={"channel": [_channel_of(user)]},
    )


def _expired_sent(user) -> tuple[Client, str]:
    from delivery.backends import locmem

    client = _expired_started(user)
    with on_commit():
        client.post(reverse("accounts:password_expired_send"), {"channel": _channel_of(user)})
    return client, last_code(locmem.outbox, PHONE)


@post_route("accounts:password_expired_code", fields=_code_fields, changes=("safecode.SafeCode",))
def _reach_password_expired_code():
    user = expired(member())
    client, code = _expired_sent(user)
    return Reached(client, reverse("accounts:password_expired_code"), user, valid={"code": [code]})


@post_route(
    "accounts:password_expired_new",
    fields=_new_password_fields,
    changes=(*PASSWORD_CHANGES, "sessions.Session"),
)
def _reach_password_expired_new():
    user = expired(member())
    client, code = _expired_sent(user)
    response = client.post(reverse("accounts:password_expired_code"), {"code": code})
    assert response.status_code == 302, response.content
    return Reached(
        client,
        reverse("accounts:password_expired_new"),
        user,
        valid={"password1": [NEW_PASSWORD], "password2": [NEW_PASSWORD]},
    )


def _channel_form_fields():
    from safecode.forms import ChannelForm, CodeForm

    return [*form_fields(ChannelForm, CodeForm), "action"]


CHANNEL_CHANGES = ("safecode.Channel", "safecode.SafeCode", "delivery.Message")


@post_route(
    "accounts:password_expired_safecode", fields=_channel_form_fields, changes=CHANNEL_CHANGES
)
def _reach_password_expired_safecode():
    user = expired(UserFactory())
    return Reached(
        pending_sign_in(user),
        reverse("accounts:password_expired_safecode"),
        user,
        valid={
            "action": ["register", "confirm"],
            "phone": ["617-555-0188"],
            "email": ["me@example.org"],
        },
    )


# Signed in ---------------------------------------------------------------------------------------


def _signed_in_page(name: str, *, args=(), **valid):
    def reach():
        user = member()
        return Reached(
            signed_in(user),
            reverse(name, args=args),
            user,
            valid={k: list(v) for k, v in valid.items()},
        )

    return reach


def _address_fields():
    from accounts.forms import AddressForm

    return form_fields(AddressForm)


@post_route("accounts:address_edit", fields=_address_fields, changes=("accounts.Address",))
def _reach_address_edit():
    from accounts.models import Address

    user = member()
    return Reached(
        signed_in(user),
        reverse("accounts:address_edit", args=[Address.Kind.HOME]),
        user,
        valid={"street": ["1 Main Street"], "city": ["Boston"]},
    )


def _directory_fields():
    from accounts.forms import DirectoryChangeForm

    return form_fields(DirectoryChangeForm)


def _directory_choices() -> list[str]:
    from accounts.forms import DirectoryChangeForm

    return [value for value, _ in DirectoryChangeForm.base_fields["field"].choices]


@post_route(
    "accounts:directory_change",
    fields=_directory_fields,
    changes=("accounts.DirectoryChangeRequest", "delivery.Message"),
)
def _reach_directory_change():
    user = member()
    return Reached(
        signed_in(user),
        reverse("accounts:directory_change"),
        user,
        valid={"field": _directory_choices(), "value": ["Room 101"]},
    )


def _email_change_fields():
    from accounts.forms import EmailChangeForm

    return form_fields(EmailChangeForm)


@post_route(
    "accounts:email_change",
    fields=_email_change_fields,
    changes=("accounts.EmailToken", "delivery.Message"),
)
def _reach_email_change():
    user = member()
    client = signed_in(user)
    with_session(client, user, recent_proof)
    return Reached(
        client, reverse("accounts:email_change"), user, valid={"email": ["new@example.org"]}
    )


@post_route(
    "accounts:email_confirm",
    body="nothing",
    changes=("accounts.User", "accounts.EmailToken", "delivery.Message"),
)
def _reach_email_confirm():
    from accounts.services.profile import email_change_start
    from delivery.backends import locmem

    user = member()
    client = signed_in(user)
    with_session(client, user, recent_proof)
    request = RequestFactory().post("/")
    request.session = client.session
    request.user = user
    with on_commit():
        email_change_start(user=user, new_email="new@example.org", request=request)
    token = last_link(locmem.outbox, r"/preferences/email/([^/\s]+)/")
    return Reached(client, reverse("accounts:email_confirm", args=[token]), user)


def _confirm_password_fields():
    from accounts.forms import ConfirmPasswordForm

    return [*form_fields(ConfirmPasswordForm), *_captcha_fields(), "next"]


@post_route("accounts:recent_proof", fields=_confirm_password_fields, changes=("accounts.User",))
def _reach_recent_proof():
    return _signed_in_page("accounts:recent_proof", password=[DEFAULT_PASSWORD])()


def _confirm_code_fields():
    from safecode.forms import CodeForm, SendCodeForm

    return [*form_fields(CodeForm, SendCodeForm), "action", "next"]


@post_route(
    "accounts:recent_proof_code",
    fields=_confirm_code_fields,
    changes=("safecode.SafeCode", "delivery.Message"),
)
def _reach_recent_proof_code():
    user = member()
    client = signed_in(user)
    response = client.post(reverse("accounts:recent_proof"), {"password": DEFAULT_PASSWORD})
    assert response.status_code == 302, response.content
    return Reached(
        client,
        reverse("accounts:recent_proof_code"),
        user,
        valid={"action": ["send"], "channel": [_channel_of(user)]},
    )


def _change_start_fields():
    from accounts.forms import ChangeStartForm

    return form_fields(ChangeStartForm)


def _change_ready(user) -> Client:
    client = signed_in(user)
    with_session(client, user, recent_proof, fresh_second_factor)
    return client


@post_route("accounts:password_change", fields=_change_start_fields)
def _reach_password_change():
    user = member()
    client = _change_ready(user)
    path = reverse("accounts:password_change")
    answer = captcha(client, path)
    return Reached(
        client,
        path,
        user,
        valid={"current_password": [DEFAULT_PASSWORD], **{k: [v] for k, v in answer.items()}},
    )


def _change_started(user) -> Client:
    client = _change_ready(user)
    path = reverse("accounts:password_change")
    answer = captcha(client, path)
    response = client.post(path, {"current_password": DEFAULT_PASSWORD, **answer})
    assert response.status_code == 302, response.content
    return client


@post_route(
    "accounts:password_change_send",
    fields=_send_fields,
    changes=("safecode.SafeCode", "delivery.Message"),
)
def _reach_password_change_send():
    user = member()
    return Reached(
        _change_started(user),
        reverse("accounts:password_change_send"),
        user,
        valid={"channel": [_channel_of(user)]},
    )


def _change_sent(user) -> tuple[Client, str]:
    from delivery.backends import locmem

    client = _change_started(user)
    with on_commit():
        client.post(reverse("accounts:password_change_send"), {"channel": _channel_of(user)})
    return client, last_code(locmem.outbox, PHONE)


@post_route("accounts:password_change_code", fields=_code_fields, changes=("safecode.SafeCode",))
def _reach_password_change_code():
    user = member()
    client, code = _change_sent(user)
    return Reached(client, reverse("accounts:password_change_code"), user, valid={"code": [code]})


@post_route(
    "accounts:password_change_new",
    fields=_new_password_fields,
    changes=(*PASSWORD_CHANGES, "sessions.Session"),
)
def _reach_password_change_new():
    user = member()
    client, code = _change_sent(user)
    response = client.post(reverse("accounts:password_change_code"), {"code": code})
    assert response.status_code == 302, response.content
    return Reached(
        client,
        reverse("accounts:password_change_new"),
        user,
        valid={"password1": [NEW_PASSWORD], "password2": [NEW_PASSWORD]},
    )


# SafeCode ----------------------------------------------------------------------------------------


def _channel_fields():
    from safecode.forms import ChannelForm

    return form_fields(ChannelForm)


def _carriers() -> list[str]:
    from safecode.forms import ChannelForm

    return [value for value, _ in ChannelForm.base_fields["carrier"].choices]


@post_route("safecode:manage", fields=_channel_fields, changes=CHANNEL_CHANGES)
def _reach_safecode_manage():
    user = member()
    client = signed_in(user)
    with_session(client, user, recent_proof)
    return Reached(
        client,
        reverse("safecode:manage"),
        user,
        valid={"phone": ["617-555-0177"], "email": ["me@example.org"], "carrier": _carriers()},
    )


@post_route("safecode:prompt", body="nothing", changes=("accounts.User",))
def _reach_safecode_prompt():
    user = UserFactory()
    return Reached(signed_in(user), reverse("safecode:prompt"), user)


def _pending_channel(user):
    from safecode.models import Channel

    return ChannelFactory(
        user=user, kind=Channel.Kind.EMAIL, address="me@example.org", status=Channel.Status.PENDING
    )


@post_route("safecode:verify", fields=_code_fields, changes=CHANNEL_CHANGES)
def _reach_safecode_verify():
    from safecode.models import Purpose
    from safecode.services import safecode_issue

    user = member()
    channel = _pending_channel(user)
    client = signed_in(user)
    with_session(client, user, recent_proof)
    with on_commit():
        safecode_issue(user=user, purpose=Purpose.CHANNEL_VERIFY, channel=channel)
    from delivery.backends import locmem

    return Reached(
        client,
        reverse("safecode:verify", args=[channel.pk]),
        user,
        valid={"code": [last_code(locmem.outbox, "me@example.org")]},
    )


@post_route("safecode:send", body="nothing", changes=("safecode.SafeCode", "delivery.Message"))
def _reach_safecode_send():
    user = member()
    channel = _pending_channel(user)
    return Reached(signed_in(user), reverse("safecode:send", args=[channel.pk]), user)


@post_route("safecode:remove", body="nothing", changes=("safecode.Channel", "delivery.Message"))
def _reach_safecode_remove():
    user = member()
    channel = _pending_channel(user)
    client = signed_in(user)
    with_session(client, user, recent_proof)
    return Reached(client, reverse("safecode:remove", args=[channel.pk]), user)


# Two-factor --------------------------------------------------------------------------------------


def _devices_ready():
    user = member()
    device = device_of(user, number="+16175550142")
    client = signed_in(user)
    with_session(client, user, fresh_second_factor)
    return user, device, client


def _rename_fields():
    from twofactor.forms import RenameForm

    return form_fields(RenameForm)


DEVICE_CHANGES = (
    "twofactor.Device",
    "twofactor.Profile",
    "twofactor.RememberedBrowser",
    "twofactor.PhoneDevice",
    "otp_totp.TOTPDevice",
    "delivery.Message",
)


@post_route("twofactor:device_rename", fields=_rename_fields, changes=DEVICE_CHANGES)
def _reach_device_rename():
    user, device, client = _devices_ready()
    return Reached(
        client,
        reverse("twofactor:device_rename", args=[device.pk]),
        user,
        valid={"name": ["Work phone"]},
    )


@post_route("twofactor:device_remove", body="nothing", changes=DEVICE_CHANGES)
def _reach_device_remove():
    user, device, client = _devices_ready()
    return Reached(client, reverse("twofactor:device_remove", args=[device.pk]), user)


@post_route("twofactor:device_default", body="nothing", changes=DEVICE_CHANGES)
def _reach_device_default():
    user, device, client = _devices_ready()
    return Reached(client, reverse("twofactor:device_default", args=[device.pk]), user)


def _login_action_fields():
    from twofactor.forms import LoginActionForm

    return form_fields(LoginActionForm)


@post_route("twofactor:login_action", fields=_login_action_fields, changes=DEVICE_CHANGES)
def _reach_login_action():
    from twofactor.models import Profile

    user, _device, client = _devices_ready()
    return Reached(
        client,
        reverse("twofactor:login_action"),
        user,
        valid={"action": [value for value, _ in Profile.LoginAction.choices]},
    )


@post_route("twofactor:browser_forget", body="nothing", changes=DEVICE_CHANGES)
def _reach_browser_forget():
    from twofactor.models import RememberedBrowser
    from twofactor.services import browser_remember

    user, _device, client = _devices_ready()
    browser_remember(user=user, user_agent="Firefox")
    browser_id = RememberedBrowser.objects.get(user=user).pk
    return Reached(client, reverse("twofactor:browser_forget", args=[browser_id]), user)


@post_route(
    "twofactor:confirm",
    fields=lambda: [*_method_choice_fields(), "next"],
    changes=SECOND_FACTOR_CHANGES,
)
def _reach_twofactor_confirm():
    user = member()
    device = device_of(user, number="+16175550142")
    return Reached(
        signed_in(user),
        reverse("twofactor:confirm"),
        user,
        valid={
            "device": [str(device.pk)],
            "method": ["passcode", "sms", "push"],
            "action": ["send", "webauthn", "push"],
        },
    )


# The enrollment wizard: a second device, after a fresh second factor.

ENROLL_CHANGES = (
    "twofactor.Device",
    "twofactor.PhoneDevice",
    "twofactor.ActivationLink",
    "twofactor.AppKey",
    "twofactor.SecurityKey",
    "twofactor.WebAuthnChallenge",
    "otp_totp.TOTPDevice",
    "delivery.Message",
)

# How the wizard is walked to each stage, as a person fills its pages.
ENROLL_STEPS = {
    "enroll_type": [("enroll", {"add": "1"})],
    "enroll_phone": [("enroll", {"add": "1"}), ("enroll_type", {"kind": "mobile"})],
    "enroll_phone_type": [
        ("enroll", {"add": "1"}),
        ("enroll_type", {"kind": "mobile"}),
        ("enroll_phone", {"number": "617-555-0166", "correct": "on"}),
    ],
    "enroll_install": [
        ("enroll", {"add": "1"}),
        ("enroll_type", {"kind": "tablet"}),
    ],
    "enroll_activate": [
        ("enroll", {"add": "1"}),
        ("enroll_type", {"kind": "tablet"}),
        ("enroll_install", {}),
    ],
    "enroll_call": [
        ("enroll", {"add": "1"}),
        ("enroll_type", {"kind": "landline"}),
        ("enroll_phone", {"number": "617-432-0177", "correct": "on"}),
    ],
    "enroll_key": [("enroll", {"add": "1"}), ("enroll_type", {"kind": "key"})],
    "enroll_key_options": [("enroll", {"add": "1"}), ("enroll_type", {"kind": "key"})],
}


def _enroll_reach(stage: str, **valid):
    def reach():
        user, _device, client = _devices_ready()
        for step, data in ENROLL_STEPS.get(stage, []):
            response = client.post(reverse(f"twofactor:{step}"), data)
            assert response.status_code == 302, (step, response.content)
        return Reached(
            client,
            reverse(f"twofactor:{stage}"),
            user,
            valid={k: list(v) for k, v in valid.items()},
        )

    return reach


def _fields_of(*names: str, extra: tuple[str, ...] = ("action",)):
    def fields():
        from twofactor import forms

        return [*form_fields(*(getattr(forms, name) for name in names)), *extra]

    return fields


post_route("twofactor:enroll", fields=lambda: ["add"], changes=ENROLL_CHANGES)(
    _enroll_reach("enroll", add=["1"])
)
post_route("twofactor:enroll_type", fields=_fields_of("DeviceKindForm"), changes=ENROLL_CHANGES)(
    _enroll_reach("enroll_type", kind=["mobile", "tablet", "landline", "key"], action=["back"])
)
post_route(
    "twofactor:enroll_phone",
    fields=_fields_of("DeviceNumberForm", "OwnershipSendForm", "EnrollPasscodeForm"),
    changes=ENROLL_CHANGES,
)(
    _enroll_reach(
        "enroll_phone",
        number=["617-555-0166", "+44 7700 900123"],
        correct=["on"],
        action=["back", "send", "code", "change"],
    )
)
post_route(
    "twofactor:enroll_phone_type", fields=_fields_of("PhoneTypeForm"), changes=ENROLL_CHANGES
)(_enroll_reach("enroll_phone_type", phone_type=["iphone", "android", "other"], action=["back"]))
post_route("twofactor:enroll_install", fields=lambda: ["action"], changes=ENROLL_CHANGES)(
    _enroll_reach("enroll_install", action=["back", "portal_app", ""])
)
post_route(
    "twofactor:enroll_activate", fields=_fields_of("EnrollPasscodeForm"), changes=ENROLL_CHANGES
)(_enroll_reach("enroll_activate", action=["back", "email", "confirm"]))
post_route(
    "twofactor:enroll_call", fields=_fields_of("EnrollPasscodeForm"), changes=ENROLL_CHANGES
)(_enroll_reach("enroll_call", action=["back", "send", "code"]))
post_route(
    "twofactor:enroll_key", fields=_fields_of("SecurityKeyRegisterForm"), changes=ENROLL_CHANGES
)(_enroll_reach("enroll_key", name=["My key"], action=["back"]))
post_route("twofactor:enroll_key_options", body="nothing", changes=ENROLL_CHANGES)(
    _enroll_reach("enroll_key_options")
)


@post_route("twofactor:enroll_done", fields=lambda: ["action"], changes=ENROLL_CHANGES)
def _reach_enroll_done():
    from tests.twofactor.conftest import app_passcode
    from twofactor.models import Device

    reach = _enroll_reach("enroll_activate")()
    device = Device.objects.filter(user=reach.user, confirmed_at__isnull=True).get()
    response = reach.client.post(reach.path, {"code": app_passcode(device)})
    assert response.status_code == 302, response.content
    reach.path = reverse("twofactor:enroll_done")
    reach.valid = {"action": ["another", "test", ""]}
    return reach


@post_route("twofactor:activation_link", body="nothing", changes=ENROLL_CHANGES)
def _reach_activation_link():
    from twofactor.models import Device
    from twofactor.services import activation_link_create, device_start

    user = member()
    device = device_start(user=user, kind=Device.Kind.TABLET, name="Tablet", app=True)
    token = activation_link_create(device=device)
    return Reached(browser(), reverse("twofactor:activation_link", args=[token]), user)


# The phone app's API: JSON signed by the phone's key, no session.

APP_CHANGES = (
    "twofactor.AppKey",
    "twofactor.ActivationLink",
    "twofactor.PushRequest",
    "twofactor.FraudReport",
    "twofactor.Device",
)
API_FIELDS = {
    "mobile:api_activate": ["token", "public_key", "platform", "signature"],
    "mobile:api_requests": ["app_id", "ts", "signature"],
    "mobile:api_decide": ["app_id", "request_id", "number", "decision", "nonce", "signature"],
    "mobile:api_subscribe": ["app_id", "ts", "subscription", "signature"],
}


def _api_reach(name: str):
    def reach():
        return Reached(Client(REMOTE_ADDR="10.20.0.7"), reverse(name))

    return reach


for _name, _fields in API_FIELDS.items():
    post_route(_name, fields=lambda f=_fields: list(f), changes=APP_CHANGES, body="json")(
        _api_reach(_name)
    )


# Guests ------------------------------------------------------------------------------------------


def _guest(sponsor):
    from guests.services.sponsorship import GuestDetails, guest_request_create

    today = timezone.localdate()
    details = GuestDetails(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@partner.example",
        organisation="Partner Lab",
        purpose="Shared data analysis.",
        start_date=today,
        end_date=today + timedelta(days=30),
    )
    return guest_request_create(sponsor=sponsor, details=details, attested=True)


GUEST_CHANGES = ("guests.Sponsorship", "guests.GuestKey", "delivery.Message", "accounts.User")


def _request_fields():
    from guests.forms import InvitedUserRequestForm

    return form_fields(InvitedUserRequestForm)


@post_route("guests:request", fields=_request_fields, changes=GUEST_CHANGES)
def _reach_guest_request():
    today = timezone.localdate()
    user = member()
    return Reached(
        signed_in(user),
        reverse("guests:request"),
        user,
        valid={
            "first_name": ["Ada"],
            "last_name": ["Lovelace"],
            "email": ["ada@partner.example"],
            "organisation": ["Partner Lab"],
            "purpose": ["Shared data."],
            "start_date": [today.isoformat()],
            "end_date": [(today + timedelta(days=10)).isoformat()],
            "attest": ["on"],
            "submission": ["one-time-token"],
        },
    )


def _guest_page(name: str, fields_of: str, **valid):
    def reach():
        user = member()
        issued = _guest(user)
        values = {k: list(v) for k, v in valid.items()}
        if name == "guests:extend":
            values["end_date"] = [(issued.sponsorship.end_date + timedelta(days=5)).isoformat()]
        return Reached(
            signed_in(user), reverse(name, args=[issued.sponsorship.pk]), user, valid=values
        )

    def fields():
        from guests import forms

        return form_fields(getattr(forms, fields_of))

    post_route(name, fields=fields, changes=GUEST_CHANGES)(reach)


_guest_page("guests:extend", "ExtendForm")
_guest_page("guests:revoke", "RevokeForm", reason=["No longer needed"])
_guest_page("guests:new_key", "ConfirmForm", submission=["another-one-time-token"])


# Pages that take any method and ignore a posted body ---------------------------------------------


# What pages load rather than people read: the CAPTCHA's picture, sound and refresh. An
# unknown or expired key answers an empty 410 (django-simple-captcha), which an <img> shows
# as no picture and the page around it explains.
RESOURCES = {"captcha-image", "captcha-image-2x", "captcha-audio", "captcha-refresh"}


def _captcha_key() -> str:
    from captcha.models import CaptchaStore

    return CaptchaStore.generate_key()


IGNORES_BODY = {
    "accounts:preferences": _signed_in_page("accounts:preferences"),
    "captcha-image": lambda: Reached(browser(), reverse("captcha-image", args=[_captcha_key()])),
    "captcha-image-2x": lambda: Reached(
        browser(), reverse("captcha-image-2x", args=[_captcha_key()])
    ),
    "captcha-audio": lambda: Reached(browser(), reverse("captcha-audio", args=[_captcha_key()])),
    "captcha-refresh": lambda: Reached(browser(), reverse("captcha-refresh")),
    # Development only: 404 unless DEBUG is on.
    "dev_outbox": lambda: Reached(browser(), reverse("dev_outbox")),
}
for _name, _reach in IGNORES_BODY.items():
    post_route(_name, body="nothing")(_reach)


# The admin ---------------------------------------------------------------------------------------

# The admin's own model pages (Django's add, change, delete, history and changelist views, and
# the console's actions) take POSTs from staff only; they are catalogued as one group. The fuzz
# posts a hostile body to each of them signed out, as a person who is not staff (neither may
# reach them) and as an identity administrator (never a 500).
ADMIN_NAMESPACE = "admin:"


def is_admin(name: str) -> bool:
    return name.startswith(ADMIN_NAMESPACE) or name.startswith("<unnamed admin/")


def catalogued(route: Route) -> bool:
    return route.name in CATALOGUE or is_admin(route.name)


def post_routes() -> list[Route]:
    """Every route whose view accepts a POST."""
    return [route for route in all_routes() if route.accepts_post]


def admin_url(route: Route) -> str:
    """A path of an admin route, its arguments filled with an existing-looking object."""
    path = "/" + route.route
    path = re.sub(r"\^|\$", "", path)
    path = re.sub(r"\(\?P<app_label>[^)]*\)", "accounts", path)
    path = re.sub(r"\(\?P<url>[^)]*\)", "no/such/page/", path)
    path = re.sub(r"<int:[a-z_]+>", "1", path)
    path = re.sub(r"<(path:|str:|slug:)?[a-z_]+>", "1", path)
    return path
