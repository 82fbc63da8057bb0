"""State of a multi-request flow (registration, unlock, password reset), kept in the session.

Each flow keeps an explicit stage and its data under one session key, with a deadline: a flow
left idle past its timeout starts again from the first stage. Nothing secret is stored here.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone


class SessionFlow:
    def __init__(self, request: HttpRequest, name: str, *, timeout: timedelta) -> None:
        self.session = request.session
        self.key = f"flow:{name}"
        self.timeout = timeout

    def _load(self) -> dict[str, Any] | None:
        state = self.session.get(self.key)
        if not state:
            return None
        if state.get("deadline", 0) < timezone.now().timestamp():
            self.clear()
            return None
        return state

    @property
    def stage(self) -> str | None:
        state = self._load()
        return state["stage"] if state else None

    def get(self, name: str, default: Any = None) -> Any:
        state = self._load()
        return state["data"].get(name, default) if state else default

    @property
    def binding(self) -> str:
        """A random name for this run of the flow, kept only in this session.

        Codes the flow asks for are bound to it (``safecode_issue(binding=...)``), so that a
        code asked for here works nowhere else, not even in another run of the same flow.
        """
        state = self._load()
        return state.get("binding", "") if state else ""

    def start(self, stage: str, **data: Any) -> None:
        self.session[self.key] = {
            "stage": stage,
            "data": data,
            "deadline": self._deadline(),
            "binding": secrets.token_urlsafe(18),
        }

    def advance(self, stage: str, **data: Any) -> None:
        state = self._load() or {"data": {}, "binding": secrets.token_urlsafe(18)}
        state["data"].update(data)
        self.session[self.key] = {
            "stage": stage,
            "data": state["data"],
            "deadline": self._deadline(),
            "binding": state.get("binding") or secrets.token_urlsafe(18),
        }

    def clear(self) -> None:
        self.session.pop(self.key, None)

    def _deadline(self) -> float:
        return (timezone.now() + self.timeout).timestamp()
