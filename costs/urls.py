from django.urls import path

from . import views

app_name = "costs"

urlpatterns = [
    path("reconciliation/", views.month_reconciliation, name="reconciliation"),
]
