from django.urls import path

from twofactor.views import devices, enroll, keys, push, reset, verify

app_name = "twofactor"

urlpatterns = [
    # My Settings & Devices.
    path("", devices.settings_page, name="devices"),
    path("devices/<int:pk>/rename/", devices.rename, name="device_rename"),
    path("devices/<int:pk>/remove/", devices.remove, name="device_remove"),
    path("devices/<int:pk>/default/", devices.make_default, name="device_default"),
    path("login-action/", devices.login_action, name="login_action"),
    path("browsers/<int:pk>/forget/", devices.forget_browser, name="browser_forget"),
    path("confirm/", devices.confirm, name="confirm"),
    # The second step of sign-in.
    path("verify/", verify.verify, name="verify"),
    path("push/<uuid:push_id>/status/", push.status, name="push_status"),
    # A forgotten password on an account with a second factor.
    path("reset/", reset.reset_verify, name="reset"),
    # A security key's challenge, for any of the three pages above.
    path("keys/options/", keys.authentication_options, name="key_options"),
    # The enrollment wizard.
    path("enroll/", enroll.start, name="enroll"),
    path("enroll/type/", enroll.device_type, name="enroll_type"),
    path("enroll/phone/", enroll.phone_number, name="enroll_phone"),
    path("enroll/phone-type/", enroll.phone_type, name="enroll_phone_type"),
    path("enroll/install/", enroll.install, name="enroll_install"),
    path("enroll/activate/", enroll.activate, name="enroll_activate"),
    path("enroll/activate/qr.svg", enroll.qr_code, name="enroll_qr"),
    path("enroll/activate/status/", enroll.activation_status, name="enroll_activation_status"),
    path("enroll/call/", enroll.landline_test, name="enroll_call"),
    path("enroll/key/", enroll.security_key, name="enroll_key"),
    path("enroll/key/options/", keys.registration_options, name="enroll_key_options"),
    path("enroll/done/", enroll.done, name="enroll_done"),
    path("activate/<str:token>/", enroll.activation_link, name="activation_link"),
]
