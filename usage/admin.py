"""Admin of the usage app. Evidence (log rows, rejected rows, ingestion runs and watermarks, rows
waiting for their join partner) is view-only; prompt and raw text is shown only for a reason,
audited (``audit.admin_evidence``). Headers shown are the stored ones, credentials redacted."""

import json
import uuid

from django.contrib import admin

from audit.admin_evidence import AuditedTextAdmin, EvidenceAdmin

from .models import (
    BackendHostRegion,
    GatewayRequest,
    IngestionConflict,
    IngestionRun,
    IngestionWatermark,
    LlmLogChunk,
    NativeLog,
    RejectedRow,
    UnmatchedRow,
)
from .regions import region_normalize


@admin.register(GatewayRequest)
class GatewayRequestAdmin(AuditedTextAdmin):
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
    text_fields = ("request_body", "response_body")


@admin.register(NativeLog)
class NativeLogAdmin(EvidenceAdmin):
    """Native rows carry no prompt text (AzureDiagnostics logs none), only their properties."""

    list_display = ("correlation_id", "time", "model_deployment", "model_name", "duration_ms")
    search_fields = ("correlation_id",)


@admin.register(LlmLogChunk)
class LlmLogChunkAdmin(AuditedTextAdmin):
    list_display = (
        "correlation_id",
        "sequence_number",
        "time",
        "deployment_name",
        "model_name",
        "total_tokens",
    )
    search_fields = ("correlation_id",)
    text_fields = ("request_messages", "response_messages")


@admin.register(IngestionWatermark)
class IngestionWatermarkAdmin(EvidenceAdmin):
    list_display = ("table", "watermark", "updated_at")


@admin.register(IngestionRun)
class IngestionRunAdmin(EvidenceAdmin):
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
class RejectedRowAdmin(AuditedTextAdmin):
    list_display = ("source", "reason", "first_seen_at")
    list_filter = ("source",)
    text_fields = ("raw",)

    def text_correlation_id(self, obj: RejectedRow) -> str:
        try:
            row = json.loads(obj.raw)
        except ValueError:
            return ""
        if not isinstance(row, dict):
            return ""
        value = row.get("CorrelationId") or row.get("correlationId") or ""
        return str(value)[:64]


@admin.register(UnmatchedRow)
class UnmatchedRowAdmin(EvidenceAdmin):
    list_display = ("table", "row_key", "partner_key", "time")
    list_filter = ("table",)


@admin.register(IngestionConflict)
class IngestionConflictAdmin(EvidenceAdmin):
    """View only: evidence of rows read with one key and different content (docs/ingestion.md)."""

    list_display = ("table", "key", "differing_fields", "first_seen_at")
    list_filter = ("table",)
    search_fields = ("key",)
    ordering = ("table", "key", "first_seen_at")

    @admin.display(description="Fields that differ")
    def differing_fields(self, obj: IngestionConflict) -> str:
        return ", ".join(obj.fields)


# --- Chargeback: cost centers, assignments, named identities, month closes ------------------------
from datetime import UTC, datetime, timedelta  # noqa: E402

from django import forms  # noqa: E402
from django.shortcuts import render as _render  # noqa: E402
from django.urls import path as _path  # noqa: E402
from django.urls import reverse as _reverse  # noqa: E402
from django.utils.html import format_html, format_html_join  # noqa: E402

from .chargeback.selectors.cost_centers import unassigned_subscriptions  # noqa: E402
from .chargeback.selectors.groups import EMPTY_PARAM  # noqa: E402
from .models import CostCenter, CostCenterAssignment, CostCenterOwner, MonthClose  # noqa: E402

UNASSIGNED_LOOKBACK_DAYS = 90


class CostCenterForm(forms.ModelForm):
    class Meta:
        model = CostCenter
        fields = ("code", "name", "owner")

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if code == EMPTY_PARAM:
            raise forms.ValidationError(f"{EMPTY_PARAM} is reserved for unassigned usage.")
        return code


class CostCenterAssignmentInline(admin.TabularInline):
    model = CostCenterAssignment
    extra = 0


class CostCenterOwnerForm(forms.ModelForm):
    class Meta:
        model = CostCenterOwner
        fields = ("kind", "value")

    def clean(self) -> dict:
        data = super().clean() or {}
        value = (data.get("value") or "").strip().lower()
        if data.get("kind") == CostCenterOwner.Kind.GROUP:
            try:
                uuid.UUID(value)
            except ValueError:
                self.add_error("value", "An Entra group is named by its object id (a GUID), not its name.")
        data["value"] = value
        return data


