"""The account's standing: unlock, disable and enable, departmental or personal, a new
password at the next sign-in, and the affiliate requests that wait for the desk."""

from __future__ import annotations

from accounts.models import User
from accounts.services.registration import affiliate_decide
from accounts.services.status import (
    account_disable,
    account_enable,
    account_kind_set,
    password_change_require,
)
from accounts.services.unlock import account_unlock
from servicedesk.actions import ActionContext, ActionRefused, register


@register(
    name="unlock",
    label="Unlock",
    permission="unlock_account",
    panel="signin",
    applies=lambda account: account.is_locked,
    notifies=True,
    order=10,
    help="Clears the lock and the count of wrong passwords.",
)
def unlock(context: ActionContext) -> str:
    if not account_unlock(user=context.account, how="service_desk", request=context.request):
        raise ActionRefused("The account is not locked.")
    return "Unlocked the account."


@register(
    name="disable",
    label="Disable the account",
    permission="disable_account",
    panel="account",
    applies=lambda account: account.status == User.Status.ACTIVE,
    order=10,
    help="It can no longer sign in, and every session of it ends.",
)
def disable(context: ActionContext) -> str:
    if not account_disable(user=context.account, actor=context.agent, request=context.request):
        raise ActionRefused("The account is not active.")
    return "Disabled the account and signed it out everywhere."


@register(
    name="enable",
    label="Enable the account",
    permission="disable_account",
    panel="account",
    applies=lambda account: account.status == User.Status.DEACTIVATED,
    order=11,
)
def enable(context: ActionContext) -> str:
    if not account_enable(user=context.account):
        raise ActionRefused("The account is not disabled.")
    return "Enabled the account."


@register(
    name="mark_departmental",
    label="Mark departmental",
    permission="mark_departmental",
    panel="account",
    applies=lambda account: account.kind == User.Kind.PERSONAL,
    order=20,
    help="A departmental account cannot be unlocked or reset by self-service.",
)
def mark_departmental(context: ActionContext) -> str:
    account_kind_set(user=context.account, kind=User.Kind.DEPARTMENTAL)
    return "Marked the account departmental."


@register(
    name="mark_personal",
    label="Mark personal",
    permission="mark_departmental",
    panel="account",
    applies=lambda account: account.kind == User.Kind.DEPARTMENTAL,
    order=21,
)
def mark_personal(context: ActionContext) -> str:
    account_kind_set(user=context.account, kind=User.Kind.PERSONAL)
    return "Marked the account personal."


@register(
    name="require_password_change",
    label="Require a new password at the next sign-in",
    permission="manage_password",
    panel="password",
    applies=lambda account: not account.must_change_password,
    order=10,
)
def require_password_change(context: ActionContext) -> str:
    password_change_require(user=context.account)
    return "The account must choose a new password at its next sign-in."


def _pending(account: User) -> bool:
    return account.status == User.Status.PENDING_APPROVAL


@register(
    name="approve_affiliate",
    label="Approve the registration",
    permission="decide_affiliates",
    panel="account",
    applies=_pending,
    notifies=True,
    order=1,
)
def approve_affiliate(context: ActionContext) -> str:
    return _decide(context, approve=True)


@register(
    name="refuse_affiliate",
    label="Refuse the registration",
    permission="decide_affiliates",
    panel="account",
    applies=_pending,
    notifies=True,
    order=2,
)
def refuse_affiliate(context: ActionContext) -> str:
    return _decide(context, approve=False)


def _decide(context: ActionContext, *, approve: bool) -> str:
    if not affiliate_decide(
        user=context.account,
        approve=approve,
        actor=context.agent,
        reason=context.reason,
        request=context.request,
    ):
        raise ActionRefused("The registration is no longer waiting.")
    return "Approved the registration." if approve else "Refused the registration."
