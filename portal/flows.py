"""Multi-request journeys (registration, unlock, forgotten password, change and expired
password) as an ordered list of stages, with their state under one session key.

A ``Flow`` is declared once, at import time, with its stages in order. Each view serves one
stage and says so with ``@FLOW.serves("stage")``; the decorator loads the run of the flow from
the session and decides, before the view runs, whether this stage may be served now:

- the first stage (the entry) is always served: completing it starts a fresh run;
- a later stage is served only when it is the stage the run waits for, or the stage just
  before it when marked ``revisit`` (asking for a new code from the page that enters it);
- any other stage sends the person to the stage the run waits for, so no stage can be
  skipped by typing its URL, and a finished stage's form posted again (a double click, the
  back button) lands on the next stage instead of doing the work twice;
- a run left idle past its idle timeout, or older than its lifetime, whatever its activity,
  is dropped, and the person starts again with a message saying why.

A view finishes its stage with ``flow.done("stage", **data)``, which records the data and
redirects to the next stage; after the last one the run is kept as *finished* with the page
it went to, so a repeated post goes there too. ``CodeVerification`` holds the limits on codes
asked for and tried within one run. Nothing secret is stored in a flow: codes are checked by
their services, and a flow's ``binding`` ties the codes it asks for to this run only.

Modelled on django-allauth's ``account/stages.py`` (ordered stages, ``set_handled``,
``get_pending_stage``) and ``account/internal/flows/code_verification.py``.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

KEY_PREFIX = "flow:"  # each run's session key: the prefix and the flow's name
TIMED_OUT = "That took too long, so we started again. Nothing was changed."


@dataclass(frozen=True)
class Stage:
    """One step of a flow: its name, the URL name of its page and its label in the step bar.

    ``revisit``: the page may be served again once passed, while the run is at a later stage
    (the "send a code" page, reached again from "enter the code" to ask for a new one).
    ``step``: False for a stage that is not shown in the step bar of its own.
    """

    name: str
    url_name: str
    label: str = ""
    revisit: bool = False
    step: bool = True


class Flow:
    """The declaration of a journey: its stages in order and its timeouts.

    ``idle`` ends a run nobody touched for that long; ``lifetime`` ends it that long after it
    began, however busy. ``end_label`` names, in the step bar, the page a journey ends on when
    that page is not a stage of its own. ``guard``, when given, runs before every stage and
    may answer instead (the expired-password journey exists only while a sign-in waits).
    """

    def __init__(
        self,
        name: str,
        stages: list[Stage],
        *,
        idle: Callable[[], timedelta],
        lifetime: Callable[[], timedelta],
        guard: Callable[[HttpRequest], HttpResponse | None] | None = None,
        end_label: str = "",
    ) -> None:
        self.name = name
        self.stages = stages
        self.idle = idle
        self.lifetime = lifetime
        self.guard = guard
        self.end_label = end_label
        self.key = f"{KEY_PREFIX}{name}"
        self._index = {stage.name: i for i, stage in enumerate(stages)}

    @property
    def entry(self) -> Stage:
        return self.stages[0]

    @property
    def steps(self) -> list[str]:
        return self.steps_without()

    def steps_without(self, *skipped: str) -> list[str]:
        """The step bar of a path that passes over the stages named ``skipped``."""
        labels = [stage.label for stage in self.stages if stage.step and stage.name not in skipped]
        return [*labels, self.end_label] if self.end_label else labels

    def stage(self, name: str) -> Stage:
        return self.stages[self._index[name]]

    def url(self, name: str | None = None) -> str:
        return reverse((self.stage(name) if name else self.entry).url_name)

    def index(self, name: str) -> int:
        return self._index[name]

    def run(self, request: HttpRequest) -> FlowRun:
        return FlowRun(self, request)

    def serves(self, stage_name: str):
        """Decorate the view of ``stage_name``: it runs only when that stage may be served,
        and receives the run as ``flow``."""
        return serves(stage_name, flow=self)


def serves(stage_name: str, flow: Flow | None = None):
    """Decorate a view that serves ``stage_name`` of ``flow``, or, for a view shared by
    several journeys, of the flow of the ``journey`` its URL passes (``journey.flow``).

    The view runs only when the stage may be served now (``FlowRun.refusal``); it receives the
    run as ``flow``.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            declared = flow or kwargs["journey"].flow
            stage = declared.stage(stage_name)
            if declared.guard is not None and (answer := declared.guard(request)) is not None:
                return answer
            run = declared.run(request)
            refusal = run.refusal(stage)
            if refusal is not None:
                return refusal
            run.serving = stage
            return view(request, *args, flow=run, **kwargs)

        return wrapper

    return decorator


