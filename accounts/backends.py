from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class DirectoryBackend(ModelBackend):
    """Sign-in by username or by 8-digit Harvard ID, with every rule of the sign-in service.

    ``authenticate()`` goes through ``accounts.services.signin.signin_attempt``: the per-IP
    throttle, the CAPTCHA after repeated failures (which this door cannot show, so it refuses),
    lockout counting and the same answer for every refusal. It also refuses an account that any
    stage of the sign-in pipeline (``accounts.stages``) still waits for: a second factor, an
    expired password to replace. Those are asked for by the portal's sign-in pages before the
    session starts, so no caller of ``authenticate()`` (the admin, a management command, a
    later door) can skip a rule.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        from accounts.services.signin import SignInOutcome, signin_attempt
        from accounts.stages import signin_stages

        result = signin_attempt(login=username, password=password, request=request)
        if result.outcome is not SignInOutcome.OK:
            return None
        if any(stage.is_needed(result.user, request) for stage in signin_stages()):
            return None
        return result.user

    def user_can_authenticate(self, user):
        return user.may_sign_in
