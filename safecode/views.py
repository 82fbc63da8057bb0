"""SafeCode pages: the registration prompt, the channel screen, and confirming a channel."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.services.recent_proof import (
    RecentProofRequired,
    confirm_it_is_you,
    recent_proof_satisfied,
)
from portal.http import is_safe_next
from safecode.app_settings import app_settings
from safecode.errors import (
    SafeCodeInvalidFormat,
    SafeCodeLastChannel,
    SafeCodeLockedOut,
    SafeCodeSkipsExhausted,
    SafeCodeThrottled,
)
from safecode.forms import ChannelForm, CodeForm
from safecode.models import Channel, Purpose
from safecode.requirements import mark_prompt_skipped
from safecode.selectors import (
    channel_list_pending,
    channel_list_verified,
    safecode_locked_until,
    safecode_open_code,
    safecode_send_throttle,
)
from safecode.services import (
    CheckResult,
    channel_register,
    channel_remove,
    channel_verify,
    safecode_issue,
    safecode_skip,
)

NEXT_SESSION_KEY = "safecode:next"


def _next_target(request, default: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next")
    return target if is_safe_next(request, target) else default


@never_cache
@require_http_methods(["GET", "POST"])
def prompt(request):
    """The "Register for SafeCode" prompt, with Skip while the account has skips left."""
    if channel_list_verified(request.user).exists():
        return redirect(_next_target(request))
    skips_left = max(app_settings.MAX_SKIPS - request.user.safecode_skips, 0)
    if request.method == "POST":
        try:
            safecode_skip(user=request.user, request=request)
        except SafeCodeSkipsExhausted as exc:
            messages.error(request, str(exc))
            return redirect("safecode:prompt")
        mark_prompt_skipped(request)
        return redirect(_next_target(request))
    next_url = request.GET.get("next", "")
    if is_safe_next(request, next_url):
        # Where the person was going: once the first contact is confirmed, they go on there.
        request.session[NEXT_SESSION_KEY] = next_url
    return render(
        request,
        "safecode/prompt.html",
        {
            "skips_left": skips_left,
            "max_skips": app_settings.MAX_SKIPS,
            "next": next_url if is_safe_next(request, next_url) else "",
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def manage(request):
    """The SafeCode screen: channels in force, channels waiting, and the form to add one."""
    form = ChannelForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            waiting = channel_register(
                user=request.user,
                phone=form.cleaned_data["phone"],
                carrier=form.cleaned_data["carrier"],
                email=form.cleaned_data["email"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except RecentProofRequired:
            return confirm_it_is_you(reverse("safecode:manage"))
        else:
            if form.email_is_affiliate:
                messages.info(request, "An affiliated hospital's address: a good choice.")
            if waiting:
                return redirect("safecode:verify", pk=waiting[0].pk)
            return redirect("safecode:manage")
    return _render_manage(request, form=form)


def _render_manage(request, *, form, status=HTTPStatus.OK, remove_error: str = ""):
    status = HTTPStatus.BAD_REQUEST if form.errors and status == HTTPStatus.OK else status
    verified = list(channel_list_verified(request.user))
    return render(
        request,
        "safecode/manage.html",
        {
            "form": form,
            "verified": verified,
            "pending": list(channel_list_pending(request.user)),
            "can_remove": len(verified) > 1,
            "proof_needed": bool(verified) and not recent_proof_satisfied(request, request.user),
            "remove_error": remove_error,
            "institution_domains": settings.INSTITUTION_EMAIL_DOMAINS,
            "affiliate_domains": settings.AFFILIATE_EMAIL_DOMAINS,
        },
        status=status,
    )


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def verify(request, pk: int):
    """Enter the code sent to a channel waiting for confirmation."""
    channel = get_object_or_404(Channel, pk=pk, user=request.user)
    if channel.status != Channel.Status.PENDING:
        return redirect("safecode:manage")
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = HTTPStatus.OK
    if request.method == "POST":
        status = HTTPStatus.BAD_REQUEST
        if form.is_valid():
            try:
                result = channel_verify(
                    user=request.user,
                    channel=channel,
                    code=form.cleaned_data["code"],
                    request=request,
                )
            except RecentProofRequired:
                return confirm_it_is_you(reverse("safecode:verify", args=[channel.pk]))
            except SafeCodeInvalidFormat as exc:
                form.add_error("code", str(exc))
            except SafeCodeLockedOut:
                status = HTTPStatus.TOO_MANY_REQUESTS
            else:
                if result is CheckResult.ACCEPTED:
                    messages.success(
                        request,
                        f"Your SafeCode {channel.get_kind_display().lower()} {channel.masked} "
                        "is confirmed.",
                    )
                    waiting = channel_list_pending(request.user).first()
                    if waiting is not None:
                        return redirect("safecode:verify", pk=waiting.pk)
                    after = request.session.pop(NEXT_SESSION_KEY, "")
                    return redirect(after if is_safe_next(request, after) else "safecode:manage")
                form.add_error("code", result.message)
    return _render_verify(request, channel=channel, form=form, status=status)


def _render_verify(request, *, channel, form, status=HTTPStatus.OK, throttle=None, refused=None):
    user = request.user
    open_code = safecode_open_code(user=user, purpose=Purpose.CHANNEL_VERIFY)
    sent = (
        open_code is not None
        and open_code.channel_id == channel.pk
        and open_code.expires_at > timezone.now()
    )
    return render(
        request,
        "safecode/verify.html",
        {
            "channel": channel,
            "code_form": form,
            "sent": sent,
            "code": open_code if sent else None,
            "throttle": throttle
            or safecode_send_throttle(user=user, purpose=Purpose.CHANNEL_VERIFY, channel=channel),
            "locked_until": safecode_locked_until(user=user, purpose=Purpose.CHANNEL_VERIFY),
            "refused": refused,
        },
        status=status,
    )


@never_cache
@require_POST
def send(request, pk: int):
    """Send (or send again) the confirmation code to a channel waiting for it."""
    channel = get_object_or_404(Channel, pk=pk, user=request.user, status=Channel.Status.PENDING)
    try:
        safecode_issue(
            user=request.user, purpose=Purpose.CHANNEL_VERIFY, channel=channel, request=request
        )
    except SafeCodeThrottled as exc:
        return _render_verify(
            request,
            channel=channel,
            form=CodeForm(),
            status=HTTPStatus.TOO_MANY_REQUESTS,
            throttle=exc,
            refused=exc,
        )
    except SafeCodeLockedOut:
        return _render_verify(
            request, channel=channel, form=CodeForm(), status=HTTPStatus.TOO_MANY_REQUESTS
        )
    messages.success(request, f"We sent a new code to {channel.masked}.")
    return redirect("safecode:verify", pk=channel.pk)


@never_cache
@require_POST
def remove(request, pk: int):
    """Remove a verified channel (never the last one) or cancel a waiting one."""
    channel = get_object_or_404(Channel, pk=pk, user=request.user)
    try:
        channel_remove(user=request.user, channel=channel, request=request)
    except RecentProofRequired:
        return confirm_it_is_you(reverse("safecode:manage"))
    except SafeCodeLastChannel as exc:
        return _render_manage(
            request,
            form=ChannelForm(user=request.user),
            status=HTTPStatus.CONFLICT,
            remove_error=str(exc),
        )
    if channel.status == Channel.Status.VERIFIED:
        messages.success(request, f"{channel.masked} no longer receives SafeCodes.")
    return redirect("safecode:manage")
