"""The CAPTCHA that guards unlock, password change and forgotten password.

It is django-simple-captcha's picture (with its audio version where the ``flite`` speech
synthesiser is installed), answered once: a wrong or reused answer spends the picture, and of
requests racing with one answer only the one whose DELETE removed the row is let through
(``captcha_consume``).

The picture is drawn to defeat stock OCR while staying readable by people (settings in the
CAPTCHA section of ``portal.settings.base``; ``bench/captcha_ocr.py`` measures it): characters
from an alphabet without look-alikes, chosen with ``secrets`` (``challenge``), crossed by curves
as thick as the letters' strokes that join them (``noise_strokes``), sprinkled with blots too
large for a median filter (``noise_blots``), then bent as a whole (``filter_warp``). The library
seeds ``random`` with the picture's key before drawing, so a picture looks the same at each
reload and cannot be fetched again and again to average its noise away.

``CAPTCHA_TEST_MODE`` lets browser tests answer any picture with the word ``PASSED``. It is a
debug-only convenience (STYLE.md): the system check in ``accounts.checks`` stops the portal from
starting with it while DEBUG is off, and ``captcha_test_mode()`` raises ``ImproperlyConfigured``
whenever a form is checked in that state. The library reads its own settings once, at import,
so this module reads Django's settings itself, at each use, and never relies on the library's
copy of the test mode.
"""

from __future__ import annotations

import math
import random
import secrets

from captcha.conf import settings as captcha_settings
from captcha.fields import CaptchaField, CaptchaTextInput
from captcha.models import CaptchaStore
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.forms import MultiValueField
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from PIL import Image, ImageDraw, ImageFilter

TEST_ANSWER = "passed"
WRONG_ANSWER = "The characters you typed do not match the picture. Try the new picture."

# Upper-case letters and digits that cannot be taken for one another once tilted and bent: no
# 0/O/Q/D, 1/I/J/L, 2/Z, 5/S, 8/B, 6/G, 4/A, U/V/Y. The answer is not case-sensitive.
ALPHABET = "ACEFHKMNPRTWX3679"
# Dark enough on the light ground for WCAG's 4.5:1 contrast ratio, different enough in hue
# that no single colour threshold keeps the letters and drops the rest.
INKS = ("#1b3a8a", "#7a1f1f", "#1f5e2e", "#4b2a7a", "#222222", "#6b3d0f")


def captcha_test_mode_problem() -> str | None:
    """Why the current settings are unsafe, or None when they are fine."""
    if getattr(settings, "CAPTCHA_TEST_MODE", False) and not settings.DEBUG:
        return (
            "CAPTCHA_TEST_MODE accepts any CAPTCHA answered with PASSED; it is allowed only "
            "with DEBUG on, for automated tests. Turn it off."
        )
    return None


def captcha_test_mode() -> bool:
    """Whether the fixed test answer is accepted; raises ``ImproperlyConfigured`` if it is on
    while DEBUG is off."""
    problem = captcha_test_mode_problem()
    if problem:
        raise ImproperlyConfigured(problem)
    return bool(getattr(settings, "CAPTCHA_TEST_MODE", False))


def captcha_audio_available() -> bool:
    return bool(getattr(settings, "CAPTCHA_FLITE_PATH", None))


class PortalCaptchaInput(CaptchaTextInput):
    """The picture, a control for a new one, a link to hear it (when audio exists), and the
    answer box.

    The new picture comes from the library's ``captcha-refresh`` view, asked by the site's
    script; without the script the control is a link that reloads the page.
    """

    template_name = "accounts/password_captcha_widget.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["audio"] = self.audio_url() if captcha_audio_available() else None
        context["refresh_url"] = self.refresh_url()
        context["service_desk_phone"] = settings.SERVICE_DESK_PHONE
        key, answer = (sub["attrs"] for sub in context["widget"]["subwidgets"])
        key["data-captcha-key"] = True
        answer["data-captcha-answer"] = True
        # Django links help and errors only for single widgets; link them to the answer box.
        base = (attrs or {}).get("id")
        if base:
            ids = [f"{base}_helptext"]
            if (attrs or {}).get("aria-invalid") == "true":
                ids.append(f"{base}_error")
            answer["aria-describedby"] = " ".join(ids)
        return context

    def audio_url(self):
        from django.urls import reverse

        return reverse("captcha-audio", kwargs={"key": self._key})

    def _render(self, template_name, context, renderer=None):
        """The inputs come from Django's form renderer; the frame around them is the
        project's template (the form renderer only sees the apps' own templates)."""
        from django.forms.renderers import get_default_renderer
        from django.template.loader import render_to_string
        from django.utils.safestring import mark_safe

        renderer = renderer or get_default_renderer()
        inputs = "".join(
            renderer.render(sub["template_name"], {"widget": sub})
            for sub in context["widget"]["subwidgets"]
        )
        return mark_safe(render_to_string(template_name, {**context, "inputs": mark_safe(inputs)}))  # noqa: S308


