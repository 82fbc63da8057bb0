"""Binding a ceremony to the browser session that started it.

A push and a security key's challenge belong to the page that asked for them, not merely to
the account: another browser, even one that knows the password, must not wait for the same
push, use its approval, spoil a key's open ceremony by asking for new options, or have a
key's answer made for someone else's page accepted. Each session gets a random secret on
first use; rows keep only its keyed hash.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from safecode.codes import generate_token

SESSION_KEY = "twofactor:binding"
SALT = "twofactor.binding"


def session_binding(request: HttpRequest | None) -> str:
    """The keyed hash that ties a row to ``request``'s session ("" without a session, as in
    a service called directly)."""
    if request is None or not hasattr(request, "session"):
        return ""
    secret = request.session.get(SESSION_KEY)
    if not isinstance(secret, str) or not secret:
        secret = generate_token()
        request.session[SESSION_KEY] = secret
    return salted_hmac(SALT, secret, algorithm="sha256").hexdigest()
