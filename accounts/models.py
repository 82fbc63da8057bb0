from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.normalize import name_key, username_key

huid_validator = RegexValidator(r"^\d{8}\Z", "A Harvard ID is exactly 8 digits.")
# Not 8 digits, with or without hyphens: the sign-in page reads that as a Harvard ID.
username_validator = RegexValidator(
    r"^(?!(?:-*\d){8}-*\Z)[a-z0-9._-]{3,30}\Z",
    "Use 3 to 30 lowercase letters, digits, dots, underscores or hyphens (not 8 digits, which "
    "read as a Harvard ID).",
)


class Affiliation(models.TextChoices):
    FACULTY = "faculty", "Faculty"
    STAFF = "staff", "Staff"
    STUDENT = "student", "Student"
    AFFILIATE = "affiliate", "Affiliate"
    GUEST = "guest", "Guest"


class School(models.TextChoices):
    HMS = "HMS", "Harvard Medical School"
    HSDM = "HSDM", "Harvard School of Dental Medicine"
    HSPH = "HSPH", "Harvard T.H. Chan School of Public Health"


class Person(models.Model):
    """A person in the directory, as fed by HR and the registrars."""

    huid = models.CharField("Harvard ID", max_length=8, unique=True, validators=[huid_validator])
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    first_name_key = models.CharField(max_length=100, editable=False, default="")
    last_name_key = models.CharField(max_length=100, editable=False, default="")
    date_of_birth = models.DateField(null=True, blank=True)
    ssn_hash = models.CharField(
        "SSN (keyed hash)",
        max_length=64,
        blank=True,
        editable=False,
        help_text="HMAC of the SSN; the number itself is never stored.",
    )
    ssn_last4_hash = models.CharField(
        "SSN last 4 (keyed hash)",
        max_length=64,
        blank=True,
        editable=False,
        help_text="HMAC of the SSN's last four digits with the Harvard ID, for the service "
        "desk's caller check; the digits themselves are never stored.",
    )
    affiliation = models.CharField(max_length=10, choices=Affiliation.choices)
    school = models.CharField(max_length=5, choices=School.choices, default=School.HMS)
    full_time = models.BooleanField(default=False)
    department = models.CharField(max_length=200, blank=True)
    department_key = models.CharField(max_length=200, editable=False, default="")
    office_address = models.CharField(max_length=300, blank=True)
    office_phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField("institutional email", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "people"
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(fields=["last_name_key", "first_name_key"], name="person_name_key"),
            models.Index(fields=["first_name_key"], name="person_first_key"),
            models.Index(fields=["department_key"], name="person_department_key"),
            # Prefix search (LIKE 'abc%') on PostgreSQL under any collation; SQLite ignores
            # the operator classes.
            models.Index(
                fields=["last_name_key"],
                name="person_last_key_pattern",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["first_name_key"],
                name="person_first_key_pattern",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(
                fields=["department_key"],
                name="person_department_key_pattern",
                opclasses=["varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.huid})"

    def save(self, *args, **kwargs):
        self.refresh_keys()
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def refresh_keys(self) -> None:
        """Recompute the normalised search keys (bulk writes must call this themselves)."""
        self.first_name_key = name_key(self.first_name)
        self.last_name_key = name_key(self.last_name)
        self.department_key = name_key(self.department)


def ssn_digest(ssn: str) -> str:
    """Keyed hash of an SSN's nine digits; the number itself is never stored or shown."""
    from django.utils.crypto import salted_hmac

    from accounts.normalize import digits

    number = digits(ssn)
    return (
        salted_hmac("portal.person.ssn", number, algorithm="sha256").hexdigest() if number else ""
    )


def ssn_last4_digest(ssn: str, *, huid: str) -> str:
    """Keyed hash of an SSN's last four digits, bound to the person's Harvard ID.

    What the service desk compares a caller's "last 4 of your SSN" with (``ssn_hash`` covers
    all nine digits, so it cannot answer that). Binding it to the Harvard ID keeps two people
    with the same last four from sharing a hash; ``ssn`` may be the full number or the four
    digits. Empty for anything that is not digits.
    """
    from django.utils.crypto import salted_hmac

    from accounts.normalize import digits

    number = digits(ssn)
    if len(number) < 4 or not huid:
        return ""
    return salted_hmac(
        "portal.person.ssn_last4", f"{huid}:{number[-4:]}", algorithm="sha256"
    ).hexdigest()


class PortalUserManager(UserManager):
    @classmethod
    def normalize_username(cls, username):
        return username_key(username)


class User(AbstractUser):
    """An account. Personal accounts belong to a person in the directory."""

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        DEPARTMENTAL = "departmental", "Departmental"
        AFFILIATE = "affiliate", "Affiliate (not in the directory)"
        GUEST = "guest", "Guest (sponsored)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING_APPROVAL = "pending", "Waiting for service-desk approval"
        REFUSED = "refused", "Refused"
        DEACTIVATED = "deactivated", "Deactivated"

    username = models.CharField(
        max_length=30,
        unique=True,
        validators=[username_validator],
        error_messages={"unique": "That username is taken."},
    )
    person = models.OneToOneField(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="account"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PERSONAL)
    status = models.CharField(max_length=11, choices=Status.choices, default=Status.ACTIVE)
    failed_login_count = models.PositiveIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    safecode_skips = models.PositiveSmallIntegerField(default=0)
    must_change_password = models.BooleanField(
        default=False,
        help_text="The password was set by an identity administrator and must be replaced at "
        "the next sign-in.",
    )

    access_starts_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A temporary account (a sponsored guest) may sign in from this moment.",
    )
    access_ends_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A temporary account (a sponsored guest) may not sign in from this moment.",
    )
    # Part of every session's auth hash: raising it ends all of the account's sessions.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = PortalUserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [
            ("set_user_password", "Can set a person's password through the password service"),
            ("change_user_privileges", "Can change staff status, groups and permissions"),
        ]

    @property
    def is_locked(self) -> bool:
        """Whether the lock is in force now: set, and not past the automatic unlock.

        The one definition of "locked" that sign-in, unlock and the console share. With
        ``ACCOUNTS_LOCKOUT_AUTO_UNLOCK_MINUTES`` set, a lock that has run its course no longer
        counts, even before sign-in clears it from the row.
        """
        if self.locked_at is None:
            return False
        window = app_settings.LOCKOUT_AUTO_UNLOCK
        return window is None or self.locked_at + window > timezone.now()

    @property
    def notice_email(self) -> str:
        """Where notices about the account go: its contact email, else the directory's.

        An account made from the directory may have no contact email of its own; the
        person's institutional mailbox then stands in, so a notice is never silently lost.
        """
        if self.email:
            return self.email
        return self.person.email if self.person_id else ""

    @property
    def may_sign_in(self) -> bool:
        """Whether the account itself allows a session (password checked elsewhere).

        Every door asks this: the sign-in service, the authentication backend (so a live
        session ends on its next request once the answer turns false) and recovery.
        """
        if not self.is_active or self.status != self.Status.ACTIVE:
            return False
        if not self.access_open():
            return False
        return self.person is None or self.person.is_active

    def access_open(self, at=None) -> bool:
        """Whether ``at`` (now by default) lies in the account's access window, if it has one:
        from ``access_starts_at`` included to ``access_ends_at`` excluded."""
        at = at or timezone.now()
        if self.access_starts_at is not None and at < self.access_starts_at:
            return False
        return self.access_ends_at is None or at < self.access_ends_at

    def _get_session_auth_hash(self, secret=None):
        """Django's session hash (an HMAC of the password hash), with the session generation
        in it too, so that ``accounts.services.sessions.account_sessions_end`` can end every
        session of the account at once without a password change."""
        from django.utils.crypto import salted_hmac

        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    @property
    def display_name(self) -> str:
        if self.person_id:
            return self.person.full_name
        return self.get_full_name() or self.username


class PasswordHistory(models.Model):
    """Hashes of an account's earlier passwords, for reuse checks and the old-password trap."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "password history"

    def __str__(self) -> str:
        return f"{self.user} @ {self.created_at:%Y-%m-%d}"


class SignInFailure(models.Model):
    """A failed sign-in, kept for the per-IP throttle, the sign-in CAPTCHA and attack alerts."""

    ip = models.GenericIPAddressField()
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE)
    # Keyed hash of the typed name (known or not), for the per-name CAPTCHA rule.
    login_key = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["ip", "created_at"], name="signin_failure_ip"),
            models.Index(fields=["login_key", "created_at"], name="signin_failure_login"),
        ]

    def __str__(self) -> str:
        return f"{self.ip} @ {self.created_at:%Y-%m-%d %H:%M}"


class SecurityAlert(models.Model):
    """One alert raised to the service desk; unique per kind and clock hour."""

    class Kind(models.TextChoices):
        FAILED_SIGNINS = "failed_signins", "Failed sign-ins"
        LOCKOUTS = "lockouts", "Account lockouts"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-hour"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "hour"], name="one_alert_per_kind_and_hour")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.hour:%Y-%m-%d %H:00}"


class RegistrationAttempt(models.Model):
    """One submission of the registration details or of the affiliate sign-up, for the
    per-HUID and per-IP throttles."""

    class Kind(models.TextChoices):
        DIRECTORY = "directory", "Details from the directory"
        AFFILIATE = "affiliate", "Affiliate sign-up"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DIRECTORY)
    huid = models.CharField(max_length=8, blank=True)
    ip = models.GenericIPAddressField()
    matched = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["huid", "created_at"], name="registration_huid"),
            models.Index(fields=["ip", "created_at"], name="registration_ip"),
        ]

    def __str__(self) -> str:
        return f"{self.huid or '-'} from {self.ip}"


class RegistrationCode(models.Model):
    """The confirmation code mailed to the institutional address on file for a matched person."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"code for person {self.person_id}"


class EmailToken(models.Model):
    """A single-use emailed link: affiliate sign-up or a change of contact email."""

    class Purpose(models.TextChoices):
        AFFILIATE_SIGNUP = "affiliate_signup", "Affiliate sign-up"
        EMAIL_CHANGE = "email_change", "Change of contact email"
        # Sent by the service desk (accounts.services.reset_link) to a SafeCode phone or
        # email; ``email`` then holds the address the link went to (E.164 for a text).
        PASSWORD_RESET_LINK = "password_reset_link", "Password-reset link from the service desk"

    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    email = models.EmailField()
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} for {self.email}"


class Address(models.Model):
    """A home or mailing address the person keeps themselves (office comes from HR)."""

    class Kind(models.TextChoices):
        HOME = "home", "Home address"
        MAILING = "mailing", "Mailing address"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField("state or region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True, default="United States")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="one_address_per_kind")
        ]

    def __str__(self) -> str:
        return ", ".join(p for p in (self.street, self.city, self.state, self.postal_code) if p)


class DirectoryChangeRequest(models.Model):
    """A change to an HR-owned field that the person asked for; pending until the feed shows it."""

    class Field(models.TextChoices):
        OFFICE_ADDRESS = "office_address", "Office address"
        OFFICE_PHONE = "office_phone", "Office phone"
        DEPARTMENT = "department", "Department"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="change_requests")
    field = models.CharField(max_length=20, choices=Field.choices)
    value = models.CharField(max_length=300)
    requested_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["person", "confirmed_at"], name="dir_change_pending")]

    def __str__(self) -> str:
        return f"{self.get_field_display()} for person {self.person_id}"
