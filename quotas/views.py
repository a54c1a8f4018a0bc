from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from aoai_portal.months import month_floor, month_parse
from aoai_portal.roles import BUDGET_OWNER, FINANCE, role_required, user_has_role
from usage.chargeback.scope import cost_center_scope

from .models import QuotaTier
from .policy import tier_policy_download
from .selectors.alerts import quota_alerts_of
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
    scope = cost_center_scope(user=request.user)
    data = quota_overview(month=month, now=now, scope=scope)
    shown = None if scope.is_everything else {row.apim_subscription_id for row in data.rows}
    context = {
        "overview": data,
        "alerts": quota_alerts_of(month=month, subscriptions=shown),
        "month_value": f"{month:%Y-%m}",
        "error": error,
        "is_current": month == month_floor(now),
        "currency": settings.PORTAL_CURRENCY,
        # Budget owners see the drift of their own cost centers, not the policy download (finance's).
        "can_download_policy": user_has_role(request.user, (FINANCE,)),
    }
    return render(request, "quotas/overview.html", context, status=400 if error else 200)


@role_required(FINANCE)
def tier_policy(request: HttpRequest, tier_id: int) -> HttpResponse:
    """One tier's APIM policy as a download, for whoever reads the drift list (finance, admin):
    the admin site's download is the admin role's only."""
    tier = get_object_or_404(QuotaTier, pk=tier_id)
    return tier_policy_download(tier=tier, flavor=request.GET.get("flavor"))
