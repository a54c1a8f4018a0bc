from django.urls import path

from .views import explorer, review

app_name = "audit"

urlpatterns = [
    path("review/", review.queue, name="queue"),
    path("requests/", explorer.explorer, name="explorer"),
    path("review/bulk/", review.bulk_action, name="bulk_action"),
    path("review/items/<int:item_id>/", review.item_action, name="item_action"),
    path("access-audit/", review.access_log, name="access_log"),
]
