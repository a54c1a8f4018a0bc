from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("review/", views.queue, name="queue"),
    path("review/bulk-dismiss/", views.bulk_dismiss, name="bulk_dismiss"),
    path("review/items/<int:item_id>/", views.item_action, name="item_action"),
    path("access-audit/", views.access_log, name="access_log"),
]
