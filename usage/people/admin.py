"""Admin for the People table: searchable and editable, with a CSV upload (usage.people.csv_import).

An admin's edit marks the row ``source="admin"``: sign-ins and Graph then only fill its empty fields.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from usage.models import NamedIdentity

from .csv_import import COLUMNS, people_csv_import


class PeopleUploadForm(forms.Form):
    file = forms.FileField(help_text=f"UTF-8 CSV; columns {', '.join(COLUMNS)} (a header line is optional).")


@admin.register(NamedIdentity)
class NamedIdentityAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "object_id",
        "kind",
        "email",
        "department",
        "cost_center",
        "source",
        "updated_at",
    )
    list_filter = ("kind", "source", "cost_center")
    search_fields = ("display_name", "object_id", "email", "department", "cost_center__code")
    autocomplete_fields = ("cost_center",)
    fields = (
        "object_id",
        "display_name",
        "email",
        "department",
        "kind",
        "cost_center",
        "source",
        "graph_checked_at",
    )
    readonly_fields = ("source", "graph_checked_at")
    change_list_template = "admin/usage/namedidentity/change_list.html"

    def save_model(self, request, obj, form, change) -> None:
        obj.source = "admin"
        super().save_model(request, obj, form, change)

    def get_urls(self):
        upload = path(
            "import/",
            self.admin_site.admin_view(self.import_view),
            name="usage_namedidentity_import",
        )
        return [upload, *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        result = None
        form = PeopleUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = people_csv_import(stream=form.cleaned_data["file"].file)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import people from a CSV file",
            "form": form,
            "result": result,
            "columns": COLUMNS,
        }
        return render(request, "admin/usage/namedidentity/import.html", context)
