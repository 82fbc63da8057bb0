"""A fresh second factor: one entered in this session within ``STEP_UP_FRESH``.

Changes to devices, the default device and "When I sign in", and adding a later device, ask
for one; the sign-in's second step, the step-up page and a device just confirmed give one. A
remembered browser never does.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

VERIFIED_AT_KEY = "twofactor:verified_at"
STEP_UP_FRESH = timedelta(minutes=10)


def second_factor_mark_fresh(request: HttpRequest) -> None:
    request.session[VERIFIED_AT_KEY] = timezone.now().timestamp()


def second_factor_is_fresh(request: HttpRequest) -> bool:
    stamp = request.session.get(VERIFIED_AT_KEY)
    if not isinstance(stamp, int | float):
        return False
    age = timezone.now().timestamp() - stamp
    return 0 <= age < STEP_UP_FRESH.total_seconds()
