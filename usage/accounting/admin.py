"""Admin for prices, deployment kinds and PTU commitments.

Price rows are effective-dated and never edited: adding one goes through a preview page that
shows old vs new totals per cost center of the open months it would reprice, then applies it.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from usage.models import Deployment, ModelPrice, ProvisionedCommitment

from .parse.readers import model_split
from .price_changes import price_apply, price_change_preview
from .ptu import ptu_allocate
from .services import deployment_requests_refresh


class PriceProposalForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = [
            "model",
            "deployment",
            "deployment_type",
            "currency",
            "effective_from",
            "input_per_1m",
            "cached_input_per_1m",
            "output_per_1m",
            "per_image",
            "per_audio_minute",
            "note",
        ]

    def clean_model(self) -> str:
        return self.cleaned_data["model"].strip().lower()

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "model_version",
        "deployment",
        "deployment_type",
        "region",
        "effective_from",
        "input_per_1m",
        "cached_input_per_1m",
        "output_per_1m",
        "per_image",
        "per_audio_minute",
        "currency",
        "source",
    )
    list_filter = ("source", "deployment_type", "currency")
    search_fields = ("model", "deployment", "region")
    date_hierarchy = "effective_from"

    def has_change_permission(self, request, obj=None) -> bool:
        # Viewable, never edited: a new price is a new row (requests name the row they used).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        preview = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name="usage_modelprice_preview",
        )
        return [preview, *super().get_urls()]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:usage_modelprice_preview"))

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        preview = None
        form = PriceProposalForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            proposal = form.save(commit=False)
            proposal.source = ModelPrice.Source.ADMIN
            if "apply" in request.POST:
                count = price_apply(proposal=proposal, set_by=request.user.get_username())
                self.message_user(
                    request,
                    f"Price {proposal} saved; {count} requests of open months repriced.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:usage_modelprice_changelist"))
            preview = price_change_preview(proposal=proposal)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New price: preview before applying",
            "form": form,
            "preview": preview,
        }
        return render(request, "admin/usage/modelprice/preview.html", context)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "deployment_type", "model", "region", "note")
    list_filter = ("deployment_type",)
    search_fields = ("name", "model")
    actions = ["recompute"]

    def save_model(self, request, obj, form, change) -> None:
        before = form.initial.get("model", "") if change else ""
        super().save_model(request, obj, form, change)
        if not change or "model" in form.changed_data:
            # Requests shown as the old model because of this row, or without one, take the new one.
            count = deployment_requests_refresh(deployment=obj.name, models=[model_split(before)[0]])
            self.message_user(request, f"{count} requests of {obj.name} recomputed with its model.")

    @admin.action(description="Recompute the selected deployments' requests that name no model")
    def recompute(self, request, queryset) -> None:
        for deployment in queryset:
            count = deployment_requests_refresh(deployment=deployment.name)
            self.message_user(request, f"{count} requests of {deployment.name} recomputed.")


@admin.register(ProvisionedCommitment)
class ProvisionedCommitmentAdmin(admin.ModelAdmin):
    list_display = ("deployment", "month", "amount", "currency")
    list_filter = ("month",)
    actions = ["allocate"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        count = ptu_allocate(month=obj.month)
        self.message_user(request, f"{count} requests of {obj.month:%Y-%m} allocated.")

    @admin.action(description="Share the selected months' PTU cost out by tokens")
    def allocate(self, request, queryset) -> None:
        for month in sorted(set(queryset.values_list("month", flat=True))):
            count = ptu_allocate(month=month)
            self.message_user(request, f"{count} requests of {month:%Y-%m} allocated.")
