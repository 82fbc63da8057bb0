"""Bypass codes: issue 1 to 10 single-use 9-digit codes for a caller who cannot use any device,
show them once, list the account's codes (never the codes themselves) and revoke the unused.

The work is ``twofactor.bypass``'s; the person is emailed by it when codes are issued, so
``issue_bypass_codes`` does not send the desk's generic notice as well. ``issue_for`` is the
same issue for other actions (a lost phone ends with one code, so the person can sign in and
enroll the new phone).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from portal.formats import local_datetime
from servicedesk.actions import ActionContext, ActionRefused, Done, ReasonForm, register
from servicedesk.panels import panel_context
from twofactor.bypass import (
    MAX_CODES,
    BypassRefused,
    bypass_code_revoke,
    bypass_codes_issue,
    bypass_codes_live,
    bypass_codes_revoke_all,
    bypass_lifetime,
)
from twofactor.models import BypassCode

LIFETIMES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "4h": ("4 hours", timedelta(hours=4)),
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
}
SHOWN_TEMPLATE = "servicedesk/bypass_shown.html"
LISTED = 20


class IssueBypassForm(ReasonForm):
    count = forms.TypedChoiceField(
        label="How many",
        coerce=int,
        choices=[(n, str(n)) for n in range(1, MAX_CODES + 1)],
        initial=1,
        error_messages={"invalid_choice": f"Choose from 1 to {MAX_CODES} codes."},
    )
    lifetime = forms.ChoiceField(
        label="They work for",
        choices=[(key, label) for key, (label, _) in LIFETIMES.items()],
        initial="1h",
        error_messages={"invalid_choice": "Choose how long the codes work."},
    )

    def clean_lifetime(self) -> timedelta:
        return LIFETIMES[self.cleaned_data["lifetime"]][1]


def issue_for(context: ActionContext, count: int = 1, lifetime: timedelta | None = None) -> Done:
    """Issue ``count`` bypass codes for the context's account and the page that shows them
    once; for any desk action that ends with one (``lost_phone``). Raises ``ActionRefused``
    when they cannot be issued."""
    try:
        lifetime = bypass_lifetime(lifetime)
        codes = bypass_codes_issue(
            user=context.account,
            agent=context.agent,
            count=count,
            lifetime=lifetime,
            request=context.request,
        )
    except BypassRefused as exc:
        raise ActionRefused(exc.message) from exc
    expires_at = local_datetime(timezone.now() + lifetime)
    plural = "code" if count == 1 else "codes"
    return Done(
        f"Issued {count} bypass {plural}, working once each until {expires_at}.",
        template=SHOWN_TEMPLATE,
        show={"codes": codes, "expires_at": expires_at},
    )


@register(
    name="issue_bypass_codes",
    label="Issue bypass codes",
    permission="issue_bypass_codes",
    panel="bypass",
    applies=lambda account: account.may_sign_in,
    form=IssueBypassForm,
    notifies=True,
    order=10,
    help=(
        "Each code lets the person past the second step of sign-in once, in place of a "
        "device. You see the codes once, on the next page."
    ),
)
def issue_bypass_codes(context: ActionContext) -> Done:
    return issue_for(
        context, count=context.data.get("count", 1), lifetime=context.data.get("lifetime")
    )


def _has_live_codes(account: User) -> bool:
    return bypass_codes_live(user=account).exists()


@register(
    name="revoke_bypass_codes",
    label="Revoke unused bypass codes",
    permission="issue_bypass_codes",
    panel="bypass",
    applies=_has_live_codes,
    order=20,
    help="Every code not yet used stops working now.",
)
def revoke_bypass_codes(context: ActionContext) -> str:
    revoked = bypass_codes_revoke_all(
        user=context.account, agent=context.agent, request=context.request
    )
    if not revoked:
        raise ActionRefused("The account has no unused bypass codes.")
    plural = "code" if revoked == 1 else "codes"
    return f"Revoked {revoked} unused bypass {plural}."


class RevokeOneForm(ReasonForm):
    code = forms.TypedChoiceField(label="Code", coerce=int, choices=())

    def __init__(self, *args, account: User | None = None, **kwargs):
        super().__init__(*args, account=account, **kwargs)
        if account is not None:
            self.fields["code"].choices = [
                (
                    code.pk,
                    f"Issued {local_datetime(code.created_at)}, "
                    f"works until {local_datetime(code.expires_at)}",
                )
                for code in bypass_codes_live(user=account).order_by("created_at")
            ]


@register(
    name="revoke_bypass_code",
    label="Revoke this code",
    permission="issue_bypass_codes",
    panel="bypass",
    applies=_has_live_codes,
    form=RevokeOneForm,
    order=15,
    help="One unused code stops working now; the others still work.",
)
def revoke_bypass_code(context: ActionContext) -> str:
    code_id = context.data.get("code")
    mine = bypass_codes_live(user=context.account).filter(pk=code_id).exists()
    if not mine or not bypass_code_revoke(
        code_id=code_id, agent=context.agent, request=context.request
    ):
        raise ActionRefused("That code was used, revoked or has expired already.")
    return "Revoked one unused bypass code."


STATE_LABELS = {
    "unused": "Unused",
    "used": "Used",
    "revoked": "Revoked",
    "expired": "Expired",
}


@panel_context("bypass")
def bypass_panel(account: User, request: HttpRequest) -> dict:
    """The account's latest codes: who issued each, when, until when, and what became of it."""
    now = timezone.now()
    rows = BypassCode.objects.filter(user=account).select_related("created_by", "revoked_by")
    codes = []
    for code in rows[:LISTED]:
        state = code.state_at(now)
        if state == "used":
            detail = f"Used {local_datetime(code.used_at)}"
        elif state == "revoked":
            by = code.revoked_by.username if code.revoked_by else "an agent"
            detail = f"Revoked {local_datetime(code.revoked_at)} by {by}"
        else:
            detail = ""
        codes.append(
            {
                "issued_by": code.created_by.username if code.created_by else "",
                "issued_at": local_datetime(code.created_at),
                "expires_at": local_datetime(code.expires_at),
                "state": state,
                "state_label": STATE_LABELS[state],
                "detail": detail,
            }
        )
    return {
        "bypass_codes": codes,
        "bypass_unused": sum(1 for c in codes if c["state"] == "unused"),
        "bypass_more": rows.count() > LISTED,
    }
