"""System checks of the accounts app (run by migrate, runserver and ``manage.py check``)."""

from __future__ import annotations

from django.core import checks

from accounts.captcha import captcha_test_mode_problem


@checks.register(checks.Tags.security)
def captcha_test_mode_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse to start with the CAPTCHA test shortcut while DEBUG is off."""
    problem = captcha_test_mode_problem()
    if problem is None:
        return []
    return [
        checks.Error(
            problem,
            hint="Remove CAPTCHA_TEST_MODE from the environment, or use it only with DEBUG on.",
            id="accounts.E001",
        )
    ]
