"""``GET /api/v1/quotas?month=YYYY-MM``: each subscription against its tier, riskiest first."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import HttpError

from aoai_portal.api_access import require_role
from aoai_portal.months import month_floor, month_parse
from aoai_portal.roles import FINANCE

from .selectors import quota_overview

router = Router(tags=["quotas"])


class DriftOut(Schema):
    apim_subscription_id: str
    tier: str
    kind: str
    observed: int
    limit: int | None
    at: datetime | None
    detail: str


class QuotaRowOut(Schema):
    apim_subscription_id: str
    product_id: str
    tier: str | None
    tier_source: str
    status: str
    tokens: int
    cost: Decimal
    requests: int
    throttled_429: int
    token_quota: int | None
    cost_budget: Decimal | None
    quota_percent: float | None
    budget_percent: float | None
    projected_tokens: int
    projected_cost: Decimal
    projected_quota_percent: float | None
    projected_budget_percent: float | None
    peak_tpm: int
    tier_tpm: int | None
    tpm_percent: float | None
    drift: list[DriftOut]


class QuotaOverviewOut(Schema):
    month: str
    as_of: datetime
    projection_days: int
    rows: list[QuotaRowOut]
    drift: list[DriftOut]


@router.get("/quotas", response=QuotaOverviewOut)
def quotas_list(request: HttpRequest, month: str | None = None) -> dict[str, Any]:
    """Month-to-date usage per subscription against its tier (finance, admin). ``month`` defaults to now."""
    require_role(request, FINANCE)
    now = timezone.now()
    try:
        chosen = month_parse(month) if month else month_floor(now)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    data = quota_overview(month=chosen, now=now)
    return {
        "month": f"{chosen:%Y-%m}",
        "as_of": data.as_of,
        "projection_days": data.projection_days,
        "rows": data.rows,
        "drift": data.drift,
    }
