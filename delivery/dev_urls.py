from django.urls import path

from delivery import dev_views

urlpatterns = [
    path("outbox/", dev_views.outbox, name="dev_outbox"),
]
