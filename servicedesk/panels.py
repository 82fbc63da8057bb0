"""The panels of a person's page, in order, and what each shows besides its actions.

Each panel is a template, ``templates/servicedesk/panels/<name>.html``, given the account,
the actions of that panel the agent may take now (``servicedesk.actions``) and whatever its
context function adds. Modules register a context function with ``@panel_context("name")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from accounts.models import User

PANELS: list[tuple[str, str]] = [
    ("signin", "Why can't they sign in?"),
    ("verify", "Verify the caller"),
    ("account", "Account"),
    ("password", "Password"),
    ("safecode", "SafeCode"),
    ("twofactor", "Two-factor"),
    ("bypass", "Bypass codes"),
    ("guest", "Guest sponsorship"),
    ("messages", "Messages and code limits"),
    ("activity", "Recent activity"),
]

CONTEXT: dict[str, Callable[[User, HttpRequest], dict[str, Any]]] = {}


def panel_context(name: str):
    """Register what panel ``name`` shows; the function gets the account and the request."""

    def decorator(function: Callable[[User, HttpRequest], dict[str, Any]]):
        CONTEXT[name] = function
        return function

    return decorator


def context_for(name: str, account: User, request: HttpRequest) -> dict[str, Any]:
    function = CONTEXT.get(name)
    return function(account, request) if function else {}
