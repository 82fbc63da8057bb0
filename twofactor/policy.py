"""Who must have a second factor, and who has one."""

from __future__ import annotations

from accounts.models import User
from twofactor.app_settings import app_settings
from twofactor.models import Device


def twofactor_required(user: User) -> bool:
    """Whether the policy requires ``user`` to enroll (``TWOFACTOR_REQUIRED_FOR``). Staff
    must as well (``TWOFACTOR_REQUIRED_FOR_STAFF``): the console refuses a session without a
    second factor."""
    if (user.is_staff or user.is_superuser) and app_settings.REQUIRED_FOR_STAFF:
        return True
    required = app_settings.REQUIRED_FOR
    if required == "all":
        return True
    if user.kind == User.Kind.GUEST:
        return "guest" in required
    person = user.person if user.person_id else None
    return person is not None and person.affiliation in required


def user_devices(user: User):
    """The confirmed devices of ``user``, default first."""
    return Device.objects.filter(user=user, confirmed_at__isnull=False).select_related(
        "totp", "phone", "app", "security_key"
    )


def user_has_device(user: User) -> bool:
    return user_devices(user).exists()
