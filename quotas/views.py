from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from aoai_portal.months import month_floor, month_parse
from aoai_portal.roles import BUDGET_OWNER, FINANCE, role_required
from usage.chargeback.scope import cost_center_scope

from .selectors.overview import quota_overview


@role_required(FINANCE, BUDGET_OWNER)
def overview(request: HttpRequest) -> HttpResponse:
    """Each subscription's month against its tier, riskiest first, and the drift list (finance, admin; a budget owner sees their cost centers' subscriptions)."""
    now = timezone.now()
    error = ""
    month = month_floor(now)
    if request.GET.get("month"):
        try:
            month = month_parse(request.GET["month"])
        except ValueError as exc:
            error = str(exc)
    data = quota_overview(month=month, now=now, scope=cost_center_scope(user=request.user))
    context = {
        "overview": data,
        "month_value": f"{month:%Y-%m}",
        "error": error,
        "is_current": month == month_floor(now),
        "currency": settings.PORTAL_CURRENCY,
    }
    return render(request, "quotas/overview.html", context, status=400 if error else 200)
