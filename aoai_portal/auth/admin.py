from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils import timezone

from .models import ApiToken, EntraIdentity, RoleMapping
from .services import api_token_create, api_token_revoke


@admin.register(RoleMapping)
class RoleMappingAdmin(admin.ModelAdmin):
    list_display = ["claim_type", "value", "portal_role", "note"]
    list_filter = ["claim_type", "portal_role"]
    search_fields = ["value", "note"]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        defaults = [("role", v, r) for v, r in settings.ENTRA_ROLE_MAP] + [
            ("group", v, r) for v, r in settings.ENTRA_GROUP_MAP
        ]
        if defaults:
            text = "; ".join(f"{kind} {value} -> {role}" for kind, value, role in defaults)
            messages.info(request, f"Also in force from settings (ENTRA_ROLE_MAP / ENTRA_GROUP_MAP): {text}")
        return super().changelist_view(request, extra_context)


@admin.register(EntraIdentity)
class EntraIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "preferred_username", "object_id", "tenant_id", "last_sign_in"]
    search_fields = ["preferred_username", "object_id", "user__username"]
    readonly_fields = [f.name for f in EntraIdentity._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ApiTokenAddForm(forms.ModelForm):
    days = forms.IntegerField(min_value=1, max_value=3650, initial=90, help_text="Days until it expires.")

    class Meta:
        model = ApiToken
        fields = ["user", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "expires", "revoked", "last_used"]
    list_filter = ["revoked"]
    search_fields = ["name", "user__username", "prefix"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
            kwargs["fields"] = ["user", "name", "days"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "days"]
        return ["user", "name", "prefix", "created", "expires", "revoked", "last_used"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "prefix", "created", "last_used"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = api_token_create(
            user=form.cleaned_data["user"], name=form.cleaned_data["name"], days=form.cleaned_data["days"]
        )
        for field in ApiToken._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        request._api_token_raw = raw

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_api_token_raw", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        token = ApiToken.objects.get(pk=obj.pk)
        context = {**self.admin_site.each_context(request), "token": token, "raw": raw, "opts": self.opts}
        response = render(request, "admin/portal_auth/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked=False):
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked at {timezone.now():%Y-%m-%d %H:%M} UTC.")
