from django.urls import path

from . import views

app_name = "costs"

urlpatterns = [
    path("reconciliation/", views.month_reconciliation, name="reconciliation"),
    path(
        "chargeback/export.focus.csv",
        views.chargeback_focus,
        {"extension": "csv"},
        name="chargeback_focus_csv",
    ),
    path(
        "chargeback/export.focus.parquet",
        views.chargeback_focus,
        {"extension": "parquet"},
        name="chargeback_focus_parquet",
    ),
]
