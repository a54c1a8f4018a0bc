"""Evidence in the admin site: view-only, and its text shown only for a reason, audited.

Log rows, rejected rows, ingestion runs and watermarks, review items and events and the access
audit are what the portal's figures and reviews rest on: ``EvidenceAdmin`` makes a model admin
view-only for everyone, superusers included (no add, change or delete; named admin actions such
as releasing a review item stay, and record themselves).

``AuditedTextAdmin`` also keeps prompt or raw text (``text_fields``) off the change page: the
page links to ``<id>/text/``, which asks for a reason, writes the same access-audit entry as the
portal's request page (``view_prompt`` with the reason) and only then shows the text, secrets in
it masked as on every page.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.cache import never_cache

from aoai_portal.access_audit import access_audit_record

from .detail import text_segments
from .detectors import masked_spans_find
from .models import AccessAuditEntry
from .review_forms import RevealForm


class EvidenceAdmin(admin.ModelAdmin):
    """View-only: the admin site can read evidence, never add, edit or delete it."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AuditedTextAdmin(EvidenceAdmin):
    """View-only, and ``text_fields`` shown only on their own page, for a reason, audited."""

    text_fields: tuple[str, ...] = ()

    def get_exclude(self, request: HttpRequest, obj=None):
        return (*(super().get_exclude(request, obj) or ()), *self.text_fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return (*super().get_readonly_fields(request, obj), "text_access")

    @admin.display(description="Text")
    def text_access(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        meta = self.model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_text", args=[obj.pk])
        names = ", ".join(str(meta.get_field(name).verbose_name) for name in self.text_fields)
        return format_html(
            '<a href="{}">Show {}</a> (asks for a reason; the access is recorded in the access audit)',
            url,
            names,
        )

    def text_correlation_id(self, obj) -> str:
        """The request the text belongs to, for the audit entry ("" if unknown)."""
        return str(getattr(obj, "correlation_id", "") or "")[:64]

    def get_urls(self):
        meta = self.model._meta
        return [
            path(
                "<path:object_id>/text/",
                self.admin_site.admin_view(never_cache(self.text_view)),
                name=f"{meta.app_label}_{meta.model_name}_text",
            ),
            *super().get_urls(),
        ]

    def text_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such row.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        meta = self.model._meta
        form = RevealForm(request.POST if request.method == "POST" else None)
        shown = []
        if form.is_valid():
            access_audit_record(
                request=request,
                action=AccessAuditEntry.Action.VIEW_PROMPT,
                correlation_id=self.text_correlation_id(obj),
                reason=form.cleaned_data["reason"],
                detail={
                    "via": "admin",
                    "model": meta.label,
                    "object_id": str(obj.pk),
                    "fields": list(self.text_fields),
                },
            )
            for name in self.text_fields:
                text = getattr(obj, name) or ""
                segments = text_segments(text=text, marks=[], masks=masked_spans_find(text), reveal=False)
                shown.append((meta.get_field(name).verbose_name, segments))
        context = {
            **self.admin_site.each_context(request),
            "opts": meta,
            "original": obj,
            "title": f"Text of {meta.verbose_name} {obj}",
            "form": form,
            "shown": shown,
            "change_url": reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]),
        }
        status = 400 if form.is_bound and not form.is_valid() else 200
        return render(request, "admin/audited_text.html", context, status=status)
