from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def help_page(request):
    """Accounts & Access help: the Harvard ID, who to ask, and the university's own pages."""
    return render(
        request,
        "accounts/help.html",
        {
            "contacts": settings.HARVARD_ID_CONTACTS,
            "pin_url": settings.HARVARD_PIN_URL,
            "harvardkey_url": settings.HARVARDKEY_URL,
        },
    )
