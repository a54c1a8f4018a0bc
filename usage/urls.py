from django.urls import path

from audit.views.requests import request_detail

from .views import chargeback, ingestion, latency

app_name = "usage"

urlpatterns = [
    path("chargeback/", chargeback.month_overview, name="chargeback"),
    path("chargeback/export.csv", chargeback.export_csv, name="chargeback_export_csv"),
    path("chargeback/export.xlsx", chargeback.export_xlsx, name="chargeback_export_xlsx"),
    path("chargeback/close/", chargeback.month_close, name="chargeback_close"),
    path("chargeback/reopen/", chargeback.month_reopen, name="chargeback_reopen"),
    path("latency/", latency.region_overview, name="latency"),
    path("requests/<str:correlation_id>/", request_detail, name="request_detail"),  # a review page (audit)
    path("ingestion/", ingestion.ingestion_status, name="ingestion_status"),
]
