from django.urls import path

from accounts.views import help, login, preferences, register, whitepages

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
    path("help/", help.help_page, name="help"),
    path("preferences/", preferences.preferences, name="preferences"),
    path("preferences/address/", preferences.address, name="address"),
    path("preferences/email/<str:token>/", preferences.email_confirm, name="email_confirm"),
]
