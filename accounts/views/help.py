from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.app_settings import app_settings
from accounts.services.password_change import PLACES_TO_UPDATE
from safecode.app_settings import app_settings as safecode_settings


@login_not_required
@require_GET
def help_page(request):
    """Accounts and access help: the questions people ask the desk most, the Harvard ID, who
    to ask, and the university's own pages. The numbers in the answers are the portal's rules."""
    expiry = app_settings.PASSWORD_EXPIRY
    return render(
        request,
        "accounts/help.html",
        {
            "contacts": settings.HARVARD_ID_CONTACTS,
            "pin_url": settings.HARVARD_PIN_URL,
            "harvardkey_url": settings.HARVARDKEY_URL,
            "lockout_threshold": app_settings.LOCKOUT_THRESHOLD,
            "password_expiry_days": expiry.days if expiry else None,
            "code_minutes": int(safecode_settings.CODE_TTL.total_seconds() // 60),
            "places": PLACES_TO_UPDATE,
        },
    )
