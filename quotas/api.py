"""``GET /api/v1/quotas?month=YYYY-MM``: each subscription against its tier, riskiest first."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from aoai_portal.api_access import require_role
from aoai_portal.months import month_floor, month_parse
from aoai_portal.roles import BUDGET_OWNER, FINANCE
from usage.chargeback.scope import cost_center_scope

from .selectors.drift import DriftItem
from .selectors.overview import QuotaRow, quota_overview

router = Router(tags=["quotas"])


class QuotaOverviewOut(Schema):
    month: str
    as_of: datetime
    projection_days: int
    # The selector's rows as they are (dataclasses; their properties are not part of the API).
    rows: list[QuotaRow]
    drift: list[DriftItem]


@router.get("/quotas", response=QuotaOverviewOut)
def quotas_list(request: HttpRequest, month: str | None = None) -> dict[str, Any]:
    """Month-to-date usage per subscription against its tier (finance, admin; a budget owner gets their cost centers' subscriptions). ``month`` defaults to now."""
    require_role(request, FINANCE, BUDGET_OWNER)
    now = timezone.now()
    try:
        chosen = month_parse(month) if month else month_floor(now)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    data = quota_overview(month=chosen, now=now, scope=cost_center_scope(user=request.user))
    return {
        "month": f"{chosen:%Y-%m}",
        "as_of": data.as_of,
        "projection_days": data.projection_days,
        "rows": data.rows,
        "drift": data.drift,
    }
