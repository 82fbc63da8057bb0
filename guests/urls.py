from django.urls import path

from guests import views

app_name = "guests"

urlpatterns = [
    path("", views.guests_home, name="home"),
    path("request/", views.guest_request, name="request"),
    path("<int:pk>/extend/", views.guest_extend, name="extend"),
    path("<int:pk>/revoke/", views.guest_revoke, name="revoke"),
    path("<int:pk>/new-key/", views.guest_new_key, name="new_key"),
]
