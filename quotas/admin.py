from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin_evidence import EvidenceAdmin

from .models import PolicyFlavor, QuotaAlert, QuotaTier, TierAssignment
from .policy import assignments_policy_render, tier_policy_download
from .services import tier_assign


class TierAssignmentInline(admin.TabularInline):
    model = TierAssignment
    extra = 0
    fields = ("kind", "key", "valid_from", "valid_to", "note")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QuotaTier)
class QuotaTierAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "tokens_per_minute",
        "monthly_token_quota",
        "monthly_cost_budget",
        "effective_from",
        "policy_links",
    )
    search_fields = ("name",)
    inlines = [TierAssignmentInline]
    readonly_fields = ("policy_links",)

    def get_urls(self):
        return [
            path(
                "<int:tier_id>/policy.xml",
                self.admin_site.admin_view(self.policy_download),
                name="quotas_quotatier_policy",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="APIM policy")
    def policy_links(self, obj: QuotaTier) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:quotas_quotatier_policy", args=[obj.pk])
        return format_html(
            '<a href="{}">llm-token-limit.xml</a> · <a href="{}?flavor={}">azure-openai-token-limit.xml</a>',
            f"{url}?flavor={PolicyFlavor.LLM}",
            url,
            PolicyFlavor.AZURE_OPENAI,
        )

    def policy_download(self, request: HttpRequest, tier_id: int) -> HttpResponse:
        tier = get_object_or_404(QuotaTier, pk=tier_id)
        if not self.has_view_permission(request, tier):
            return HttpResponse("You may not view quota tiers.", status=403, content_type="text/plain")
        return tier_policy_download(tier=tier, flavor=request.GET.get("flavor"))


@admin.register(TierAssignment)
class TierAssignmentAdmin(admin.ModelAdmin):
    list_display = ("kind", "key", "tier", "valid_from", "valid_to", "note")
    list_filter = ("kind", "tier")
    search_fields = ("key",)
    date_hierarchy = "valid_from"
    change_list_template = "admin/quotas/tierassignment/change_list.html"

    def get_urls(self):
        return [
            path(
                "policy.xml",
                self.admin_site.admin_view(self.policy_download),
                name="quotas_tierassignment_policy",
            ),
            *super().get_urls(),
        ]

    def policy_download(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse("You may not view tier assignments.", status=403, content_type="text/plain")
        response = HttpResponse(assignments_policy_render(at=timezone.now()), content_type="application/xml")
        response["Content-Disposition"] = 'attachment; filename="apim-policy-all-tier-assignments.xml"'
        return response

    def save_model(self, request, obj: TierAssignment, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new assignment closes the one in force (history is kept, never overwritten). The form
        # already ran TierAssignment.clean(), so overlaps were reported as form errors.
        saved = tier_assign(
            kind=obj.kind, key=obj.key, tier=obj.tier, valid_from=obj.valid_from, note=obj.note
        )
        obj.pk = saved.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Ending an assignment (valid_to) keeps the history; deleting would rewrite past months.
        return False


@admin.register(QuotaAlert)
class QuotaAlertAdmin(EvidenceAdmin):
    """The record of alerts sent (and their dedup key): view-only."""

    list_display = ("apim_subscription_id", "month", "kind", "threshold", "tier_name", "sent_at", "channel")
    list_filter = ("kind", "threshold", "channel", "month")
    search_fields = ("apim_subscription_id",)
