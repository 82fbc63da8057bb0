"""A forgotten password on an account with two-factor asks for a second factor after the
SafeCode (``accounts.reset_proofs``): the SafeCode alone never resets such an account. A
signed-in change asks for a fresh one first, even on a remembered browser."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from accounts.models import User
from accounts.reset_proofs import ResetProof
from twofactor.freshness import second_factor_is_fresh
from twofactor.policy import user_has_device


class SecondFactorResetProof(ResetProof):
    name = "second_factor"
    url_name = "twofactor:reset"

    def is_needed(self, user: User) -> bool:
        return user_has_device(user)

    def step_up_url(self, request: HttpRequest, next_url: str) -> str | None:
        if second_factor_is_fresh(request) or not user_has_device(request.user):
            return None
        return f"{reverse('twofactor:confirm')}?{urlencode({'next': next_url})}"
