from django.urls import path

from accounts.views import (
    help,
    login,
    not_me,
    password,
    preferences,
    recent_proof,
    register,
    unlock,
    whitepages,
)

app_name = "accounts"

urlpatterns = [
    path("login/", login.login_view, name="login"),
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
    path("preferences/email/<str:token>/", preferences.email_confirm, name="email_confirm"),
    path("preferences/security/confirm/", recent_proof.confirm_password, name="recent_proof"),
    path("preferences/security/confirm/code/", recent_proof.confirm_code, name="recent_proof_code"),
    # Unlock, password change, expiry and forgotten password.
    path("unlock/", unlock.unlock, name="unlock"),
    path("unlock/send/", unlock.unlock_send, name="unlock_send"),
    path("unlock/code/", unlock.unlock_code, name="unlock_code"),
    path(
        "preferences/security/password/",
        password.password_change_start,
        name="password_change",
    ),
    path(
        "preferences/security/password/send/",
        password.password_change_send,
        name="password_change_send",
    ),
    path(
        "preferences/security/password/code/",
        password.password_change_code,
        name="password_change_code",
    ),
    path(
        "preferences/security/password/new/",
        password.password_change_new,
        name="password_change_new",
    ),
    path(
        "preferences/security/password/done/",
        password.password_changed,
        name="password_changed",
    ),
    path("password/expiring/", password.password_expiring, name="password_expiring"),
    path("password/expired/", password.password_expired_start, name="password_expired"),
    path("password/expired/send/", password.password_expired_send, name="password_expired_send"),
    path("password/expired/code/", password.password_expired_code, name="password_expired_code"),
    path("password/expired/new/", password.password_expired_new, name="password_expired_new"),
    path(
        "password/expired/safecode/",
        password.password_expired_safecode,
        name="password_expired_safecode",
    ),
    path("password/forgot/", password.password_forgot, name="password_forgot"),
    path("password/forgot/send/", password.password_forgot_send, name="password_forgot_send"),
    path("password/forgot/code/", password.password_forgot_code, name="password_forgot_code"),
    path("password/forgot/new/", password.password_forgot_new, name="password_forgot_new"),
]
