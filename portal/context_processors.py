from __future__ import annotations

from django.conf import settings


def institution(request):
    """Institution names and service-desk contacts for every template."""
    return {
        "institution": {
            "name": settings.INSTITUTION_NAME,
            "short_name": settings.INSTITUTION_SHORT_NAME,
            "service_desk_phone": settings.SERVICE_DESK_PHONE,
            "service_desk_email": settings.SERVICE_DESK_EMAIL,
            "service_desk_location": settings.SERVICE_DESK_LOCATION,
        },
        "debug_outbox": settings.DEBUG,
    }