class PortalCaptchaField(CaptchaField):
    """A CAPTCHA answered once, with the test shortcut guarded by DEBUG."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Type the characters in the picture")
        kwargs.setdefault(
            "help_text",
            "Letters are not case-sensitive. This check keeps automated programs out.",
        )
        kwargs.setdefault("widget", PortalCaptchaInput())
        kwargs.setdefault(
            "error_messages",
            {"invalid": WRONG_ANSWER, "required": "Type the characters in the picture."},
        )
        super().__init__(**kwargs)

    def clean(self, value):
        MultiValueField.clean(self, value)
        key = value[0] if value and len(value) > 0 else ""
        answer = (value[1] if value and len(value) > 1 else "") or ""
        answer = answer.strip().lower()
        if captcha_test_mode() and answer == TEST_ANSWER:
            CaptchaStore.objects.filter(hashkey=key).delete()
            return value
        if not captcha_consume(key=key, answer=answer):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return value


def captcha_consume(*, key: str, answer: str) -> bool:
    """Spend the picture ``key`` and say whether ``answer`` (lower-case) was its answer.

    A picture is answered once, right or wrong, so that it cannot be guessed by brute force or
    replayed. Requests that race with the same answer all read the row, but only one of their
    DELETEs removes it: the others see a count of 0 and are refused, however many there are.
    The answer is compared in constant time.
    """
    CaptchaStore.remove_expired()
    row = CaptchaStore.objects.filter(hashkey=key).values_list("response", "expiration").first()
    deleted, _ = CaptchaStore.objects.filter(hashkey=key).delete()
    if row is None or deleted != 1:
        return False
    response, expiration = row
    fresh = expiration > timezone.now()
    return constant_time_compare(response, answer) and fresh


# The picture ------------------------------------------------------------------------------


def challenge() -> tuple[str, str]:
    """CAPTCHA_CHALLENGE_FUNCT: ``CAPTCHA_LENGTH`` characters from ``ALPHABET``, shown in
    capitals and answered in any case.

    Drawn with ``secrets``: the library seeds ``random`` with each picture's key (which is on
    the page) while it draws the picture, so ``random`` must not choose the answers.
    """
    text = "".join(secrets.choice(ALPHABET) for _ in range(captcha_settings.CAPTCHA_LENGTH))
    return text, text.lower()


def letter_color(index: int, text: str) -> str:
    """CAPTCHA_LETTER_COLOR_FUNCT: each letter in one of the dark ``INKS``."""
    return random.choice(INKS)


def _curve(width: int, height: int) -> list[tuple[float, float]]:
    """Points of a wave from edge to edge across the middle band, where the letters are."""
    middle = height * random.uniform(0.35, 0.65)
    amplitude = height * random.uniform(0.12, 0.28)
    period = width * random.uniform(0.45, 1.1)
    phase = random.uniform(0, 2 * math.pi)
    tilt = random.uniform(-0.25, 0.25) * height
    return [
        (
            x,
            middle
            + amplitude * math.sin(2 * math.pi * x / period + phase)
            + tilt * (x / width - 0.5),
        )
        for x in range(-10, width + 11, 4)
    ]


def noise_strokes(draw: ImageDraw.ImageDraw, image: Image.Image) -> ImageDraw.ImageDraw:
    """CAPTCHA_NOISE_FUNCTIONS: two waves through the letters, as thick as their strokes and
    in the same inks, so that a median filter keeps them and a threshold cannot tell them
    from the letters: the letters are joined and cannot be cut apart one by one."""
    width, height = image.size
    stroke = max(2, round(captcha_settings.CAPTCHA_FONT_SIZE / 14))
    for width_ in (stroke, max(1, stroke - 1)):
        draw.line(_curve(width, height), fill=random.choice(INKS), width=width_, joint="curve")
    return draw


def noise_blots(draw: ImageDraw.ImageDraw, image: Image.Image) -> ImageDraw.ImageDraw:
    """CAPTCHA_NOISE_FUNCTIONS: small dark blots, too large for a median filter to remove,
    and lighter specks over the letters."""
    width, height = image.size
    for _ in range(width * height // 2000):
        x, y = random.uniform(0, width), random.uniform(0, height)
        r = random.uniform(1.5, 3.5)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=random.choice(INKS))
    for _ in range(width * height // 900):
        x, y = random.uniform(0, width), random.uniform(0, height)
        r = random.uniform(1, 2.5)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=captcha_settings.CAPTCHA_BACKGROUND_COLOR)
    return draw


def filter_thicken(image: Image.Image) -> Image.Image:
    """CAPTCHA_FILTER_FUNCTIONS: widen every dark stroke by a pixel on each side, which makes
    the thin font easier to read and leaves the curves as thick as the letters."""
    return image.filter(ImageFilter.MinFilter(3))


def filter_warp(image: Image.Image) -> Image.Image:
    """CAPTCHA_FILTER_FUNCTIONS: bend the whole picture along two slow waves, so that the
    letters, their baseline and the curves through them are no longer straight."""
    width, height = image.size
    cell = 12
    ax, ay = height * 0.07, height * 0.1
    px, py = random.uniform(0.6, 1.2) * height, random.uniform(0.5, 0.9) * width
    fx, fy = random.uniform(0, 2 * math.pi), random.uniform(0, 2 * math.pi)

    def source(x: int, y: int) -> tuple[float, float]:
        return (
            x + ax * math.sin(2 * math.pi * y / px + fx),
            y + ay * math.sin(2 * math.pi * x / py + fy),
        )

    mesh = []
    for x0 in range(0, width, cell):
        for y0 in range(0, height, cell):
            x1, y1 = min(x0 + cell, width), min(y0 + cell, height)
            quad = (*source(x0, y0), *source(x0, y1), *source(x1, y1), *source(x1, y0))
            mesh.append(((x0, y0, x1, y1), quad))
    background = captcha_settings.CAPTCHA_BACKGROUND_COLOR
    return image.transform(
        image.size, Image.Transform.MESH, mesh, Image.Resampling.BICUBIC, fillcolor=background
    )
