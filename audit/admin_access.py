from django.contrib import admin

from .models import AccessAuditEntry


@admin.register(AccessAuditEntry)
class AccessAuditEntryAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: the audit trail is append-only."""

    list_display = ["time", "username", "action", "correlation_id", "ip_address"]
    list_filter = ["action", "time"]
    search_fields = ["username", "correlation_id", "ip_address"]
    date_hierarchy = "time"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
