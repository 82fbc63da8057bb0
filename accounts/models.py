from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models

from accounts.normalize import name_key, username_key

huid_validator = RegexValidator(r"^\d{8}\Z", "A Harvard ID is exactly 8 digits.")
username_validator = RegexValidator(
    r"^(?!\d{8}\Z)[a-z0-9._-]{3,30}\Z",
    "Use 3 to 30 lowercase letters, digits, dots, underscores or hyphens (not 8 digits).",
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
    last_name_key = models.CharField(max_length=100, db_index=True, editable=False)
    date_of_birth = models.DateField(null=True, blank=True)
    ssn_hash = models.CharField(
        "SSN (keyed hash)", max_length=64, blank=True, editable=False,
        help_text="HMAC of the SSN; the number itself is never stored.",
    )
    affiliation = models.CharField(max_length=10, choices=Affiliation.choices)
    school = models.CharField(max_length=5, choices=School.choices, default=School.HMS)
    full_time = models.BooleanField(default=False)
    department = models.CharField(max_length=200, blank=True)
    office_address = models.CharField(max_length=300, blank=True)
    office_phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField("institutional email", blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "people"
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.huid})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def can_sponsor(self) -> bool:
        return (
            self.is_active
            and self.full_time
            and self.affiliation in (Affiliation.FACULTY, Affiliation.STAFF)
        )

    def save(self, *args, **kwargs):
        self.last_name_key = name_key(self.last_name)
        super().save(*args, **kwargs)


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

    objects = PortalUserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def may_sign_in(self) -> bool:
        """Whether the account itself allows a session (password checked elsewhere)."""
        if not self.is_active or self.status != self.Status.ACTIVE:
            return False
        return self.person is None or self.person.is_active

    @property
    def display_name(self) -> str:
        if self.person_id:
            return self.person.full_name
        return self.get_full_name() or self.username
