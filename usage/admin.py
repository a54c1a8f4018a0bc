from django.contrib import admin

from .models import GatewayRequest, IngestionRun, IngestionWatermark, NativeLog, RejectedRow


@admin.register(GatewayRequest)
class GatewayRequestAdmin(admin.ModelAdmin):
    list_display = (
        "correlation_id",
        "time",
        "apim_subscription_id",
        "deployment",
        "model",
        "total_tokens",
        "cost",
    )
    list_filter = ("operation", "token_source", "is_streaming")
    search_fields = ("correlation_id", "apim_request_id", "apim_subscription_id")
    # Prompt text is only shown through the audited request page, never in the admin.
    exclude = ("request_body", "response_body")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NativeLog)
class NativeLogAdmin(admin.ModelAdmin):
    list_display = ("correlation_id", "time", "model_deployment", "model_name", "duration_ms")
    search_fields = ("correlation_id",)


@admin.register(IngestionWatermark)
class IngestionWatermarkAdmin(admin.ModelAdmin):
    list_display = ("table", "watermark", "updated_at")


@admin.register(IngestionRun)
class IngestionRunAdmin(admin.ModelAdmin):
    list_display = (
        "source",
        "table",
        "window_start",
        "window_end",
        "status",
        "rows_read",
        "rows_stored",
        "rejected",
    )
    list_filter = ("source", "table", "status")


@admin.register(RejectedRow)
class RejectedRowAdmin(admin.ModelAdmin):
    list_display = ("source", "reason", "first_seen_at")
    list_filter = ("source",)


# Prices, deployment kinds and PTU commitments (usage accounting).
from .accounting import admin as _accounting_admin  # noqa: E402, F401
