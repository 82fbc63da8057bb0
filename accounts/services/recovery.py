"""Forgotten (or expired) password at /password/forgot/.

Username, Harvard ID or email, then the last name and the Harvard ID or date of birth, then a
CAPTCHA, then a SafeCode, then a new password. The identity details are look-up keys, not proof
(SECURITY.md, Recovery): only a code sent to a SafeCode channel the account already holds proves
anything. Until it is proven, the pages answer the same way whether the account exists, the
details match, it has SafeCode or not (the design of ``accounts.services.unlock``, whose module
docstring gives it in full): nothing is looked up before the code is asked for, the channel
choice is generic (every SafeCode contact by default), and the only difference in work is the
messages enqueued, one a contact, after the commit.

A reset sets the password, unlocks the account, ends every session, and is notified to the
account email and every SafeCode channel. It never signs the person in by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from accounts.models import User
from accounts.normalize import name_key
from accounts.selectors import find_user_by_login
from accounts.services.password_change import password_apply
from accounts.services.quiet_codes import QuietCodes
from accounts.services.unlock import account_unlock
from audit.services import audit_record
from safecode.models import Purpose

RESET_CODES = QuietCodes(Purpose.PASSWORD_RESET)


@dataclass(frozen=True)
class RecoveryDetails:
    """What the person typed: an account name and the details that must match the directory."""

    login: str
    last_name: str
    huid: str = ""
    date_of_birth: date | None = None

    def as_session(self) -> dict:
        return {
            "login": self.login,
            "last_name": self.last_name,
            "huid": self.huid,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else "",
        }

    @classmethod
    def from_session(cls, data: dict | None) -> RecoveryDetails:
        data = data or {}
        born = data.get("date_of_birth") or ""
        return cls(
            login=data.get("login", ""),
            last_name=data.get("last_name", ""),
            huid=data.get("huid", ""),
            date_of_birth=date.fromisoformat(born) if born else None,
        )


def _find_account(login: str) -> User | None:
    """By username or Harvard ID; or by email (the account's or the directory's), when it
    names exactly one account."""
    login = (login or "").strip()
    if "@" not in login:
        return find_user_by_login(login)
    matches = list(
        User.objects.select_related("person")
        .filter(Q(email__iexact=login) | Q(person__email__iexact=login))
        .distinct()[:2]
    )
    return matches[0] if len(matches) == 1 else None


def _details_match(user: User, details: RecoveryDetails) -> bool:
    person = user.person if user.person_id else None
    if person is None:
        return False
    name_ok = constant_time_compare(name_key(details.last_name), person.last_name_key)
    if details.huid:
        return name_ok and constant_time_compare(details.huid, person.huid)
    if details.date_of_birth is not None and person.date_of_birth is not None:
        return name_ok and details.date_of_birth == person.date_of_birth
    return False


def recovery_candidate(details: RecoveryDetails) -> tuple[User | None, str]:
    """The account a reset code may go to, or None with the reason (for the audit).

    Only accounts in the directory can match (the details are the directory's); an account
    that could not sign in after a reset (deactivated, refused, pending) is left to the service
    desk.
    """
    user = _find_account(details.login)
    if user is None:
        return None, "unknown"
    if not _details_match(user, details):
        return None, "details_mismatch"
    if not user.may_sign_in:
        return None, "inactive"
    return user, ""


def recovery_send_code(
    *, details: RecoveryDetails, kind: str, binding: str, request: HttpRequest | None = None
) -> None:
    """Send a reset code to the account's SafeCode ``kind`` (or every contact, for
    ``ALL_CONTACTS``) when the details match.

    Answers nothing, whatever happened; the audit says why.
    """
    user, reason = recovery_candidate(details)
    RESET_CODES.send(user=user, reason=reason, kind=kind, binding=binding, request=request)


def recovery_verify_code(
    *, details: RecoveryDetails, code: str, binding: str, request: HttpRequest | None = None
) -> User | None:
    """The account whose newest reset code this is, asked for by the same flow
    (``binding``), or None for every failure alike."""
    user, reason = recovery_candidate(details)
    proven = RESET_CODES.verify(
        user=user, reason=reason, code=code, binding=binding, request=request
    )
    if proven:
        audit_record(event="password_reset.verified", subject=user, request=request)
    return user if proven else None


def password_reset(*, user: User, new_password: str, request: HttpRequest | None = None) -> None:
    """Set the new password of an account whose reset code was proven; unlock it too.

    One notice tells both. The person is not signed in: they sign in with the new password.
    """
    with transaction.atomic():
        unlocked = account_unlock(user=user, how="password_reset", request=request, notify=False)
        password_apply(
            user=user, new_password=new_password, how="reset", request=request, unlocked=unlocked
        )
