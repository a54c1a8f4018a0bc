from django.contrib import admin

from .admin_evidence import EvidenceAdmin
from .models import AccessAuditEntry


@admin.register(AccessAuditEntry)
class AccessAuditEntryAdmin(EvidenceAdmin):
    """Read-only for everyone, superusers included: the audit trail is append-only."""

    list_display = ["time", "username", "action", "correlation_id", "ip_address"]
    list_filter = ["action", "time"]
    search_fields = ["username", "correlation_id", "ip_address"]
    date_hierarchy = "time"