class CostCenterOwnerInline(admin.TabularInline):
    """Budget owners: with the budget_owner role they see this cost center's chargeback and quotas."""

    model = CostCenterOwner
    form = CostCenterOwnerForm
    extra = 0
    verbose_name_plural = (
        "Budget owners (users by username, e-mail or Entra object id; Entra groups by object id)"
    )


@admin.register(CostCenter)
class CostCenterAdmin(admin.ModelAdmin):
    form = CostCenterForm
    list_display = ("code", "name", "owner", "assignment_count")
    search_fields = ("code", "name", "owner")
    inlines = [CostCenterOwnerInline, CostCenterAssignmentInline]

    @admin.display(description="Assignments")
    def assignment_count(self, obj: CostCenter) -> int:
        return obj.assignments.count()


@admin.register(CostCenterAssignment)
class CostCenterAssignmentAdmin(admin.ModelAdmin):
    list_display = ("kind", "key", "cost_center")
    list_filter = ("kind", "cost_center")
    search_fields = ("key", "cost_center__code", "cost_center__name")
    autocomplete_fields = ("cost_center",)
    change_list_template = "admin/usage/costcenterassignment/change_list.html"

    def get_urls(self):
        extra = [
            _path(
                "unassigned/",
                self.admin_site.admin_view(self.unassigned_view),
                name="usage_costcenterassignment_unassigned",
            )
        ]
        return extra + super().get_urls()

    def get_changeform_initial_data(self, request) -> dict:
        # Links from the unassigned list prefill ?kind=subscription&key=<id>.
        return {key: request.GET[key] for key in ("kind", "key") if key in request.GET}

    def unassigned_view(self, request):
        """Subscription ids whose usage resolves to no cost center, each with a link to assign it."""
        add_url = _reverse("admin:usage_costcenterassignment_add")
        rows = []
        since = datetime.now(UTC) - timedelta(days=UNASSIGNED_LOOKBACK_DAYS)
        for entry in unassigned_subscriptions(since=since):
            subscription = entry["subscription"]
            entry["assign_url"] = f"{add_url}?kind=subscription&key={subscription}" if subscription else ""
            entry["product_urls"] = [(p, f"{add_url}?kind=product&key={p}") for p in entry["products"]]
            rows.append(entry)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Unassigned APIM subscriptions",
            "days": UNASSIGNED_LOOKBACK_DAYS,
            "rows": rows,
        }
        return _render(request, "admin/usage/costcenterassignment/unassigned.html", context)


@admin.register(MonthClose)
class MonthCloseAdmin(admin.ModelAdmin):
    """Read-only: months are closed and reopened from the chargeback page, which records why."""

    list_display = ("month", "closed_by_name", "closed_at", "total_cost", "reopened_by_name", "reopened_at")
    list_filter = ("month",)
    readonly_fields = [f.name for f in MonthClose._meta.fields if f.name != "snapshot"] + ["totals"]
    exclude = ("snapshot",)

    @admin.display(description="Total cost")
    def total_cost(self, obj: MonthClose) -> str:
        return f"{obj.snapshot.get('totals', {}).get('cost', '0')} {obj.currency}"

    @admin.display(description="Frozen totals")
    def totals(self, obj: MonthClose) -> str:
        centers = obj.snapshot.get("cost_centers", {})
        items = format_html_join(
            "",
            "<li>{}: {} {}</li>",
            ((v.get("label") or k or "Unassigned", v.get("cost"), obj.currency) for k, v in centers.items()),
        )
        return format_html("<ul>{}</ul>", items)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Prices, deployment kinds and PTU commitments (usage accounting).
from .accounting import admin as _accounting_admin  # noqa: E402, F401

# The People table (object id -> name), with its CSV upload.
from .people import admin as _people_admin  # noqa: E402, F401


@admin.register(BackendHostRegion)
class BackendHostRegionAdmin(admin.ModelAdmin):
    """Backend host -> Azure region, for requests whose x-ms-region header was not logged.

    Saving here marks the entry edited (learning never overwrites it). Stored requests keep
    their region until ``manage.py regions_normalize`` re-derives them and their rollups.
    """

    list_display = ("host", "region", "source", "updated_at")
    list_filter = ("source",)
    search_fields = ("host", "region")
    readonly_fields = ("source", "updated_at")

    def save_model(self, request, obj, form, change) -> None:
        obj.host = obj.host.strip().lower()
        obj.region = region_normalize(obj.region) or obj.region.strip().lower()
        obj.source = BackendHostRegion.Source.EDITED
        super().save_model(request, obj, form, change)


# Gateway identities (usage.identity): APIM's managed identities, never the caller.
from .identity import admin as _identity_admin  # noqa: E402, F401
