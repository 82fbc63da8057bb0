"""Two-factor enrollment as a signed-in requirement: after sign-in (and after SafeCode), an
account the policy covers with no confirmed device sees "Protect your account with two-factor
authentication" and Start setup; until it has one, only enrollment, help and sign-out open."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.requirements import SignedInRequirement
from twofactor.policy import twofactor_required, user_has_device


class TwoFactorEnrollment(SignedInRequirement):
    name = "twofactor"
    url_name = "twofactor:enroll"

    def is_met(self, request: HttpRequest) -> bool:
        user = request.user
        return not twofactor_required(user) or user_has_device(user)
