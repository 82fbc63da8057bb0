"""The portal's authenticator web app, mounted at /m/ (``twofactor.views.mobile``)."""

from django.urls import path

from twofactor.views import mobile

app_name = "mobile"

urlpatterns = [
    path("", mobile.app, name="app"),
    path("activate/", mobile.app, name="activate"),
    path("sw.js", mobile.service_worker, name="service_worker"),
    path("manifest.webmanifest", mobile.manifest, name="manifest"),
    path("api/activate", mobile.activate, name="api_activate"),
    path("api/requests", mobile.requests, name="api_requests"),
    path("api/decide", mobile.decide, name="api_decide"),
    path("api/subscribe", mobile.subscribe, name="api_subscribe"),
]
