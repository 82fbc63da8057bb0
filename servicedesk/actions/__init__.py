"""The service desk's actions on an account, declared once each and run one way.

An action is a ``DeskAction``: a name, the button's words, the permission it needs, the panel
of the person's page it sits in, whether it applies to this account now, an optional form for
what it needs beyond the reason, and ``run``, which calls the domain service that does the
work. ``desk_action_run`` is the only way one runs, from any page:

1. the agent must hold the action's permission and the action must apply to the account;
2. a reason is written, unless the agent verified this caller within
   ``SERVICEDESK_VERIFIED_CALL_MINUTES`` (then the verification stands in for it); an action
   marked ``needs_verified_call`` wants the verification as well;
3. ``run`` does the work and says what it did, in the desk's words;
4. the action is in the audit trail (``desk.<name>``, with the reason and the verification)
   and, unless the action has told the person itself, the person is emailed.

Modules in this package register their actions with ``@register`` (and their panels' context,
``servicedesk.panels``); ``servicedesk.apps`` imports each of them (``ACTION_MODULES``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services.notices import Reach, notice_send
from audit.models import AuditEvent
from audit.services import audit_record
from servicedesk.app_settings import app_settings
from servicedesk.models import CallerCheck


class ActionRefused(Exception):
    """The action cannot be done now; the message says why, in the desk's words."""


@dataclass(frozen=True)
class Done:
    """What an action did: ``message`` for the agent, the audit and the person's notice. An
    action that must show something once (bypass codes) names the ``template`` of the page
    that shows it and puts it in ``show``; the page is the response to the button, and what
    it shows is kept nowhere."""

    message: str
    template: str = ""
    show: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionContext:
    agent: User
    account: User
    reason: str
    data: dict[str, Any]
    request: HttpRequest | None
    call: CallerCheck | None


@dataclass(frozen=True)
class DeskAction:
    name: str
    label: str
    permission: str
    panel: str
    run: Callable[[ActionContext], str | Done]
    applies: Callable[[User], bool] = lambda account: True
    form: type[forms.Form] | None = None
    needs_verified_call: bool = False
    # Whether ``run`` tells the person itself (through the domain service's own notice).
    notifies: bool = False
    help: str = ""
    order: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def allowed(self, agent: User) -> bool:
        return agent.has_perm(f"servicedesk.{self.permission}")


def may_act_on(agent: User, account: User) -> bool:
    """Whether ``agent`` may act on ``account`` at all.

    Nobody acts on their own account here (a second agent does), and the accounts of console
    staff and superusers are acted on only by identity administrators
    (``servicedesk.act_on_staff``) or a superuser: otherwise the lowest console role could
    disable its administrators, remove their devices or reset their SafeCode.
    """
    if agent.pk == account.pk:
        return False
    if account.is_staff or account.is_superuser:
        return agent.is_superuser or agent.has_perm("servicedesk.act_on_staff")
    return True


REGISTRY: dict[str, DeskAction] = {}

ACTION_MODULES = [
    "account",
    "bypass",
    "guests",
    "lost_phone",
    "messages",
    "passwords",
    "safecode",
    "twofactor",
]


def register(**kwargs) -> Callable[[Callable[[ActionContext], str | Done]], Callable]:
    """``@register(name=..., label=..., permission=..., panel=...)`` over the action's ``run``,
    which returns what it did (a sentence, or a ``Done``)."""

    def decorator(run: Callable[[ActionContext], str | Done]) -> Callable:
        action = DeskAction(run=run, **kwargs)
        if action.name in REGISTRY:
            raise ValueError(f"Two desk actions are named {action.name!r}.")
        REGISTRY[action.name] = action
        return run

    return decorator


def actions_for(*, agent: User, account: User, panel: str | None = None) -> list[DeskAction]:
    """The actions ``agent`` may take on ``account`` now, in the panel's order."""
    if not may_act_on(agent, account):
        return []
    found = [
        action
        for action in REGISTRY.values()
        if (panel is None or action.panel == panel)
        and action.allowed(agent)
        and action.applies(account)
    ]
    return sorted(found, key=lambda action: (action.order, action.name))


def verified_call(*, agent: User, account: User) -> CallerCheck | None:
    """The agent's verification of this account's caller that still stands, if any."""
    since = timezone.now() - app_settings.VERIFIED_CALL_TTL
    return CallerCheck.objects.filter(
        agent=agent, account=account, verified=True, created_at__gt=since
    ).first()


class ReasonForm(forms.Form):
    """The reason every action's button carries. The page builds each action's form with the
    account it acts on (``account``), so a form can offer that account's channels or devices."""

    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="What the person asked for, or why. Not needed after a verified call.",
    )

    def __init__(self, *args, account: User | None = None, **kwargs):
        self.account = account
        super().__init__(*args, **kwargs)


def desk_action_run(
    *,
    name: str,
    agent: User,
    account: User,
    reason: str,
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> Done:
    """Run the action ``name`` on ``account`` for ``agent``; returns what it did.

    Raises ``PermissionError`` when the agent lacks the action's permission, and
    ``ActionRefused`` (with a message for the agent) when it does not apply, a reason or a
    verified call is missing, or the work itself cannot be done.
    """
    action = REGISTRY.get(name)
    if action is None or not action.allowed(agent) or not may_act_on(agent, account):
        audit_record(
            event="desk.refused",
            outcome=AuditEvent.Outcome.FAILURE,
            subject=account,
            actor=agent,
            request=request,
            action=name,
        )
        raise PermissionError(name)
    if not action.applies(account):
        raise ActionRefused(f"“{action.label}” does not apply to this account now.")
    call = verified_call(agent=agent, account=account)
    reason = " ".join((reason or "").split())
    if action.needs_verified_call and call is None:
        raise ActionRefused(f"“{action.label}” needs a verified call first: verify the caller.")
    if not reason and call is None:
        raise ActionRefused("Write a reason, or verify the caller first.")
    context = ActionContext(
        agent=agent, account=account, reason=reason, data=data or {}, request=request, call=call
    )
    with transaction.atomic():
        done = action.run(context)
        if isinstance(done, str):
            done = Done(done)
        audit_record(
            event=f"desk.{action.name}",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=account,
            actor=agent,
            request=request,
            reason=reason,
            verified_call=call.pk if call else None,
            done=done.message,
        )
        if not action.notifies:
            notice_send(
                user=account,
                name="servicedesk/action_taken",
                context={"done": done.message},
                reach=Reach.ACCOUNT_AND_SAFECODE_EMAILS,
                purpose="desk_action",
            )
    return done
