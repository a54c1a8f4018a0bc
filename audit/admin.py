from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from . import admin_access  # noqa: F401  (read-only access audit)
from .admin_evidence import EvidenceAdmin
from .models import Flag, FlagRule, ReviewEvent, ReviewItem
from .review_forms import DateRangeForm
from .services.flags import flags_reevaluate_range
from .services.review import ReviewError, review_release


class FlagRuleForm(forms.ModelForm):
    class Meta:
        model = FlagRule
        fields = [
            "name",
            "kind",
            "pattern",
            "case_sensitive",
            "scope",
            "severity",
            "enabled",
            "subscriptions",
            "cost_centers",
        ]
        widgets = {"pattern": forms.Textarea(attrs={"rows": 6, "cols": 80})}


@admin.register(FlagRule)
class FlagRuleAdmin(admin.ModelAdmin):
    """Admin-defined rules (the admin site is for the admin role only, so reviewers cannot edit them)."""

    form = FlagRuleForm
    list_display = ["name", "kind", "scope", "severity", "enabled", "updated_at"]
    list_filter = ["enabled", "kind", "scope", "severity"]
    search_fields = ["name", "pattern"]
    filter_horizontal = ["cost_centers"]
    actions = ["reevaluate_range"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            "New requests are checked with this rule from now on; to apply it to past requests, "
            "select it and run “Re-evaluate all rules over a date range”.",
            messages.INFO,
        )

    @admin.action(description="Re-evaluate all rules over a date range")
    def reevaluate_range(self, request, queryset):
        form = DateRangeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            stats = flags_reevaluate_range(since=form.cleaned_data["since"], until=form.cleaned_data["until"])
            self.message_user(
                request,
                f"Re-evaluated {stats.requests} requests: {stats.flags_created} flags added, "
                f"{stats.flags_updated} changed, {stats.flags_deleted} removed"
                + (f", {len(stats.rule_timeouts)} rule timeouts" if stats.rule_timeouts else "")
                + ".",
                messages.SUCCESS,
            )
            for note in stats.notes:
                self.message_user(request, note, messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "queryset": queryset,
            "action": "reevaluate_range",
            "title": "Re-evaluate flag rules over a date range",
        }
        return render(request, "admin/audit/flagrule/reevaluate.html", context)


class FlagInline(admin.TabularInline):
    model = Flag
    fk_name = "request"
    extra = 0
    can_delete = False
    fields = ["name", "severity", "source", "spans"]
    readonly_fields = fields


class ReviewEventInline(admin.TabularInline):
    model = ReviewEvent
    extra = 0
    can_delete = False
    fields = ["time", "username", "action", "from_status", "to_status", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(EvidenceAdmin):
    """View-only (reviewers work in the queue; deleting an item would erase its history). The one
    operation is the documented one: admins release held items for retention, which records a
    ``release`` review event."""

    list_display = ["request", "status", "severity", "assignee", "released_at", "created_at"]
    list_filter = ["status", "severity"]
    search_fields = ["request__correlation_id"]
    inlines = [ReviewEventInline]
    actions = ["release"]
    readonly_fields = ["request", "status", "severity", "assignee", "note", "released_at", "released_by"]

    @admin.action(description="Release for retention (confirmed / escalated items)")
    def release(self, request, queryset):
        released = 0
        for item in queryset:
            try:
                review_release(item_id=item.pk, user=request.user, note="released in admin")
                released += 1
            except ReviewError as exc:
                self.message_user(request, f"{item.request_id}: {exc}", messages.WARNING)
        self.message_user(request, f"Released {released} items; retention may now purge their text.")
