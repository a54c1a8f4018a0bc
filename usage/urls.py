from django.urls import path

from .views import chargeback, ingestion, latency, requests

app_name = "usage"

urlpatterns = [
    path("chargeback/", chargeback.month_overview, name="chargeback"),
    path("latency/", latency.region_overview, name="latency"),
    path("requests/<str:correlation_id>/", requests.request_detail, name="request_detail"),
    path("ingestion/", ingestion.ingestion_status, name="ingestion_status"),
]
