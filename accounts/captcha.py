"""The CAPTCHA that guards unlock, password change and forgotten password.

It is django-simple-captcha's picture (with its audio version where the ``flite`` speech
synthesiser is installed), answered once: a wrong or reused answer spends the picture.

``CAPTCHA_TEST_MODE`` lets browser tests answer any picture with the word ``PASSED``. It is a
debug-only convenience (STYLE.md): the system check in ``accounts.checks`` stops the portal from
starting with it while DEBUG is off, and ``captcha_test_mode()`` raises ``ImproperlyConfigured``
whenever a form is checked in that state. The library reads its own settings once, at import,
so this module reads Django's settings itself, at each use, and never relies on the library's
copy of the test mode.
"""

from __future__ import annotations

from captcha.fields import CaptchaField, CaptchaTextInput
from captcha.models import CaptchaStore
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.forms import MultiValueField
from django.utils import timezone

TEST_ANSWER = "passed"
WRONG_ANSWER = "The characters you typed do not match the picture. Try the new picture."


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
    """The picture, a link to hear it (when audio exists), and the answer box."""

    template_name = "accounts/password_captcha_widget.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["audio"] = self.audio_url() if captcha_audio_available() else None
        context["service_desk_phone"] = settings.SERVICE_DESK_PHONE
        # Django links help and errors only for single widgets; link them to the answer box.
        base = (attrs or {}).get("id")
        if base:
            ids = [f"{base}_helptext"]
            if (attrs or {}).get("aria-invalid") == "true":
                ids.append(f"{base}_error")
            answer = context["widget"]["subwidgets"][-1]["attrs"]
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
        CaptchaStore.remove_expired()
        store = CaptchaStore.objects.filter(hashkey=key, expiration__gt=timezone.now()).first()
        # One try per picture, right or wrong, so that it cannot be answered by brute force.
        if store is not None:
            store.delete()
        if store is None or store.response != answer:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return value
