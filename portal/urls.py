from captcha import urls as captcha_urls
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from portal import views


def public(patterns):
    """Mark a third-party app's views as reachable without signing in."""
    for pattern in patterns:
        pattern.callback = login_not_required(pattern.callback)
    return patterns


urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("captcha/", include(public(captcha_urls.urlpatterns))),
    path("", include("accounts.urls")),
    path("safecode/", include("safecode.urls")),
    path("twofactor/", include("twofactor.urls")),
    path("guests/", include("guests.urls")),
    # The portal's authenticator web app for phones.
    path("m/", include("twofactor.mobile_urls")),
    path("admin/", admin.site.urls),
    # Development conveniences; every view there answers 404 unless DEBUG is on.
    path("dev/", include("delivery.dev_urls")),
]

handler500 = "portal.errors.server_error"
