"""Admin for gateway identities: the configured ones, and the proposals to confirm.

The change list shows the object ids that look like an APIM managed identity
(``gateway_identity_proposals``); "Confirm" opens the add form with the id filled in. Stored
requests keep their caller until ``manage.py callers_reevaluate`` re-reads them.
"""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from usage.models import GatewayIdentity

from .gateway import gateway_identity_proposals


@admin.register(GatewayIdentity)
class GatewayIdentityAdmin(admin.ModelAdmin):
    list_display = ("object_id", "note", "created_by", "created_at")
    search_fields = ("object_id", "note")
    readonly_fields = ("created_by", "created_at")
    change_list_template = "admin/usage/gatewayidentity/change_list.html"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "proposals": gateway_identity_proposals(),
            "configured": settings.PORTAL_GATEWAY_IDENTITIES,
        }
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: GatewayIdentity, form: Any, change: bool) -> None:
        obj.object_id = obj.object_id.strip().lower()
        if not change and request.user.is_authenticated:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        messages.info(
            request,
            "Requests already stored keep their caller until `manage.py callers_reevaluate` runs.",
        )
