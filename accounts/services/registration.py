"""Registration from the directory, and the affiliate (not-in-system) sign-up.

Harvard ID, names, date of birth and SSN are look-up keys, not proof of identity: a match only
sends a confirmation code to the institutional email already on file, and every kind of
mismatch gets the same page as a match (SECURITY.md, Recovery and registration; Enumeration).

Limits, all counted in the database (``accounts.app_settings``):

- per IP, failed matches and all submissions an hour (429 past either, so matches cannot be
  tried without bound and the limit reveals nothing about them);
- per Harvard ID, failed matches in 24 hours (the ID is paused);
- per person, wrong confirmation codes in 24 hours across every code mailed (a new code brings
  no new tries), and codes mailed an hour and a day (past that the last code stays the one
  that works, and nothing more is sent; the page reads the same);
- per address, "you already have an account" notices and affiliate sign-up links an hour and a
  day; affiliate sign-ups per IP an hour.

"Send a new code" on the code page (``registration_resend_code``) goes through the same
per-person and per-address caps as a submission, to the same institutional address. Whether a
resend is accepted, and when the next one may be asked for, is decided from the flow's own
record of sends, the same for a match and a mismatch, so the answer reveals nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.http import HttpRequest
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import (
    EmailToken,
    Person,
    RegistrationAttempt,
    RegistrationCode,
    User,
    ssn_digest,
)
from accounts.normalize import name_key
from accounts.services.notices import Reach, notice_send
from accounts.services.passwords import password_set
from audit.models import AuditEvent
from audit.services import audit_record
from delivery.services import email_enqueue
from portal.http import client_ip
from portal.single_use import single_use_consume
from safecode.codes import code_matches, generate_code, generate_token, hash_code, normalize_code
from safecode.errors import SafeCodeInvalidFormat

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CODE_SALT = "registration"
TOKEN_SALT = "email-token"  # noqa: S105 - a salt name, not a secret


class RegistrationThrottled(Exception):
    """Too many failed matches from one IP address: answer 429."""


class RegistrationBlocked(Exception):
    """Too many failed matches for one Harvard ID: registration for it is paused."""


# How soon after an account is created the same "Create my account" may arrive again.
REPEAT_WINDOW = timedelta(minutes=2)


class UsernameTaken(Exception):
    pass


@dataclass(frozen=True)
class Submitted:
    """What the registration flow keeps after the details: the code to check and, on a match,
    the person a resend goes to. Neither is ever shown."""

    code_id: int | None = None
    person_id: int | None = None


@dataclass(frozen=True)
class Resent:
    """The answer to "Send a new code".

    ``sent_at`` is the flow's record of sends (timestamps) to keep for the next resend.
    ``retry_at`` is set when the resend was refused: no new code can be asked for before then.
    """

    code_id: int | None
    sent_at: tuple[float, ...]
    retry_at: datetime | None = None

    @property
    def refused(self) -> bool:
        return self.retry_at is not None


@dataclass(frozen=True)
class Details:
    last_name: str
    huid: str = ""
    date_of_birth: date | None = None
    ssn: str = ""


def registration_attempt_open(*, ip: str, request: HttpRequest, huid: str = "") -> int:
    """Record a look-up of registration details (or of a guest key) from ``ip``, before it is
    made; returns the attempt's id, for ``registration_attempt_matched``.

    The attempt is written first, as a failure, and the limits are counted after, including it:
    requests sent at once from one address each see every attempt written before their own
    count, so however many arrive together, no more get through than the limit leaves (a
    check made before the write would let them all pass it). Raises
    ``RegistrationThrottled`` past the per-IP limits (failures and all submissions in an hour)
    and ``RegistrationBlocked`` past the failures for ``huid``; a refused attempt is removed,
    so waiting out the window works.
    """
    attempt = RegistrationAttempt.objects.create(ip=ip, huid=huid, matched=False)
    since = timezone.now() - HOUR
    from_ip = RegistrationAttempt.objects.filter(
        ip=ip, kind=RegistrationAttempt.Kind.DIRECTORY, created_at__gt=since
    )
    if (
        from_ip.count() > app_settings.REGISTRATION_IP_SUBMISSIONS
        or from_ip.filter(matched=False).count() > app_settings.REGISTRATION_IP_LIMIT
    ):
        attempt.delete()
        audit_record(
            event="registration.throttled", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        raise RegistrationThrottled
    if huid:
        window = timezone.now() - app_settings.REGISTRATION_HUID_WINDOW
        failures = RegistrationAttempt.objects.filter(
            huid=huid, matched=False, created_at__gt=window
        )
        if failures.count() > app_settings.REGISTRATION_HUID_FAILURES:
            attempt.delete()
            audit_record(
                event="registration.blocked",
                outcome=AuditEvent.Outcome.FAILURE,
                request=request,
                huid=huid,
            )
            raise RegistrationBlocked
    return attempt.pk


def registration_attempt_matched(attempt_id: int) -> None:
    """The look-up matched: the attempt no longer counts as a failure."""
    RegistrationAttempt.objects.filter(pk=attempt_id).update(matched=True)


def _over(rows, *, per_hour: int, per_day: int) -> bool:
    """Whether ``rows`` (with a ``created_at``) hold ``per_hour`` in the last hour or
    ``per_day`` in the last day."""
    now = timezone.now()
    return (
        rows.filter(created_at__gt=now - HOUR).count() >= per_hour
        or rows.filter(created_at__gt=now - DAY).count() >= per_day
    )


def person_code_failures(person: Person) -> int:
    """Wrong confirmation codes entered for ``person`` in the window, across all codes."""
    since = timezone.now() - app_settings.REGISTRATION_HUID_WINDOW
    total = RegistrationCode.objects.filter(person=person, created_at__gt=since).aggregate(
        total=Sum("failed_attempts")
    )["total"]
    return total or 0


def _match(details: Details) -> Person | None:
    key = name_key(details.last_name)
    people = Person.objects.filter(is_active=True, last_name_key=key).select_related("account")
    if details.huid:
        people = people.filter(huid=details.huid)
    elif not (details.date_of_birth or details.ssn):
        return None
    if details.date_of_birth:
        people = people.filter(date_of_birth=details.date_of_birth)
    if details.ssn:
        digest = ssn_digest(details.ssn)
        if not digest:
            return None
        people = people.filter(ssn_hash=digest)
    found = list(people[:2])
    return found[0] if len(found) == 1 else None


def registration_submit_details(*, details: Details, request: HttpRequest) -> Submitted:
    """Look the person up; on a match with no account, mail a confirmation code.

    Returns what the flow keeps (the code to bind to it and, on a match, the person a resend
    goes to; both empty on a mismatch). The caller shows the same page either way.
    """
    attempt = registration_attempt_open(ip=client_ip(request), huid=details.huid, request=request)
    person = _match(details)
    if person is not None:
        registration_attempt_matched(attempt)
    if person is None:
        audit_record(
            event="registration.mismatch",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
            huid=details.huid,
        )
        return Submitted()
    return Submitted(code_id=_answer_match(person=person, request=request), person_id=person.pk)


def _answer_match(*, person: Person, request: HttpRequest) -> int | None:
    """What a match gets, on a submission or a resend: a code, or a notice naming the account
    that exists, each under its caps. Returns the id of the code that works, or None."""
    account = getattr(person, "account", None)
    if account is not None:
        notices = AuditEvent.objects.filter(
            event="registration.account_exists", subject=account, detail__notified=True
        )
        notify = bool(person.email) and not _over(
            notices,
            per_hour=app_settings.REGISTRATION_NOTICES_PER_HOUR,
            per_day=app_settings.REGISTRATION_NOTICES_PER_DAY,
        )
        audit_record(
            event="registration.account_exists", subject=account, request=request, notified=notify
        )
        if notify:
            notice_send(
                user=account,
                name="accounts/account_exists",
                reach=Reach.address(person.email),
                purpose="registration_account_exists",
            )
        return None
    if not person.email:
        audit_record(
            event="registration.no_email",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
            huid=person.huid,
        )
        return None
    if person_code_failures(person) >= app_settings.REGISTRATION_CODE_MAX_FAILURES:
        audit_record(
            event="registration.code_paused",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
            huid=person.huid,
        )
        return None
    return _send_code(person=person, request=request)


@transaction.atomic
def _send_code(*, person: Person, request: HttpRequest) -> int | None:
    """Mail a new code, or, past the per-person caps, keep the last one as the one that works."""
    Person.objects.select_for_update().filter(pk=person.pk).first()  # one send at a time
    if _over(
        RegistrationCode.objects.filter(person=person),
        per_hour=app_settings.REGISTRATION_CODES_PER_HOUR,
        per_day=app_settings.REGISTRATION_CODES_PER_DAY,
    ):
        audit_record(
            event="registration.code_capped",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
            huid=person.huid,
        )
        last = RegistrationCode.objects.filter(person=person, used_at__isnull=True).first()
        return last.pk if last is not None else None
    now = timezone.now()
    RegistrationCode.objects.filter(person=person, used_at__isnull=True).update(used_at=now)
    code = generate_code()
    record = RegistrationCode.objects.create(
        person=person,
        code_hash=hash_code(code, salt=CODE_SALT),
        expires_at=now + app_settings.REGISTRATION_CODE_TTL,
    )
    email_enqueue(
        recipient=person.email,
        template="accounts/email/registration_code",
        context={
            "person": person,
            "code": code,
            "hours": _hours(app_settings.REGISTRATION_CODE_TTL),
        },
        purpose="registration_code",
        secrets=[code],
        expires_at=record.expires_at,
    )
    audit_record(event="registration.code_sent", request=request, huid=person.huid)
    return record.pk


def resend_retry_at(sent_at: tuple[float, ...] | list[float]) -> datetime | None:
    """When a flow that sent at ``sent_at`` may ask for another code, or None if it may now.

    The same numbers as the per-person caps (``REGISTRATION_CODES_PER_HOUR`` and ``_PER_DAY``),
    counted over the flow's own sends, matched or not.
    """
    now = timezone.now()
    times = sorted(datetime.fromtimestamp(t, tz=now.tzinfo) for t in sent_at)
    waits = []
    for window, cap in (
        (HOUR, app_settings.REGISTRATION_CODES_PER_HOUR),
        (DAY, app_settings.REGISTRATION_CODES_PER_DAY),
    ):
        recent = [t for t in times if t > now - window]
        if len(recent) >= cap:
            # The send that leaves the window first frees a place in it.
            waits.append(recent[len(recent) - cap] + window)
    return max(waits) if waits else None


def registration_resend_code(
    *,
    person_id: int | None,
    code_id: int | None,
    sent_at: tuple[float, ...] | list[float],
    request: HttpRequest,
) -> Resent:
    """ "Send a new code" on the code page: the same send as a submission, to the same person.

    ``person_id`` is the flow's match (None on a mismatch), ``code_id`` the code the flow holds
    and ``sent_at`` its record of sends. Past the flow's caps nothing is sent and the answer
    says when another may be asked for; a mismatch gets exactly the answer a match would, since
    the decision reads only the flow's own sends. A match then goes through the per-person and
    per-address caps of ``registration_submit_details`` (``_answer_match``): past those nothing
    more is sent and the newest code mailed stays the one that works. A new code ends the old
    one and brings no new tries (``person_code_failures`` counts across codes).
    """
    now = timezone.now()
    day_ago = (now - DAY).timestamp()
    kept = tuple(t for t in sent_at if t > day_ago)
    retry_at = resend_retry_at(kept)
    if retry_at is not None:
        audit_record(
            event="registration.resend_refused", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        return Resent(code_id=code_id, sent_at=kept, retry_at=retry_at)
    kept = (*kept, now.timestamp())
    person = (
        Person.objects.filter(pk=person_id, is_active=True).select_related("account").first()
        if person_id is not None
        else None
    )
    if person is None:
        audit_record(
            event="registration.resend_mismatch",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
        )
        return Resent(code_id=None, sent_at=kept)
    return Resent(code_id=_answer_match(person=person, request=request), sent_at=kept)


def registration_verify_code(
    *, code_id: int | None, code: str, request: HttpRequest
) -> Person | None:
    """Consume the flow's confirmation code. Returns the matched person, or None.

    The code is consumed by a conditional UPDATE, so two concurrent right answers cannot both
    succeed; five wrong answers spend it. Raises ``SafeCodeInvalidFormat`` (a ``ValueError``)
    when ``code`` is not six digits: the confirmation code is typed like a SafeCode, and the
    form says so first.
    """
    typed = normalize_code(code)
    if typed is None:
        raise SafeCodeInvalidFormat
    if code_id is None:
        audit_record(
            event="registration.code_failed", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        return None
    now = timezone.now()
    live = RegistrationCode.objects.filter(
        pk=code_id,
        used_at__isnull=True,
        expires_at__gt=now,
        failed_attempts__lt=app_settings.REGISTRATION_CODE_MAX_FAILURES,
    )
    record = live.select_related("person").first()
    if (
        record is not None
        and person_code_failures(record.person) >= app_settings.REGISTRATION_CODE_MAX_FAILURES
    ):
        record = None  # the person's tries are spent, whichever code this is
    if record is None or not code_matches(typed, record.code_hash, salt=CODE_SALT):
        live.update(failed_attempts=F("failed_attempts") + 1)
        audit_record(
            event="registration.code_failed", outcome=AuditEvent.Outcome.FAILURE, request=request
        )
        return None
    if not single_use_consume(
        RegistrationCode.objects,
        pk=record.pk,
        now=now,
        attempt_limit=app_settings.REGISTRATION_CODE_MAX_FAILURES,
    ):
        return None
    audit_record(
        event="registration.code_confirmed", outcome=AuditEvent.Outcome.SUCCESS, request=request
    )
    return record.person


def registration_create_account(
    *, person_id: int, username: str, password: str, request: HttpRequest
) -> User:
    """Create the account of a confirmed person, with the institutional email on file.

    The same form sent twice at once (a double click without the site's script) must not
    leave the person signed out: the second request, which waits on the person's row, gets
    the account the first just created when it names the same username and password, within
    ``REPEAT_WINDOW``. Anything else about an existing account is refused.
    """
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person_id, is_active=True)
        existing = User.objects.filter(person=person).first()
        if existing is not None:
            if account_created_by_same_request(existing, username=username, password=password):
                return existing
            raise UsernameTaken("This person already has an account.")
        try:
            with transaction.atomic():
                user = User.objects.create(
                    username=username,
                    person=person,
                    email=person.email,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    kind=User.Kind.PERSONAL,
                )
        except IntegrityError as exc:
            raise UsernameTaken("That username is taken.") from exc
        password_set(user=user, raw_password=password)
        audit_record(
            event="registration.completed",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            request=request,
        )
        notice_send(user=user, name="accounts/welcome")
    return user


def account_created_by_same_request(user: User, *, username: str, password: str) -> bool:
    """Whether ``user`` was created moments ago by this very form: same name, same password."""
    recent = user.date_joined >= timezone.now() - REPEAT_WINDOW
    return recent and user.username == username and user.check_password(password)


# Affiliates not in the directory ----------------------------------------------------------------


def affiliate_signup_start(*, email: str, request: HttpRequest) -> None:
    """Mail a single-use sign-up link to an affiliate address (domain checked by the form).

    Raises ``RegistrationThrottled`` past the sign-ups an hour from one IP. Past the links an
    hour or a day to one address, nothing more is sent (the page reads the same): the link
    already mailed still works.
    """
    ip = client_ip(request)
    since = timezone.now() - HOUR
    from_ip = RegistrationAttempt.objects.filter(
        ip=ip, kind=RegistrationAttempt.Kind.AFFILIATE, created_at__gt=since
    )
    if from_ip.count() >= app_settings.AFFILIATE_IP_LIMIT:
        audit_record(
            event="registration.affiliate_throttled",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
        )
        raise RegistrationThrottled
    RegistrationAttempt.objects.create(kind=RegistrationAttempt.Kind.AFFILIATE, ip=ip, matched=True)
    links = EmailToken.objects.filter(
        purpose=EmailToken.Purpose.AFFILIATE_SIGNUP, email__iexact=email
    )
    if _over(
        links,
        per_hour=app_settings.AFFILIATE_LINKS_PER_HOUR,
        per_day=app_settings.AFFILIATE_LINKS_PER_DAY,
    ):
        audit_record(
            event="registration.affiliate_link_capped",
            outcome=AuditEvent.Outcome.FAILURE,
            request=request,
        )
        return
    token = generate_token()
    with transaction.atomic():
        record = EmailToken.objects.create(
            purpose=EmailToken.Purpose.AFFILIATE_SIGNUP,
            email=email,
            token_hash=hash_code(token, salt=TOKEN_SALT),
            expires_at=timezone.now() + app_settings.EMAIL_TOKEN_TTL,
        )
        email_enqueue(
            recipient=email,
            template="accounts/email/affiliate_link",
            context={
                "link": f"{settings.PORTAL_URL}/register/affiliate/{token}/",
                "hours": _hours(app_settings.EMAIL_TOKEN_TTL),
            },
            purpose="affiliate_signup",
            secrets=[token],
            expires_at=record.expires_at,
        )
        audit_record(event="registration.affiliate_link_sent", request=request)


def email_token_lookup(*, token: str, purpose: str) -> EmailToken | None:
    """The live token for a link, without consuming it."""
    if not token or len(token) > 100:
        return None
    return EmailToken.objects.filter(
        purpose=purpose,
        token_hash=hash_code(token, salt=TOKEN_SALT),
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()


def email_token_consume(*, token: str, purpose: str) -> EmailToken | None:
    """Consume a link's token exactly once (conditional UPDATE)."""
    record = email_token_lookup(token=token, purpose=purpose)
    if record is None:
        return None
    return record if single_use_consume(EmailToken.objects, pk=record.pk) else None


def affiliate_signup_complete(
    *,
    token: str,
    first_name: str,
    last_name: str,
    username: str,
    password: str,
    request: HttpRequest,
) -> User | None:
    """Create an affiliate account that waits for service-desk approval."""
    with transaction.atomic():
        record = email_token_consume(token=token, purpose=EmailToken.Purpose.AFFILIATE_SIGNUP)
        if record is None:
            return None
        try:
            with transaction.atomic():
                user = User.objects.create(
                    username=username,
                    email=record.email,
                    first_name=first_name,
                    last_name=last_name,
                    kind=User.Kind.AFFILIATE,
                    status=User.Status.PENDING_APPROVAL,
                )
        except IntegrityError as exc:
            raise UsernameTaken("That username is taken.") from exc
        password_set(user=user, raw_password=password)
        audit_record(event="registration.affiliate_pending", subject=user, request=request)
    return user


def affiliate_decide(*, user: User, approve: bool, actor: User, reason: str, request=None) -> bool:
    """Approve or refuse a waiting affiliate account, and tell the person."""
    status = User.Status.ACTIVE if approve else User.Status.REFUSED
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk, status=User.Status.PENDING_APPROVAL).update(
            status=status
        )
        if not changed:
            return False
        user.status = status
        audit_record(
            event="registration.affiliate_approved"
            if approve
            else "registration.affiliate_refused",
            outcome=AuditEvent.Outcome.SUCCESS,
            subject=user,
            actor=actor,
            request=request,
            reason=reason,
        )
        notice_send(
            user=user,
            name="accounts/affiliate_approved" if approve else "accounts/affiliate_refused",
            purpose="affiliate_decision",
        )
    return True


def _hours(delta) -> int:
    return int(delta.total_seconds() // 3600)
