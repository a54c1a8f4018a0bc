"""Admin of the invoice true-up: the mappings admins edit (meters, accounts) and, view-only, the
imported lines, rejected lines and imports. Meters no reading knows are listed above the meter
mappings, each with a link that opens a mapping for it."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from .meters import TokenKind
from .models import AccountMapping, CostImport, CostLine, CostRejectedLine, MeterMapping
from .selectors import meter_mappings, meter_read, meters_unknown


class ViewOnlyAdmin(admin.ModelAdmin):
    """Imported data: corrected by importing a later export, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MeterMapping)
class MeterMappingAdmin(admin.ModelAdmin):
    list_display = ("meter_name", "model", "version", "kind", "deployment_type", "updated_at")
    list_filter = ("kind", "deployment_type")
    search_fields = ("meter_name", "model")
    change_list_template = "admin/costs/metermapping/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "unknown_meters": meters_unknown()}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(AccountMapping)
class AccountMappingAdmin(admin.ModelAdmin):
    list_display = ("resource_id", "backend_host", "note")
    search_fields = ("resource_id", "backend_host")


@admin.register(CostLine)
class CostLineAdmin(ViewOnlyAdmin):
    list_display = (
        "date",
        "resource_id",
        "meter_name",
        "reading",
        "charge_type",
        "pricing_model",
        "quantity",
        "billed_cost",
        "effective_cost",
        "currency",
    )
    list_filter = ("charge_type", "pricing_model", "source_format", "billing_period")
    search_fields = ("meter_name", "resource_id")
    date_hierarchy = "date"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CostLine]:
        self._mappings = meter_mappings()
        return super().get_queryset(request)

    @admin.display(description="Meter read as")
    def reading(self, obj: CostLine) -> str:
        found = meter_read(
            meter_name=obj.meter_name, unit=obj.unit_of_measure, mappings=getattr(self, "_mappings", None)
        )
        if not found.known:
            return f"unknown: {found.reason}"
        parts = [found.model, found.version, TokenKind(found.kind).label, found.deployment_type]
        return " · ".join(p for p in parts if p)


@admin.register(CostRejectedLine)
class CostRejectedLineAdmin(ViewOnlyAdmin):
    list_display = ("first_seen_at", "file_name", "line_number", "reason")
    search_fields = ("reason", "file_name")


@admin.register(CostImport)
class CostImportAdmin(ViewOnlyAdmin):
    list_display = (
        "started_at",
        "file_name",
        "file_format",
        "dataset",
        "read",
        "stored",
        "updated",
        "unchanged",
        "ignored",
        "rejected",
        "error",
    )
