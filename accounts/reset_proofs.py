"""Proofs a password change or reset asks for besides the SafeCode, from other apps.

A SafeCode proves the person holds a contact of the account; an account that also has a second
factor must not be reset with the SafeCode alone (SECURITY.md, Recovery). The apps that hold
such factors declare a ``ResetProof`` in ``ACCOUNTS_RESET_PROOFS`` (dotted paths, in order), so
accounts imports none of them. The forgot journey's "check" stage sends the person to each
proof the account needs; the proof's page, served by its app, reads the account with
``reset_proof_account`` and reports success with ``reset_proof_passed``.

A signed-in change asks each proof for a fresh step-up first (``change_step_up``): a browser
remembered for the second factor skips it at sign-in only, never before a password change.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.app_settings import app_settings
from accounts.models import User
from portal.loading import instances

CHECK_STAGE = "check"


class ResetProof:
    """One extra proof: ``is_needed(user)``, and the page that asks for it (``url_name``)."""

    name: str = ""
    url_name: str = ""

    def is_needed(self, user: User) -> bool:
        raise NotImplementedError

    def url(self) -> str:
        return reverse(self.url_name)

    def step_up_url(self, request: HttpRequest, next_url: str) -> str | None:
        """Where a signed-in person must go first to change the password, or None when this
        session has given the proof freshly (or the account does not need it)."""
        return None


def reset_proofs() -> tuple[ResetProof, ...]:
    return instances(tuple(app_settings.RESET_PROOFS))


def _run(request: HttpRequest):
    from accounts.journeys import FORGOT

    return FORGOT.flow.run(request)


def reset_proof_account(request: HttpRequest) -> User | None:
    """The account whose reset waits for an extra proof in this session, or None."""
    run = _run(request)
    if run.current != CHECK_STAGE:
        return None
    return User.objects.filter(pk=run.get("user_id")).first()


def reset_proof_passed(request: HttpRequest, name: str) -> HttpResponse:
    """Record that proof ``name`` was given in this run, and go on with the reset."""
    run = _run(request)
    if run.current != CHECK_STAGE:
        return redirect(run.flow.url())
    run.update(proofs=[*run.get("proofs", []), name])
    return redirect(run.flow.url(CHECK_STAGE))


def reset_proof_pending(user: User, given: list[str]) -> ResetProof | None:
    """The first proof ``user`` needs that was not given yet."""
    for proof in reset_proofs():
        if proof.name not in given and proof.is_needed(user):
            return proof
    return None


def change_step_up(request: HttpRequest, next_url: str) -> str | None:
    """The first step-up a signed-in password change needs, or None."""
    for proof in reset_proofs():
        url = proof.step_up_url(request, next_url)
        if url:
            return url
    return None