def flow_runs_clear(request: HttpRequest, *, keep: tuple[str, ...] = ()) -> None:
    """End every journey run of the session but those of the flows named in ``keep``: a new
    sign-in starts every journey afresh, so nothing proven for one account carries over."""
    runs = [key for key in request.session.keys() if key.startswith(KEY_PREFIX)]  # noqa: SIM118
    for key in runs:
        if key.removeprefix(KEY_PREFIX) not in keep:
            del request.session[key]


class FlowRun:
    """One run of a flow in one session: the stage it waits for, its data and deadlines."""

    def __init__(self, flow: Flow, request: HttpRequest) -> None:
        self.flow = flow
        self.request = request
        self.session = request.session
        self.serving: Stage | None = None
        self.timed_out = False
        self._state = self._load()

    # Reading -------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any] | None:
        state = self.session.get(self.flow.key)
        if not state:
            return None
        now = timezone.now().timestamp()
        if state.get("idle_until", 0) <= now or state.get("ends_at", 0) <= now:
            self.session.pop(self.flow.key, None)
            self.timed_out = True
            return None
        if state.get("stage") not in self.flow._index and not state.get("finished"):
            self.session.pop(self.flow.key, None)
            return None
        return state

    @property
    def active(self) -> bool:
        return self._state is not None

    @property
    def current(self) -> str | None:
        """The stage the run waits for; None when there is no run or it is finished."""
        if self._state is None or self._state.get("finished"):
            return None
        return self._state["stage"]

    @property
    def finished(self) -> bool:
        return bool(self._state and self._state.get("finished"))

    def get(self, name: str, default: Any = None) -> Any:
        return self._state["data"].get(name, default) if self._state else default

    @property
    def binding(self) -> str:
        """A random name for this run, kept only in this session.

        Codes the run asks for are bound to it (``safecode_issue(binding=...)``), so that a
        code asked for here works nowhere else, not even in another run of the same flow.
        """
        return self._state.get("binding", "") if self._state else ""

    def refusal(self, stage: Stage) -> HttpResponse | None:
        """Where to send a request for ``stage`` that may not be served now, or None."""
        index = self.flow.index(stage.name)
        if index == 0:
            return None
        if self.finished:
            return redirect(self._state["then"])
        if self.current is None:
            if self.timed_out:
                messages.warning(self.request, TIMED_OUT)
            return redirect(self.flow.url())
        waiting = self.flow.index(self.current)
        # A revisited stage opens only from the stage right after it ("send a new code" from
        # "enter the code"), never once the run has gone further.
        if index == waiting or (index == waiting - 1 and stage.revisit):
            return None
        return redirect(self.flow.url(self.current))

    # Writing -------------------------------------------------------------------------------

    def begin(self, **data: Any) -> None:
        """A fresh run (new binding, new deadlines) waiting at the entry stage. Data of an
        earlier run is dropped."""
        self._state = {
            "stage": self.flow.entry.name,
            "data": {},
            "binding": secrets.token_urlsafe(18),
            "ends_at": (timezone.now() + self.flow.lifetime()).timestamp(),
        }
        self._save(**data)

    def start(self, **data: Any) -> HttpResponse:
        """The entry stage is done: a fresh run goes on to the next stage."""
        self.begin()
        return self.done(self.flow.entry.name, **data)

    def done(
        self, stage_name: str, *, then: str = "", next_stage: str = "", **data: Any
    ) -> HttpResponse:
        """``stage_name`` is finished: keep ``data`` and go to the next stage, or, after the
        last, to ``then``, which a repeated post of any stage reaches too.

        ``next_stage`` names a later stage to go to instead of the next one, for a journey
        whose paths skip stages they have no use for (a tablet has no phone number). The
        stages passed over are not done: asked for by URL, they lead to ``next_stage``.
        """
        if self._state is None:
            return redirect(self.flow.url())
        index = self.flow.index(stage_name)
        if next_stage:
            if self.flow.index(next_stage) <= index:
                raise ValueError(f"{next_stage!r} does not come after {stage_name!r}.")
            self._save(stage=next_stage, **data)
            return redirect(self.flow.url(next_stage))
        if index + 1 < len(self.flow.stages):
            self._save(stage=self.flow.stages[index + 1].name, **data)
            return redirect(self.flow.url(self.current))
        self._save(finished=True, then=then or self.flow.url(), **data)
        return redirect(self._state["then"])

    def update(self, **data: Any) -> None:
        """Keep ``data`` without changing the stage (a counter, a choice)."""
        if self._state is not None:
            self._save(**data)

    def back_to(self, stage_name: str, **data: Any) -> HttpResponse:
        """Send the run back to an earlier stage (a different channel, say)."""
        if self._state is None:
            return redirect(self.flow.url())
        self._save(stage=stage_name, **data)
        return redirect(self.flow.url(stage_name))

    def restart(self, message: str = "") -> HttpResponse:
        """End the run and send the person to the entry, saying why."""
        self.clear()
        if message:
            messages.error(self.request, message)
        return redirect(self.flow.url())

    def clear(self) -> None:
        self.session.pop(self.flow.key, None)
        self._state = None

    def _save(self, *, stage: str | None = None, finished: bool = False, then: str = "", **data):
        state = dict(self._state)
        state["data"] = {**state["data"], **data}
        if stage is not None:
            state["stage"] = stage
        if finished:
            state["finished"], state["then"] = True, then
        state["idle_until"] = (timezone.now() + self.flow.idle()).timestamp()
        self._state = state
        self.session[self.flow.key] = state

    # Showing -------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> HttpResponse:
        """Render the page of the stage being served, with the flow's step bar."""
        stage = self.serving or self.flow.entry
        shown = [s for s in self.flow.stages[: self.flow.index(stage.name) + 1] if s.step]
        context = {"steps": self.flow.steps, "current": max(len(shown), 1), **context}
        return render(self.request, template, context, status=status)


