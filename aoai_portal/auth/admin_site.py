from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

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


def _refused(request: HttpRequest) -> HttpResponse:
    template = "forbidden.html" if user_roles(request.user) else "no_access.html"
    return render(request, template, status=403)
