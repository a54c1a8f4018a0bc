"""Reads for the quota page, the API and the alerts: usage of each subscription against its tier.

Month-to-date tokens, cost and 429s come from the daily rollup (``UsageDaily``) for whole days and
the hourly rollup (``UsageHourly``) for the partial day(s). Tokens per minute (the peak and the
drift minutes) come from ``TokensPerMinuteHourly`` (per hour and subscription: the peak minute and
every minute's tokens) for whole hours and from the request table bucketed per minute for the
partial hours at either end, because an hourly sum cannot show a one-minute burst. The 2xx calls
per deployment/model come from ``UsageDaily.succeeded`` for whole days. Every window is half-open
``[start, end)`` in UTC; minutes are UTC clock minutes.

Which tier applies at a moment: the subscription's own assignment in force then, else its product's
(``tier_at``). The month's row compares against the tier in force at the end of the window
(APIM keeps one counter per subscription, so the newest quota is what it enforces); the drift check
compares each minute against the tier in force in that minute (``drift``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from usage.chargeback.scope import CostCenterScope
from usage.chargeback.selectors.cost_centers import cost_center_resolver
from usage.projection import projection_window

from ..models import TierAssignment
from .consumption import PartialDays, products_and_peaks, usage_by_subscription
from .drift import DriftItem, drift_items
from .tiers import assignment_in_force, assignments_overlapping, tier_at

OK = "ok"
WARNING = "warning"
OVER = "over"
NO_TIER = "no_tier"
STATUS_LABELS = {OK: "OK", WARNING: "Warning (80%+)", OVER: "Over (100%+)", NO_TIER: "No tier"}
_STATUS_RANK = {OVER: 3, WARNING: 2, OK: 1, NO_TIER: 0}
WARNING_PERCENT = 80
OVER_PERCENT = 100
_TICK = timedelta(microseconds=1)  # "the last moment of a window" = end - _TICK


@dataclass
class QuotaRow:
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
    drift: list[DriftItem] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def risk(self) -> tuple:
        used = max(self.quota_percent or 0, self.budget_percent or 0)
        projected = max(self.projected_quota_percent or 0, self.projected_budget_percent or 0)
        return (_STATUS_RANK[self.status], bool(self.drift), projected, used, self.tokens)


@dataclass
class QuotaOverview:
    month: date
    start: datetime
    end: datetime
    as_of: datetime
    projection_days: int
    rows: list[QuotaRow]
    drift: list[DriftItem]


def threshold_status(*, used: Decimal | int, limit: Decimal | int | None) -> str:
    """ok / warning (>= 80%) / over (>= 100%), in exact arithmetic (no 79.9999% surprises)."""
    if limit is None or limit <= 0:
        return OK
    used, limit = Decimal(used), Decimal(limit)
    if used * 100 >= limit * OVER_PERCENT:
        return OVER
    if used * 100 >= limit * WARNING_PERCENT:
        return WARNING
    return OK


def _percent(used: Decimal | int, limit: Decimal | int | None) -> float | None:
    if limit is None or limit <= 0:
        return None
    return round(float(Decimal(used) * 100 / Decimal(limit)), 1)


def _worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: _STATUS_RANK[s])


def quota_overview(
    *, month: date, now: datetime, scope: CostCenterScope, per_minute: bool = True
) -> QuotaOverview:
    """Every subscription seen (or assigned a tier) in ``month``, against its tier, riskiest first.

    Only subscriptions charged to a cost center in ``scope`` (``usage.chargeback.scope``).

    ``per_minute=False`` skips the per-minute reads (peak tokens per minute and drift, which also
    bucket the partial hours from the request table): the alerts, which run after every
    ingestion, only need the usage sums.
    """
    window = projection_window(month=month, now=now)
    start, end, as_of, days = window.start, window.end, window.as_of, window.days
    if as_of <= start:
        return QuotaOverview(month, start, end, as_of, days, [], [])

    assignments = assignments_overlapping(start=start, end=as_of)
    partial_days = PartialDays()  # today's hourly rollup rows, read once for all three uses
    usage = usage_by_subscription(start=start, end=as_of, partial_days=partial_days)
    recent = usage_by_subscription(start=window.recent_start, end=as_of, partial_days=partial_days)
    products, peaks = products_and_peaks(start=start, end=as_of, peaks=per_minute)

    subscriptions = set(usage)
    subscriptions.update(
        a.key
        for a in assignments
        if a.kind == TierAssignment.Kind.SUBSCRIPTION and assignment_in_force(a, as_of - _TICK)
    )
    if not scope.is_everything:
        resolve = cost_center_resolver()
        subscriptions = {s for s in subscriptions if scope.allows(resolve(s, products.get(s, "")).code)}

    rows: dict[str, QuotaRow] = {}
    for sub in subscriptions:
        used = usage.get(sub, {})
        tokens = int(used.get("tokens") or 0)
        cost = Decimal(used.get("cost") or 0)
        lately = recent.get(sub, {})
        projected_tokens = window.tokens(to_date=tokens, recent=int(lately.get("tokens") or 0))
        projected_cost = window.cost(to_date=cost, recent=Decimal(lately.get("cost") or 0))
        product = products.get(sub, "")
        tier, source = tier_at(
            assignments=assignments, subscription_id=sub, product_id=product, at=as_of - _TICK
        )
        quota = tier.monthly_token_quota if tier else None
        budget = tier.monthly_cost_budget if tier else None
        status = (
            _worst(threshold_status(used=tokens, limit=quota), threshold_status(used=cost, limit=budget))
            if tier
            else NO_TIER
        )
        rows[sub] = QuotaRow(
            apim_subscription_id=sub,
            product_id=product,
            tier=tier.name if tier else None,
            tier_source=source,
            tokens=tokens,
            cost=cost,
            requests=int(used.get("n_requests") or 0),
            throttled_429=int(used.get("throttled") or 0),
            token_quota=quota,
            cost_budget=budget,
            quota_percent=_percent(tokens, quota),
            budget_percent=_percent(cost, budget),
            projected_tokens=projected_tokens,
            projected_cost=projected_cost,
            projected_quota_percent=_percent(projected_tokens, quota),
            projected_budget_percent=_percent(projected_cost, budget),
            peak_tpm=peaks.get(sub, 0),
            tier_tpm=tier.tokens_per_minute if tier else None,
            tpm_percent=_percent(peaks.get(sub, 0), tier.tokens_per_minute if tier else None),
            status=status,
        )

    drift = (
        drift_items(
            start=start,
            end=as_of,
            assignments=assignments,
            products=products,
            current=rows,
            partial_days=partial_days,
        )
        if per_minute
        else []
    )
    if not scope.is_everything:
        drift = [item for item in drift if item.apim_subscription_id in rows]
    for item in drift:
        if item.apim_subscription_id in rows:
            rows[item.apim_subscription_id].drift.append(item)
    ordered = sorted(rows.values(), key=lambda r: r.apim_subscription_id)
    ordered.sort(key=lambda r: r.risk, reverse=True)
    return QuotaOverview(month, start, end, as_of, days, ordered, drift)