class CodeVerification:
    """The limits on codes within one run of a flow: how many may be asked for, how often,
    and how many wrong ones may be tried before the run starts again.

    Counted in the session only, so that the pages of the anonymous journeys (unlock,
    forgotten password) read alike for every username: the account's own SafeCode limits
    apply too, silently, in ``safecode.services``.
    """

    def __init__(self, run: FlowRun, *, sends: int, interval: timedelta, attempts: int) -> None:
        self.run = run
        self.max_sends = sends
        self.interval = interval
        self.max_attempts = attempts

    def wait(self) -> int:
        """Seconds until another code may be asked for (0: now); -1 when this run has asked
        for as many as it may."""
        if self.run.get("sends", 0) >= self.max_sends:
            return -1
        last = self.run.get("last_send") or 0
        due = last + self.interval.total_seconds()
        return max(int(due - timezone.now().timestamp() + 0.999), 0)

    def limits(self) -> dict[str, int]:
        """What the limits line of the send and code pages says."""
        return {
            "wait": self.wait(),
            "interval": int(self.interval.total_seconds()),
            "per_flow": self.max_sends,
        }

    def record_send(self) -> dict[str, Any]:
        """The counters to keep once a code was asked for (pass to ``FlowRun.done``)."""
        return {"sends": self.run.get("sends", 0) + 1, "last_send": timezone.now().timestamp()}

    def record_wrong_code(self) -> bool:
        """Count one wrong code; True when that was the last try the run had."""
        attempts = self.run.get("attempts", 0) + 1
        self.run.update(attempts=attempts)
        return attempts >= self.max_attempts
