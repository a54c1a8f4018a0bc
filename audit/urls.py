from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("review/", views.queue, name="queue"),
    path("access-audit/", views.access_log, name="access_log"),
]
