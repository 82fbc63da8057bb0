"""The sign-in pipeline: what happens after the password is proven, before the session starts.

``signin_begin`` is called by every door once a password is proven (today the portal's sign-in
page; registration ends here too). It keeps a *pending sign-in* under one session key: the
account, where to go next, an absolute deadline and the stages already done; never the
password. Each stage of ``ACCOUNTS_SIGNIN_STAGES`` (dotted paths, in order) that the account
needs sends the person to its pages, which call ``PendingSignIn.set_handled`` and then
``signin_continue`` when done. ``login()`` happens only when every stage is done, so nothing of
the account is reachable while a sign-in is pending. Apps add stages through the setting
(the second factor goes first), so this module imports none of them.

Modelled on django-allauth's ``LoginStageController`` (ordered stages, ``set_handled``,
``get_pending_stage``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import User
from accounts.services.known_browsers import browser_remember
from audit.models import AuditEvent
from audit.services import audit_record
from portal.flows import flow_runs_clear
from portal.loading import instances

PENDING_KEY = "signin:pending"
BACKEND = "accounts.backends.DirectoryBackend"


class SignInStage:
    """One stage of the pipeline. ``name`` is recorded when done; ``url_name`` is its page."""

    name: str = ""
    url_name: str = ""

    def is_needed(self, user: User, request: HttpRequest) -> bool:
        raise NotImplementedError

    def url(self) -> str:
        return reverse(self.url_name)

    def on_enter(self, request: HttpRequest, user: User) -> None:
        """Called once, when the pipeline first sends the person to this stage."""

    def after_login(self, request: HttpRequest, user: User, data) -> None:
        """Called once the session has started, with what the stage recorded when it was
        handled (``PendingSignIn.set_handled(name, data)``): the second factor marks the
        session verified with the device used."""


class ExpiredPasswordStage(SignInStage):
    """An expired password (or one an administrator set) is replaced before the session."""

    name = "expired_password"
    url_name = "accounts:password_expired"

    def is_needed(self, user: User, request: HttpRequest) -> bool:
        from accounts.services.expiry import password_is_expired

        return password_is_expired(user)

    def on_enter(self, request: HttpRequest, user: User) -> None:
        audit_record(
            event="signin.password_expired",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=user,
            request=request,
        )


def signin_stages() -> tuple[SignInStage, ...]:
    return instances(tuple(app_settings.SIGNIN_STAGES))


class PendingSignIn:
    """The sign-in waiting for its stages, under one session key with an absolute deadline."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.session = request.session
        self._user: User | None = None

    @classmethod
    def start(
        cls, request: HttpRequest, user: User, next_url: str = "", keep: tuple[str, ...] = ()
    ) -> PendingSignIn:
        """A pending sign-in for ``user``. Every journey run of the session ends with the one
        before (a SafeCode proven for another account in this browser must not carry over),
        but those of the flows named in ``keep``."""
        if request.user.is_authenticated:
            logout(request)
        flow_runs_clear(request, keep=keep)
        request.session.cycle_key()
        deadline = timezone.now() + app_settings.PENDING_SIGNIN_TIMEOUT
        request.session[PENDING_KEY] = {
            "user_id": user.pk,
            "next": next_url,
            "started": timezone.now().timestamp(),
            "deadline": deadline.timestamp(),
            "done": [],
            "entered": [],
            "data": {},
        }
        return cls(request)

    @property
    def state(self) -> dict | None:
        state = self.session.get(PENDING_KEY)
        if not state or state.get("deadline", 0) <= timezone.now().timestamp():
            return None
        return state

    @property
    def user(self) -> User | None:
        """The account waiting to sign in, while the deadline holds and it still may."""
        state = self.state
        if state is None:
            return None
        if self._user is not None and self._user.pk == state["user_id"]:
            return self._user  # read once per request, however many times the stages ask
        user = User.objects.select_related("person").filter(pk=state["user_id"]).first()
        if user is None or not user.may_sign_in or user.is_locked:
            return None
        self._user = user
        return user

    @property
    def started_at(self) -> float:
        """When the password was proven (a timestamp); 0 when nothing is pending."""
        return (self.state or {}).get("started", 0)

    @property
    def next_url(self) -> str:
        return (self.state or {}).get("next", "")

    def set_next(self, next_url: str) -> None:
        self._update(next=next_url)

    def is_pending(self, stage_name: str) -> bool:
        """Whether ``stage_name`` is the stage the sign-in waits for now."""
        user = self.user
        stage = self.pending_stage(user) if user is not None else None
        return stage is not None and stage.name == stage_name

    def pending_stage(self, user: User) -> SignInStage | None:
        done = set((self.state or {}).get("done", []))
        for stage in signin_stages():
            if stage.name not in done and stage.is_needed(user, self.request):
                return stage
        return None

    def set_handled(self, stage_name: str, data=None) -> None:
        """``stage_name`` is done; ``data`` (JSON) is handed to its ``after_login``."""
        state = self.state
        if state is not None and stage_name not in state["done"]:
            recorded = {**state.get("data", {}), stage_name: data}
            self._update(done=[*state["done"], stage_name], data=recorded)

    def clear(self) -> None:
        self.session.pop(PENDING_KEY, None)

    def _update(self, **changes) -> None:
        state = self.state
        if state is not None:
            self.session[PENDING_KEY] = {**state, **changes}


def sign_in_again(request: HttpRequest) -> HttpResponse:
    """A pending sign-in that timed out, or none: back to the sign-in page, saying why."""
    messages.info(request, "Your sign-in timed out. Sign in again.")
    return redirect("accounts:login")


def signin_begin(
    request: HttpRequest, user: User, next_url: str = "", keep: tuple[str, ...] = ()
) -> HttpResponse:
    """A password was just proven for ``user``: run the pipeline, then start the session.
    ``keep`` names journeys whose runs go on past the sign-in (registration's, finished)."""
    PendingSignIn.start(request, user, next_url, keep=keep)
    return signin_continue(request, proven=user)


def signin_continue(request: HttpRequest, proven: User | None = None) -> HttpResponse:
    """Go to the next stage the pending sign-in needs, or sign in when none is left.

    ``proven`` is the pending account as this very request read it and proved something of
    it (the password, a second factor); otherwise the pending account is read again, to see
    that it still may sign in.
    """
    pending = PendingSignIn(request)
    user = proven if proven is not None else pending.user
    if user is None:
        pending.clear()
        return sign_in_again(request)
    stage = pending.pending_stage(user)
    if stage is not None:
        state = pending.state or {}
        if stage.name not in state.get("entered", []):
            pending._update(entered=[*state.get("entered", []), stage.name])
            stage.on_enter(request, user)
        return redirect(stage.url())
    next_url = pending.next_url
    state = pending.state or {}
    pending.clear()
    login(request, user, backend=BACKEND)
    for stage in signin_stages():
        if stage.name in state.get("done", []):
            stage.after_login(request, user, state.get("data", {}).get(stage.name))
    audit_record(event="signin.succeeded", outcome="success", subject=user, request=request)
    response = redirect(expiry_warning_target(user, next_url) or next_url or reverse("home"))
    browser_remember(request, response, user)
    return response


def expiry_warning_target(user: User, next_url: str = "") -> str | None:
    """Where a sign-in goes when the password is due to expire soon, or None."""
    from accounts.services.expiry import password_expiry_warning

    if password_expiry_warning(user) is None:
        return None
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    return f"{reverse('accounts:password_expiring')}{query}"
