from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from aoai_portal.months import month_floor, month_parse
from aoai_portal.roles import FINANCE, role_required

from .selectors.overview import quota_overview


@role_required(FINANCE)
def overview(request: HttpRequest) -> HttpResponse:
    """Each subscription's month against its tier, riskiest first, and the drift list (finance, admin)."""
    now = timezone.now()
    error = ""
    month = month_floor(now)
    if request.GET.get("month"):
        try:
            month = month_parse(request.GET["month"])
        except ValueError as exc:
            error = str(exc)
    data = quota_overview(month=month, now=now)
    context = {
        "overview": data,
        "month_value": f"{month:%Y-%m}",
        "error": error,
        "is_current": month == month_floor(now),
        "currency": settings.PORTAL_CURRENCY,
    }
    return render(request, "quotas/overview.html", context, status=400 if error else 200)
