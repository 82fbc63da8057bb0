"""Assertion helpers shared by the suite."""

from __future__ import annotations

import re


def page_text(response, *typed: str) -> bytes:
    """A page with what differs by nature masked out: the CSRF token, the CAPTCHA picture and
    what the person typed.

    Two responses that should not reveal anything to each other compare equal after this.
    """
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"CSRF", response.content)
    # A CAPTCHA is a new picture on every page.
    body = re.sub(rb"/captcha/(image|audio)/[0-9a-f]+/", rb"/captcha/\1/KEY/", body)
    body = re.sub(rb'name="captcha_0" value="[0-9a-f]+"', b"CAPTCHA", body)
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


def post_login(client, username: str, password: str, **extra):
    """Sign in as a person would: when the password was not even checked because the page asks
    for the picture as well, answer it and submit again."""
    from django.urls import reverse

    data = {"username": username, "password": password, **extra}
    response = client.post(reverse("accounts:login"), data)
    checked = b"username or password is not right" in response.content
    if b'name="captcha_0"' in response.content and "captcha_1" not in data and not checked:
        response = client.post(reverse("accounts:login"), {**data, **captcha_answer(response)})
    return response
