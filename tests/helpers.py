"""Assertion helpers shared by the suite."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection, connections


def page_text(response, *typed: str) -> bytes:
    """A page with what differs by nature masked out: the CSRF token, the CAPTCHA picture, the
    count of recent failures and what the person typed.

    Two responses that should not reveal anything to each other compare equal after this.
    """
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"CSRF", response.content)
    # A CAPTCHA is a new picture on every page.
    body = re.sub(rb"/captcha/(image|audio)/[0-9a-f]+/", rb"/captcha/\1/KEY/", body)
    body = re.sub(rb'name="captcha_0" value="[0-9a-f]+"', b"CAPTCHA", body)
    # The warning before the lock counts every attempt, right or wrong, so it grows by one.
    body = re.sub(rb"\d+ sign-ins with this name failed", b"N sign-ins with this name failed", body)
    for text in typed:
        body = body.replace(text.encode(), b"TYPED")
    return body


def captcha_answer(response) -> dict[str, str]:
    """The CAPTCHA fields of a page as a person who read the picture would fill them."""
    from captcha.models import CaptchaStore

    match = re.search(rb'name="captcha_0" value="([0-9a-f]+)"', response.content)
    assert match, "no CAPTCHA on the page"
    key = match.group(1).decode()
    return {"captcha_0": key, "captcha_1": CaptchaStore.objects.get(hashkey=key).response}


def is_captcha_redirect(response) -> bool:
    """Whether a sign-in post was sent back to the sign-in page to answer a CAPTCHA first
    (a successful sign-in never redirects there)."""
    from django.urls import reverse

    location = response.get("Location", "") if response.status_code == 302 else ""
    return location.split("?")[0] == reverse("accounts:login")


def post_login(client, username: str, password: str, headers=None, **extra):
    """Sign in as a person would: when the password was not even checked because the page asks
    for the picture as well, answer it and submit again."""
    from django.urls import reverse

    headers = headers or {}
    login = reverse("accounts:login")
    data = {"username": username, "password": password, **extra}
    response = client.post(login, data, **headers)
    if is_captcha_redirect(response) and "captcha_1" not in data:
        # The page asks for the picture whatever the name now: the post was sent back to it.
        page = client.get(response["Location"], **headers)
        return client.post(login, {**data, **captcha_answer(page)}, **headers)
    checked = b"username or password is not right" in response.content
    if b'name="captcha_0"' in response.content and "captcha_1" not in data and not checked:
        response = client.post(login, {**data, **captcha_answer(response)}, **headers)
    return response


def prove_it_is_you(client, password: str, *, read_code=None, on_commit=None):
    """Go through "Confirm it is you" as a person would: the password, then (when the page
    asks for it) a code sent to the first SafeCode contact, read with ``read_code()``.

    ``on_commit`` is a context manager that runs on-commit callbacks (the delivery hand-off)
    in tests that do not commit, such as pytest-django's ``django_capture_on_commit_callbacks``
    with ``execute=True``.
    """
    from contextlib import nullcontext

    from django.urls import reverse

    start = reverse("accounts:recent_proof")
    code_page = reverse("accounts:recent_proof_code")
    response = client.post(start, {"password": password})
    assert response.status_code == 302, "the password was not accepted"
    if not response.url.startswith(code_page):
        return response
    page = client.get(code_page)
    channel = re.search(rb'name="channel" value="(\d+)"', page.content).group(1).decode()
    with on_commit() if on_commit else nullcontext():
        client.post(code_page, {"action": "send", "channel": channel})
    response = client.post(code_page, {"code": read_code()})
    assert response.status_code == 302, "the code was not accepted"
    return response


def code_sent_to(outbox, recipient: str) -> str:
    """The six digits of the last message the outbox holds for ``recipient``."""
    bodies = [m.body for m in outbox if m.recipient == recipient]
    assert bodies, f"nothing was sent to {recipient}"
    return re.search(r"\b(\d{6})\b", bodies[-1]).group(1)


def other_code(code: str) -> str:
    """A well-formed code that is not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


# Concurrency ----------------------------------------------------------------------------------

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row-level concurrency is tested on PostgreSQL only (SQLite serialises every "
    "write); run with DATABASE_URL=postgres://...",
)


def in_threads(work, count: int) -> list:
    """Run ``work(i)`` in ``count`` threads released at one moment, each on its own database
    connection opened before the start line; returns what each returned."""
    barrier = threading.Barrier(count)
    results: list = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            connections["default"].ensure_connection()
            barrier.wait(timeout=60)
            results.append(work(i))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == count
    return results
