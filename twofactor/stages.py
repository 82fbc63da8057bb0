"""The second factor as a stage of the sign-in pipeline (``accounts.stages``).

Listed first in ``ACCOUNTS_SIGNIN_STAGES``, so it comes right after the password and before
the expired-password change, the post-sign-in requirements and every account page. The
session holds only the pending sign-in (account id, deadline, stages done), never a password;
``login()`` happens once every stage is done, and then ``after_login`` marks the session
verified with the OTP device used (``django_otp.login``), which the console's own check reads.
"""

from __future__ import annotations

import django_otp
from django.http import HttpRequest
from django_otp.models import Device as OTPDevice

from accounts.models import User
from accounts.stages import SignInStage
from twofactor.freshness import second_factor_mark_fresh
from twofactor.policy import user_has_device
from twofactor.remember import remember_cookie_value
from twofactor.services import browser_is_remembered


class SecondFactorStage(SignInStage):
    name = "second_factor"
    url_name = "twofactor:verify"

    def is_needed(self, user: User, request: HttpRequest | None) -> bool:
        if not user_has_device(user):
            return False
        cookie = remember_cookie_value(request) if request is not None else ""
        return not browser_is_remembered(user=user, cookie=cookie)

    def on_enter(self, request: HttpRequest, user: User) -> None:
        """ "When I log in: Automatically send this device a push" (or "call this device"):
        the push or call to the default device goes out as the pipeline first sends the
        person here, once per sign-in. A call placed less than a minute ago is not placed
        again, nor a push sent while one waits; what was sent still works."""
        from accounts.stages import PendingSignIn
        from twofactor.choice import passcode_sent_record, signin_flow
        from twofactor.models import Profile
        from twofactor.policy import user_devices
        from twofactor.push import push_send
        from twofactor.services import PasscodeWait, TwoFactorError, passcode_send

        action = Profile.objects.filter(user=user).values_list("login_action", flat=True).first()
        if action not in (Profile.LoginAction.CALL, Profile.LoginAction.PUSH):
            return
        method = "push" if action == Profile.LoginAction.PUSH else "call"
        device = user_devices(user).filter(is_default=True).first()
        if device is None or method not in device.methods:
            return
        flow = signin_flow(PendingSignIn(request))
        push_id = ""
        try:
            if method == "push":
                push_id = str(push_send(device=device, flow=flow, request=request).pk)
            else:
                passcode_send(device=device, method="call", request=request)
        except PasscodeWait:
            pass
        except TwoFactorError:  # PushUnavailable among them
            return
        passcode_sent_record(
            request,
            user=user,
            device=device,
            method=method,
            flow=flow,
            auto=True,
            push_id=push_id,
        )

    def after_login(self, request: HttpRequest, user: User, data) -> None:

        if not data:
            return
        device = OTPDevice.from_persistent_id(data.get("otp", ""))
        if device is not None and device.user_id == user.pk:
            django_otp.login(request, device)
            second_factor_mark_fresh(request)
