from django.urls import path

from safecode import views

app_name = "safecode"

urlpatterns = [
    path("", views.manage, name="manage"),
    path("prompt/", views.prompt, name="prompt"),
    path("channels/<int:pk>/verify/", views.verify, name="verify"),
    path("channels/<int:pk>/send/", views.send, name="send"),
    path("channels/<int:pk>/remove/", views.remove, name="remove"),
]
