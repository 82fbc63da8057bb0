"""How the portal writes a moment for people: in its own time zone (``TIME_ZONE``)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format


def local_datetime(moment: datetime | None, fmt: str = "DATETIME_FORMAT") -> str:
    """``moment`` in the portal's time zone, as ``fmt`` spells it; "" for no moment."""
    return date_format(timezone.localtime(moment), fmt) if moment else ""
