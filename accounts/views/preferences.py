from __future__ import annotations

from http import HTTPStatus

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from accounts.forms import AddressForm, DirectoryChangeForm, EmailChangeForm
from accounts.models import Address
from accounts.services import profile
from accounts.services.expiry import password_expires_at
from accounts.services.recent_proof import RecentProofRequired, confirm_it_is_you
from safecode.selectors import channel_list_pending, channel_list_verified

EMPTY_ADDRESS = "Enter at least one line of the address. An empty address is not saved."


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


@never_cache
def address(request):
    """Office (from HR, read-only), home and mailing addresses, and the contact email."""
    user = request.user
    section = request.POST.get("section") if request.method == "POST" else request.GET.get("edit")
    kinds = dict(Address.Kind.choices)
    forms_by_section = {}
    if request.method == "POST":
        if section in kinds:
            form = AddressForm(request.POST)
            if form.is_valid() and not any(form.cleaned_data.values()):
                form.add_error(None, EMPTY_ADDRESS)
            if form.is_valid():
                profile.address_save(
                    user=user, kind=section, data=form.cleaned_data, request=request
                )
                messages.success(request, f"{kinds[section]} saved.")
                return redirect("accounts:address")
        elif section == "hr" and user.person_id:
            form = DirectoryChangeForm(request.POST)
            if form.is_valid():
                profile.directory_change_request(user=user, request=request, **form.cleaned_data)
                messages.success(
                    request,
                    "Your request was sent to HR. It shows as pending until HR updates the "
                    "directory.",
                )
                return redirect("accounts:address")
        elif section == "email":
            form = EmailChangeForm(request.POST)
            if form.is_valid():
                try:
                    profile.email_change_start(
                        user=user, new_email=form.cleaned_data["email"], request=request
                    )
                except RecentProofRequired:
                    return confirm_it_is_you(f"{reverse('accounts:address')}?edit=email")
                messages.success(
                    request,
                    f"We sent a link to {form.cleaned_data['email']}. "
                    "Your email changes when you open it.",
                )
                return redirect("accounts:address")
        else:
            return redirect("accounts:address")
        forms_by_section[section] = form
    elif section in kinds:
        current = Address.objects.filter(user=user, kind=section).first()
        initial = {f: getattr(current, f) for f in AddressForm.base_fields} if current else {}
        forms_by_section[section] = AddressForm(initial=initial)
    elif section == "hr" and user.person_id:
        forms_by_section["hr"] = DirectoryChangeForm()
    elif section == "email":
        forms_by_section["email"] = EmailChangeForm()

    saved = {a.kind: a for a in Address.objects.filter(user=user)}
    addresses = [
        {
            "kind": kind,
            "label": label,
            "address": saved.get(kind),
            "form": forms_by_section.get(kind),
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
            "hr_form": forms_by_section.get("hr"),
            "email_form": forms_by_section.get("email"),
            "page_has_errors": any(form.errors for form in forms_by_section.values()),
        },
        status=status,
    )


@never_cache
def email_confirm(request, token: str):
    if profile.email_change_confirm(user=request.user, token=token, request=request):
        messages.success(request, f"Your contact email is now {request.user.email}.")
        return redirect("accounts:address")
    return render(request, "accounts/link_invalid.html", status=HTTPStatus.NOT_FOUND)
