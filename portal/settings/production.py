"""Production: every secret comes from the environment and has no default, and messages go to
real providers."""

from django.core.exceptions import ImproperlyConfigured

from .hardened import *  # noqa: F403

for _name, _backend in (("SMS", DELIVERY_SMS_BACKEND), ("EMAIL", DELIVERY_EMAIL_BACKEND)):  # noqa: F405
    if _backend.startswith(("delivery.backends.outbox", "delivery.backends.locmem")):
        raise ImproperlyConfigured(
            f"{_name}_BACKEND must name a real provider in production (twilio or smtp)."
        )
