from django.contrib import admin
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render

from aoai_portal.params import YEAR_MAX, YEAR_MIN
from aoai_portal.roles import ADMIN, user_has_role, user_roles


class PortalAdminSite(admin.AdminSite):
    """Django's admin site, open to the portal's admin role (synced from Entra), not to is_staff.

    Signing in happens on the portal's own sign-in page; a signed-in user without the admin role
    gets the same "no access" / "not allowed" pages as everywhere else.
    """

    site_header = "AOAI Portal administration"
    site_title = "AOAI Portal admin"
    index_title = "Administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and user_has_role(request.user, [ADMIN])

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not self.has_permission(request):
                return _refused(request)
            problem = _query_problem(request)
            if problem:
                return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
            return inner(request, *args, **kwargs)

        guarded.__wrapped__ = inner
        for attr in ("csrf_exempt", "admin_site"):
            if hasattr(inner, attr):
                setattr(guarded, attr, getattr(inner, attr))
        return guarded

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.GET.get("next") or request.get_full_path())
        if self.has_permission(request):
            return redirect("admin:index")
        return _refused(request)


def _query_problem(request: HttpRequest) -> str:
    """Query values Django's admin fails on with a 500 instead of refusing them: an empty
    ``_to_field`` (looked up as a field named ""), and a date-hierarchy year whose next year or
    day is past year 9999."""
    if request.GET.get(TO_FIELD_VAR) == "" or request.POST.get(TO_FIELD_VAR) == "":
        return f"{TO_FIELD_VAR} must name a field."
    for key, value in request.GET.items():
        if key.endswith("__year") and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            if not YEAR_MIN <= int(value) <= YEAR_MAX:
                return f"{key} must be a year from {YEAR_MIN} to {YEAR_MAX}."
    return ""


def _refused(request: HttpRequest) -> HttpResponse:
    template = "forbidden.html" if user_roles(request.user) else "no_access.html"
    return render(request, template, status=403)
