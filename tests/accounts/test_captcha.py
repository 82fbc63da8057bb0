"""The CAPTCHA (accounts.captcha) on the unlock page: each picture is answered once, right or
wrong, however many browsers post its answer at the same moment, and the picture is drawn from
an alphabet a person cannot misread, answered in any case."""

from __future__ import annotations

import io
import random
import re
import threading
import time
from contextlib import nullcontext
from datetime import timedelta
from http import HTTPStatus

import pytest
from captcha.conf import settings as captcha_settings
from captcha.models import CaptchaStore
from django.db import OperationalError, connections
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.captcha import ALPHABET, challenge
from tests.accounts.pages import UNLOCK
from tests.helpers import captcha_answer

pytestmark = pytest.mark.django_db(transaction=True)

SEND = reverse("accounts:unlock_send")
BROWSERS = 10
LOOK_ALIKES = "0oq1il2z5s8b"


def wait_when_locked(execute, sql, params, many, context):
    """Run the statement, waiting while another connection writes, as SQLite's busy timeout
    makes the portal's database file do. The suite's in-memory SQLite database answers
    "database table is locked" at once instead."""
    for _ in range(2000):
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.005)
    return execute(sql, params, many, context)


def passed(response) -> bool:
    """Whether the unlock page let the post through to its next step."""
    if response.status_code == HTTPStatus.FOUND and response.url == SEND:
        return True
    assert response.status_code == HTTPStatus.OK, response.status_code
    assert b"do not match the picture" in response.content
    return False


def test_one_answer_posted_by_ten_browsers_at_once_passes_once():
    answer = captcha_answer(Client().get(UNLOCK))
    barrier = threading.Barrier(BROWSERS)
    responses = []
    errors: list[BaseException] = []

    def browser(n: int) -> None:
        try:
            client = Client()
            # Each browser connects before the start line, so that the race is between the
            # statements and not between the connects.
            db = connections["default"]
            db.ensure_connection()
            waiting = (
                db.execute_wrapper(wait_when_locked) if db.vendor == "sqlite" else nullcontext()
            )
            with waiting:
                barrier.wait(timeout=60)
                responses.append(client.post(UNLOCK, {"username": f"person{n}", **answer}))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=browser, args=(n,)) for n in range(BROWSERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len(responses) == BROWSERS
    assert sum(passed(response) for response in responses) == 1
    assert not CaptchaStore.objects.filter(hashkey=answer["captcha_0"]).exists()


def test_a_wrong_answer_spends_the_picture(client):
    answer = captcha_answer(client.get(UNLOCK))
    wrong = client.post(UNLOCK, {"username": "someone", **answer, "captcha_1": "wrong"})
    assert not passed(wrong)
    right = client.post(UNLOCK, {"username": "someone", **answer})
    assert not passed(right), "the right answer after a wrong one is refused"
    assert "flow:unlock" not in client.session


def test_a_right_answer_is_accepted_once(client):
    answer = captcha_answer(client.get(UNLOCK))
    assert passed(client.post(UNLOCK, {"username": "someone", **answer}))
    assert not passed(Client().post(UNLOCK, {"username": "someone", **answer}))


def test_the_answer_is_not_case_sensitive(client):
    answer = captcha_answer(client.get(UNLOCK))
    typed = f"  {answer['captcha_1'].upper()} "
    assert passed(client.post(UNLOCK, {"username": "someone", **answer, "captcha_1": typed}))


def test_a_picture_expires(client, time_machine):
    time_machine.move_to("2026-03-02 09:00:00Z", tick=False)
    before = captcha_answer(client.get(UNLOCK))
    after = captcha_answer(client.get(UNLOCK))
    lifetime = timedelta(minutes=int(captcha_settings.CAPTCHA_TIMEOUT))
    time_machine.shift(lifetime - timedelta(seconds=1))
    assert passed(client.post(UNLOCK, {"username": "someone", **before}))
    time_machine.shift(timedelta(seconds=2))
    assert not passed(client.post(UNLOCK, {"username": "someone", **after}))


def test_answers_use_no_look_alike_characters():
    assert not set(LOOK_ALIKES) & set(ALPHABET.lower())
    for _ in range(200):
        text, answer = challenge()
        assert text == answer.upper()
        assert 5 <= len(answer) <= 6
        assert set(text) <= set(ALPHABET)


def test_answers_do_not_follow_from_the_seed_the_picture_is_drawn_with():
    """The library seeds ``random`` with the picture's key, which is on the page."""
    random.seed("a key shown on the page")
    first = challenge()
    random.seed("a key shown on the page")
    assert challenge() != first


def test_the_picture_is_large_and_the_same_at_each_reload(client):
    page = client.get(UNLOCK)
    src = re.search(rb'<img src="([^"]+)"[^>]*class="captcha"', page.content).group(1).decode()
    picture = client.get(src)
    assert picture.status_code == HTTPStatus.OK
    assert picture["Content-Type"] == "image/png"
    width, height = Image.open(io.BytesIO(picture.content)).size
    assert width >= 300 and height >= 100
    assert client.get(src).content == picture.content, "a reload cannot average the noise away"
