from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class DirectoryBackend(ModelBackend):
    """Sign-in by username or by 8-digit Harvard ID, with every rule of the sign-in service.

    ``authenticate()`` goes through ``accounts.services.signin.signin_attempt``: the per-IP
    throttle, the CAPTCHA after repeated failures (which this door cannot show, so it refuses),
    lockout counting and the same answer for every refusal. It also refuses an account whose
    password has expired or must be replaced: that is done through the portal's sign-in page,
    which asks for the new password before the session starts. So no caller of
    ``authenticate()`` (the admin, a management command, a later door) can skip a rule.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        from accounts.services.expiry import password_is_expired
        from accounts.services.signin import SignInOutcome, signin_attempt

        result = signin_attempt(login=username, password=password, request=request)
        if result.outcome is not SignInOutcome.OK or password_is_expired(result.user):
            return None
        return result.user

    def user_can_authenticate(self, user):
        return user.may_sign_in
