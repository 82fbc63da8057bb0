"""The console's own records: the account as the desk sees it, and verified calls.

``DeskAccount`` is a proxy of the account: the desk's page of a person (``servicedesk.admin``)
is its change page, with the answers to "why can't they sign in?" and buttons for the desk's
actions instead of a model form. Its permissions are the desk's: one to see accounts, and one
per kind of action, so the groups can be given exactly what they need, and the raw account,
person, channel and device forms stay with identity administrators.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import User


class DeskAccount(User):
    class Meta:
        proxy = True
        verbose_name = "person's account"
        verbose_name_plural = "find a person"
        default_permissions = ("view",)
        permissions = [
            ("verify_caller", "Can verify a caller"),
            ("unlock_account", "Can unlock an account"),
            ("disable_account", "Can disable and enable an account"),
            ("mark_departmental", "Can mark an account departmental or personal"),
            ("manage_password", "Can force a password change and send a reset link"),
            ("reset_safecode", "Can reset a SafeCode registration"),
            ("manage_twofactor", "Can remove devices and forget remembered browsers"),
            ("issue_bypass_codes", "Can issue and revoke bypass codes"),
            ("decide_affiliates", "Can approve and refuse affiliate registrations"),
            ("revoke_guests", "Can revoke guest sponsorships"),
            ("manage_messages", "Can resend and cancel queued messages"),
            ("lift_code_limits", "Can lift an account's code limits"),
            ("act_on_staff", "Can act on the accounts of console staff"),
        ]


class CallerCheck(models.Model):
    """One verification of a caller by an agent: what was checked and whether it matched.

    The values the caller gave are never stored, only which kinds were checked and the
    outcome of each.
    """

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="caller_checks_made"
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caller_checks"
    )
    results = models.JSONField(default=dict, help_text="Each kind checked: matched or not.")
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        outcome = "verified" if self.verified else "not verified"
        return f"Call for {self.account} ({outcome})"
