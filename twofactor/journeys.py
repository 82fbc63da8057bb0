"""The two-factor setup wizard as one ``portal.flows.Flow``: its stages, in order, and its
timeouts. The pages are ``twofactor.views.enroll``; the key stage's options endpoint
(``twofactor.views.keys``) serves the same run."""

from __future__ import annotations

from accounts.app_settings import app_settings as accounts_settings
from portal.flows import Flow, Stage

ENROLL = Flow(
    "twofactor_enroll",
    [
        Stage("start", "twofactor:enroll", step=False),
        Stage("type", "twofactor:enroll_type", "Device type", revisit=True),
        Stage("phone", "twofactor:enroll_phone", "Phone number", revisit=True),
        Stage("phone_type", "twofactor:enroll_phone_type", "Phone type", revisit=True),
        Stage("install", "twofactor:enroll_install", "Install the app", revisit=True),
        Stage("activate", "twofactor:enroll_activate", "Activate"),
        Stage("call", "twofactor:enroll_call", "Test the phone"),
        Stage("key", "twofactor:enroll_key", "Register the key"),
        Stage("done", "twofactor:enroll_done", "Done"),
    ],
    idle=lambda: accounts_settings.FLOW_TIMEOUT,
    lifetime=lambda: accounts_settings.FLOW_LIFETIME,
)
