from django.urls import path

from accounts.journeys import CHANGE, EXPIRED, FORGOT, UNLOCK
from accounts.views import (
    help,
    login,
    not_me,
    password_change,
    password_expired,
    password_safecode,
    preferences,
    recent_proof,
    recovery,
    register,
    whitepages,
)

app_name = "accounts"

urlpatterns = [
    path("login/", login.login_view, name="login"),
    path("login/continue/", login.continue_view, name="signin_continue"),
    path("logout/", login.logout_view, name="logout"),
    path("register/", register.register, name="register"),
    path("register/code/", register.register_code, name="register_code"),
    path("register/account/", register.register_account, name="register_account"),
    path("register/affiliate/", register.register_affiliate, name="register_affiliate"),
    path(
        "register/affiliate/<str:token>/",
        register.register_affiliate_complete,
        name="register_affiliate_complete",
    ),
    path("whitepages/", whitepages.whitepages, name="whitepages"),
    path("report/<str:token>/", not_me.not_me, name="not_me"),
    path("help/", help.help_page, name="help"),
    path("preferences/", preferences.preferences, name="preferences"),
    path("preferences/address/", preferences.address, name="address"),
    path(
        "preferences/address/directory/",
        preferences.directory_change,
        name="directory_change",
    ),
    path("preferences/address/email/", preferences.email_change, name="email_change"),
    path("preferences/address/<str:kind>/", preferences.address_edit, name="address_edit"),
    path("preferences/email/<str:token>/", preferences.email_confirm, name="email_confirm"),
    path("preferences/security/confirm/", recent_proof.confirm_password, name="recent_proof"),
    path("preferences/security/confirm/code/", recent_proof.confirm_code, name="recent_proof_code"),
    # Unlock and forgotten password: one journey, two services (accounts.journeys).
    path("unlock/", recovery.start, {"journey": UNLOCK}, name="unlock"),
    path("unlock/send/", recovery.send, {"journey": UNLOCK}, name="unlock_send"),
    path("unlock/code/", recovery.code, {"journey": UNLOCK}, name="unlock_code"),
    path("unlock/done/", recovery.unlocked, name="unlock_done"),
    path("password/forgot/", recovery.start, {"journey": FORGOT}, name="password_forgot"),
    path("password/forgot/send/", recovery.send, {"journey": FORGOT}, name="password_forgot_send"),
    path("password/forgot/code/", recovery.code, {"journey": FORGOT}, name="password_forgot_code"),
    path("password/forgot/check/", recovery.forgot_check, name="password_forgot_check"),
    path("password/forgot/new/", recovery.forgot_new_password, name="password_forgot_new"),
    path("password/forgot/done/", recovery.password_reset_done, name="password_forgot_done"),
    # Change password, signed in, and an expired password, at sign-in.
    path("preferences/security/password/", password_change.start, name="password_change"),
    path(
        "preferences/security/password/send/",
        password_safecode.send,
        {"journey": CHANGE},
        name="password_change_send",
    ),
    path(
        "preferences/security/password/code/",
        password_safecode.code,
        {"journey": CHANGE},
        name="password_change_code",
    ),
    path(
        "preferences/security/password/new/",
        password_change.new_password,
        name="password_change_new",
    ),
    path("preferences/security/password/done/", password_change.changed, name="password_changed"),
    path("password/expiring/", password_expired.expiring, name="password_expiring"),
    path("password/expired/", password_expired.start, name="password_expired"),
    path(
        "password/expired/send/",
        password_safecode.send,
        {"journey": EXPIRED},
        name="password_expired_send",
    ),
    path(
        "password/expired/code/",
        password_safecode.code,
        {"journey": EXPIRED},
        name="password_expired_code",
    ),
    path("password/expired/new/", password_expired.new_password, name="password_expired_new"),
    path(
        "password/expired/safecode/",
        password_expired.register_safecode,
        name="password_expired_safecode",
    ),
]

# A password-reset link sent by the service desk (accounts.services.reset_link).
from accounts.views import reset_link as _reset_link  # noqa: E402

urlpatterns += [
    path("password/link/<str:token>/", _reset_link.reset_link, name="reset_link"),
]
