"""What the desk reads: finding a person, and why they cannot sign in.

``person_search`` is the console's one search box: username, Harvard ID, names, the
institutional, contact and SafeCode emails, and phone numbers typed in any format (matched on
E.164 against SafeCode phones and two-factor phones). ``signin_problems`` answers "why can't
they sign in?" in the desk's words, each answer with the actions that fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import phonenumbers
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.services.expiry import password_expires_at, password_is_expired
from accounts.services.unlock import self_unlock_allowed
from portal.formats import local_datetime
from safecode.models import Channel
from twofactor.models import Device
from twofactor.policy import twofactor_required


def phone_e164(text: str) -> str | None:
    """``text`` read as a phone number (US by default), in E.164; None if it is not one."""
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if len(digits.lstrip("+")) < 7:
        return None
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def person_search(accounts: QuerySet[User], text: str) -> QuerySet[User]:
    """Accounts matching ``text`` anywhere the desk may look (see the module docstring)."""
    text = " ".join(text.split())
    if not text:
        return accounts
    query = (
        Q(username__iexact=text)
        | Q(username__istartswith=text)
        | Q(person__huid=text)
        | Q(email__iexact=text)
        | Q(person__email__iexact=text)
        | Q(safecode_channels__address__iexact=text, safecode_channels__kind=Channel.Kind.EMAIL)
    )
    words = text.split()
    if len(words) == 1:
        query |= Q(last_name__istartswith=text) | Q(first_name__istartswith=text)
    else:
        query |= Q(first_name__istartswith=words[0], last_name__istartswith=" ".join(words[1:]))
        query |= Q(last_name__istartswith=words[0].rstrip(","), first_name__istartswith=words[-1])
    e164 = phone_e164(text)
    if e164:
        phones = Device.objects.filter(user=OuterRef("pk"), number=e164)
        query |= Q(safecode_channels__address=e164, safecode_channels__kind=Channel.Kind.PHONE)
        query |= Q(Exists(phones))
    return accounts.filter(query).distinct()


@dataclass(frozen=True)
class Problem:
    """One reason the account cannot sign in (or soon will not), and what fixes it."""

    title: str
    detail: str = ""
    actions: tuple[str, ...] = field(default_factory=tuple)


def signin_problems(account: User) -> list[Problem]:
    """Why ``account`` cannot sign in, most blocking first; empty when nothing stops it."""
    from safecode.selectors import safecode_pauses, user_has_verified_channel

    problems: list[Problem] = []
    now = timezone.now()
    if account.status == User.Status.PENDING_APPROVAL:
        problems.append(
            Problem(
                "Waiting for approval",
                "An affiliate registration the desk has not decided yet.",
                ("approve_affiliate", "refuse_affiliate"),
            )
        )
    elif account.status == User.Status.REFUSED:
        problems.append(Problem("Registration refused", "The desk refused this registration."))
    elif account.status != User.Status.ACTIVE or not account.is_active:
        problems.append(Problem("Disabled", "The account cannot sign in.", ("enable",)))
    if account.person_id and not account.person.is_active:
        problems.append(
            Problem("Not in the directory any more", "HR or the registrars ended the record.")
        )
    if account.access_starts_at and now < account.access_starts_at:
        problems.append(
            Problem(
                "Guest access not started", f"It starts {local_datetime(account.access_starts_at)}."
            )
        )
    if account.access_ends_at and now >= account.access_ends_at:
        problems.append(
            Problem("Guest access ended", f"It ended {local_datetime(account.access_ends_at)}.")
        )
    if account.is_locked:
        how = "" if self_unlock_allowed(account) else " It cannot be unlocked by self-service."
        problems.append(
            Problem(
                "Locked",
                f"Since {local_datetime(account.locked_at)}, after "
                f"{account.failed_login_count} wrong passwords.{how}",
                ("unlock",),
            )
        )
    if password_is_expired(account):
        why = "must be changed" if account.must_change_password else "has expired"
        problems.append(
            Problem(
                "Password expired",
                f"The password {why}; the person chooses a new one after a SafeCode.",
                ("send_reset_link",),
            )
        )
    if not user_has_verified_channel(account):
        problems.append(
            Problem(
                "No SafeCode",
                "No verified phone or personal email: no self-service unlock or reset.",
            )
        )
    for label, until, why in safecode_pauses(account):
        problems.append(
            Problem(
                f"Codes paused: {label}", f"Until {local_datetime(until)}: {why}.", ("lift_limits",)
            )
        )
    if twofactor_required(account) and not _has_device(account):
        problems.append(
            Problem(
                "No two-factor device",
                "The person is asked to set one up after signing in.",
                ("issue_bypass_codes",),
            )
        )
    return problems


def _has_device(account: User) -> bool:
    return Device.objects.filter(user=account, confirmed_at__isnull=False).exists()


def password_summary(account: User) -> str:
    changed = account.password_changed_at or account.date_joined
    expires = password_expires_at(account)
    text = f"Set {local_datetime(changed)}"
    if expires:
        text += f"; expires {local_datetime(expires)}"
    if account.must_change_password:
        text += "; must be changed at the next sign-in"
    return text
