"""The roles of the portal and the checks every page and endpoint goes through.

Roles are Django groups named ``finance``, ``reviewer``, ``admin`` and ``budget_owner`` (synced
from Entra at sign-in). A superuser counts as admin (break-glass account). A budget owner opens
the chargeback and quota pages and endpoints, which then show only the cost centers they own
(``usage.chargeback.scope``).
"""

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

FINANCE = "finance"
REVIEWER = "reviewer"
ADMIN = "admin"
BUDGET_OWNER = "budget_owner"
ALL_ROLES = (FINANCE, REVIEWER, ADMIN, BUDGET_OWNER)


def user_roles(user) -> frozenset[str]:
    """The portal roles the user holds (cached on the user object for the request)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is not None:
        return cached
    names = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    if user.is_superuser:
        names.add(ADMIN)
    roles = frozenset(names)
    user._portal_roles = roles
    return roles


def user_has_role(user, roles: Iterable[str]) -> bool:
    """True if the user holds one of ``roles``; admin holds every role."""
    held = user_roles(user)
    return ADMIN in held or bool(held.intersection(roles))


def role_required(*roles: str) -> Callable:
    """View decorator: anonymous -> sign-in, no portal role -> "no access" page, wrong role -> 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_roles(request.user):
                return render(request, "no_access.html", status=403)
            if not user_has_role(request.user, roles):
                return render(request, "forbidden.html", status=403)
            return view(request, *args, **kwargs)

        wrapped.portal_roles = tuple(roles)
        return wrapped

    return decorator
