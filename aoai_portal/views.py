from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .roles import ADMIN, BUDGET_OWNER, FINANCE, REVIEWER, user_roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it works in."""
    roles = user_roles(request.user)
    if FINANCE in roles or ADMIN in roles:
        return redirect("usage:chargeback")
    if REVIEWER in roles:
        return redirect("audit:queue")
    if BUDGET_OWNER in roles:
        return redirect("usage:chargeback")
    return render(request, "no_access.html", status=403)
