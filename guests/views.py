"""The sponsor's pages at /guests/: My guests, the Invited User Request Form, and the actions
on one guest (extend, revoke, a new key). Each page parses its form, calls one service of
``guests.services.sponsorship`` and shows the result.

A key is shown in the response to the form that issued it and nowhere else: it is kept in no
session, no log and no later page. The form carries a one-time token, so reloading the page
that shows a key (which sends the form again) issues nothing more and says so.
"""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from guests.forms import (
    ConfirmForm,
    ExtendForm,
    InvitedUserRequestForm,
    RevokeForm,
    submission_token,
)
from guests.selectors import sponsor_eligible, sponsor_guests, sponsorship_of
from guests.services import sponsorship as service


def _own(request, pk: int):
    sponsorship = sponsorship_of(request.user, pk)
    if sponsorship is None:
        raise Http404
    return sponsorship


def _not_eligible(request):
    return render(request, "guests/not_eligible.html", status=HTTPStatus.FORBIDDEN)


def _key_page(request, issued, *, again: bool):
    context = {
        "issued": issued,
        "guest": issued.sponsorship,
        "again": again,
        "register_url": f"{settings.PORTAL_URL}{reverse('accounts:register')}",
    }
    return render(request, "guests/key.html", context)


def _already_sent(request):
    messages.info(
        request,
        "That form was already sent, so nothing more was issued. The key was shown then and "
        "emailed to you; if it is lost, issue a new key.",
    )
    return redirect("guests:home")


@never_cache
@require_http_methods(["GET"])
def guests_home(request):
    guests = list(sponsor_guests(request.user))
    eligible = sponsor_eligible(request.user)
    if not eligible and not guests:
        return _not_eligible(request)
    rows = [(guest, guest.shown_status(live_key=guest.has_live_key)) for guest in guests]
    return render(request, "guests/home.html", {"rows": rows, "eligible": eligible})


@never_cache
@require_http_methods(["GET", "POST"])
def guest_request(request):
    if not sponsor_eligible(request.user):
        return _not_eligible(request)
    form = InvitedUserRequestForm(request.POST or None, initial={"submission": submission_token()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        details = service.GuestDetails(
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
            organisation=data["organisation"],
            purpose=data["purpose"],
            start_date=data["start_date"],
            end_date=data["end_date"],
        )
        try:
            issued = service.guest_request_create(
                sponsor=request.user,
                details=details,
                attested=data["attest"],
                submission=data["submission"],
                request=request,
            )
        except service.AlreadySubmitted:
            return _already_sent(request)
        except service.DatesNotAllowed as exc:  # the day changed since the form was checked
            form.add_error(exc.field, str(exc))
        else:
            return _key_page(request, issued, again=False)
    return render(request, "guests/request.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def guest_new_key(request, pk: int):
    sponsorship = _own(request, pk)
    if not sponsor_eligible(request.user):
        return _not_eligible(request)
    form = ConfirmForm(request.POST or None, initial={"submission": submission_token()})
    if request.method == "POST" and form.is_valid():
        try:
            issued = service.guest_key_reissue(
                sponsor=request.user,
                sponsorship=sponsorship,
                submission=form.cleaned_data["submission"],
                request=request,
            )
        except service.AlreadySubmitted:
            return _already_sent(request)
        except service.SponsorshipClosed:
            messages.error(request, _closed_message(sponsorship))
            return redirect("guests:home")
        return _key_page(request, issued, again=True)
    return render(request, "guests/new_key.html", {"form": form, "guest": sponsorship})


@never_cache
@require_http_methods(["GET", "POST"])
def guest_extend(request, pk: int):
    sponsorship = _own(request, pk)
    if not sponsor_eligible(request.user):
        return _not_eligible(request)
    form = ExtendForm(request.POST or None, sponsorship=sponsorship)
    if request.method == "POST" and form.is_valid():
        try:
            updated = service.guest_extend(
                sponsor=request.user,
                sponsorship=sponsorship,
                end_date=form.cleaned_data["end_date"],
                request=request,
            )
        except service.SponsorshipClosed:
            messages.error(request, _closed_message(sponsorship))
            return redirect("guests:home")
        except service.DatesNotAllowed as exc:
            form.add_error("end_date", str(exc))
        else:
            messages.success(
                request,
                f"{updated.full_name}'s access now ends at the end of "
                f"{date_format(updated.end_date, 'DATE_FORMAT')}.",
            )
            return redirect("guests:home")
    return render(request, "guests/extend.html", {"form": form, "guest": sponsorship})


@never_cache
@require_http_methods(["GET", "POST"])
def guest_revoke(request, pk: int):
    sponsorship = _own(request, pk)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        revoked = service.guest_revoke(
            sponsorship=sponsorship,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            request=request,
        )
        if revoked:
            messages.success(
                request,
                f"{sponsorship.full_name}'s guest access is revoked: the key no longer works "
                "and the account, if there was one, is disabled and signed out everywhere.",
            )
        else:
            messages.error(request, _closed_message(sponsorship))
        return redirect("guests:home")
    return render(request, "guests/revoke.html", {"form": form, "guest": sponsorship})


def _closed_message(sponsorship) -> str:
    return f"{sponsorship.full_name}'s guest access has already ended, so nothing was changed."
