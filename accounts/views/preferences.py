"""Preferences and My Address: one view per section of the address page, each at its own URL.

The page (``address``) shows every section read-only; a section's own URL shows the same page
with that section's form open and takes its form's post.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import AddressForm, DirectoryChangeForm, EmailChangeForm
from accounts.models import Address
from accounts.services import profile
from accounts.services.expiry import password_expires_at
from accounts.services.recent_proof import RecentProofRequired, confirm_it_is_you
from safecode.selectors import channel_list_pending, channel_list_verified

EMPTY_ADDRESS = "Enter at least one line of the address. An empty address is not saved."
HR_REQUEST_SENT = "Your request was sent to HR. It shows as pending until HR updates the directory."


@never_cache
def preferences(request):
    """What a person can change themselves, as it stands now, each with the way to change it."""
    user = request.user
    saved = {a.kind: a for a in Address.objects.filter(user=user)}
    return render(
        request,
        "accounts/preferences.html",
        {
            "channels": channel_list_verified(user),
            "pending": channel_list_pending(user),
            "password_changed_at": user.password_changed_at,
            "password_expires_at": password_expires_at(user),
            "addresses": [
                {"label": label, "address": saved.get(kind)} for kind, label in Address.Kind.choices
            ],
        },
    )


def _address_page(request, *, section: str = "", form=None):
    """My Address with at most one section's form open; a form that comes back from a post
    comes back because it was refused, so the page answers 400."""
    user = request.user
    saved = {a.kind: a for a in Address.objects.filter(user=user)}
    addresses = [
        {
            "kind": kind,
            "label": label,
            "address": saved.get(kind),
            "form": form if section == kind else None,
        }
        for kind, label in Address.Kind.choices
    ]
    pending = []
    if user.person_id:
        pending = list(user.person.change_requests.filter(confirmed_at__isnull=True))
    status = HTTPStatus.BAD_REQUEST if request.method == "POST" else HTTPStatus.OK
    return render(
        request,
        "accounts/address.html",
        {
            "person": user.person if user.person_id else None,
            "addresses": addresses,
            "pending": pending,
            "hr_form": form if section == "hr" else None,
            "email_form": form if section == "email" else None,
            "page_has_errors": bool(form is not None and form.errors),
        },
        status=status,
    )


@never_cache
@require_GET
def address(request):
    """Office (from HR, read-only), home and mailing addresses, and the contact email."""
    return _address_page(request)


@never_cache
@require_http_methods(["GET", "POST"])
def address_edit(request, kind: str):
    """Edit the home or mailing address (``kind``); an empty one is refused, not saved."""
    kinds = dict(Address.Kind.choices)
    if kind not in kinds:
        raise Http404("No such address.")
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid() and not any(form.cleaned_data.values()):
            form.add_error(None, EMPTY_ADDRESS)
        if form.is_valid():
            profile.address_save(
                user=request.user, kind=kind, data=form.cleaned_data, request=request
            )
            messages.success(request, f"{kinds[kind]} saved.")
            return redirect("accounts:address")
    else:
        current = Address.objects.filter(user=request.user, kind=kind).first()
        initial = {f: getattr(current, f) for f in AddressForm.base_fields} if current else {}
        form = AddressForm(initial=initial)
    return _address_page(request, section=kind, form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def directory_change(request):
    """Ask HR to change an office detail; only an account linked to the directory can."""
    if not request.user.person_id:
        return redirect("accounts:address")
    form = DirectoryChangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        profile.directory_change_request(user=request.user, request=request, **form.cleaned_data)
        messages.success(request, HR_REQUEST_SENT)
        return redirect("accounts:address")
    return _address_page(request, section="hr", form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def email_change(request):
    """Change the contact email: a link goes to the new address, and after a fresh proof only,
    because the contact email is where account notices go."""
    form = EmailChangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            profile.email_change_start(
                user=request.user, new_email=form.cleaned_data["email"], request=request
            )
        except RecentProofRequired:
            return confirm_it_is_you(reverse("accounts:email_change"))
        messages.success(
            request,
            f"We sent a link to {form.cleaned_data['email']}. Your email changes when you open it.",
        )
        return redirect("accounts:address")
    return _address_page(request, section="email", form=form)


@never_cache
def email_confirm(request, token: str):
    if profile.email_change_confirm(user=request.user, token=token, request=request):
        messages.success(request, f"Your contact email is now {request.user.email}.")
        return redirect("accounts:address")
    return render(request, "accounts/link_invalid.html", status=HTTPStatus.NOT_FOUND)
