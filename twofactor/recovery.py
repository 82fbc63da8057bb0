"""A forgotten password on an account with two-factor asks for a second factor after the
SafeCode (``accounts.reset_proofs``): the SafeCode alone never resets such an account."""

from __future__ import annotations

from accounts.models import User
from accounts.reset_proofs import ResetProof
from twofactor.policy import user_has_device


class SecondFactorResetProof(ResetProof):
    name = "second_factor"
    url_name = "twofactor:reset"

    def is_needed(self, user: User) -> bool:
        return user_has_device(user)
