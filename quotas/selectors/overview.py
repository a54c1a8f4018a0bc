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
compares each minute against the tier in force in that minute.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from usage.chargeback.scope import CostCenterScope
from usage.chargeback.selectors.cost_centers import cost_center_resolver
from usage.projection import projection_window

from ..models import QuotaTier, TierAssignment
from .consumption import (
    PartialDays,
    busy_minutes,
    deployments_used,
    last_hours,
    products_and_peaks,
    usage_by_subscription,
)
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
class DriftItem:
    apim_subscription_id: str
    tier: str
    kind: str  # "tpm", "quota", "deployment", "model"
    observed: int
    limit: int | None
    at: datetime | None
    detail: str
    # The tier's id, for the policy download link (finance may not open the admin site).
    tier_id: int | None = None


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


def _disallowed(tier: QuotaTier | None, used: dict) -> list[tuple[str, str]]:
    """The (kind, name) of ``used``'s deployment and model that ``tier`` does not allow."""
    if tier is None:
        return []
    return [
        (kind, name)
        for kind, allowed, name in (
            ("deployment", tier.deployment_list, used["deployment"]),
            ("model", tier.model_list, used["model"]),
        )
        if allowed and name and name not in allowed
    ]


def _tiers_during(
    *,
    assignments: list[TierAssignment],
    subscription_id: str,
    product_id: str,
    begin: datetime,
    end: datetime,
) -> list[QuotaTier | None]:
    """The tiers ``tier_at`` gives at the rollup hours (whole hours) of ``[begin, end)``.

    ``tier_at`` only changes at an assignment's ``valid_from``/``valid_to`` or its tier's
    ``effective_from``, so the first hour and the first hour at or after each such moment
    inside the window are all there is to look at.
    """
    moments = {begin}
    for assignment in assignments:
        if assignment.key not in (subscription_id, product_id):
            continue
        for moment in (assignment.valid_from, assignment.valid_to, assignment.tier.effective_from):
            if moment is not None and begin < moment < end:
                hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                moments.add(hour if hour == moment else hour + timedelta(hours=1))
    return [
        tier_at(assignments=assignments, subscription_id=subscription_id, product_id=product_id, at=at)[0]
        for at in sorted(moments)
        if at < end
    ]


def _tolerated(limit: int) -> Decimal:
    return Decimal(limit) * (100 + settings.QUOTA_DRIFT_TOLERANCE_PERCENT) / 100


def _lowest_tolerated(assignments: list[TierAssignment], products: dict[str, str]) -> dict[str, int]:
    """Per subscription that ``tier_at`` can give a tier, the lowest tolerated tokens per minute
    (rounded down) of the tiers it can give: a minute at or below it cannot be drift.

    Only the subscription's own assignments and its product's count, so a low tier assigned to
    one subscription does not make every other subscription's busy hours be read.
    """
    lowest: dict[tuple[str, str], int] = {}
    for a in assignments:
        key = (str(a.kind), a.key)
        lowest[key] = min(lowest.get(key, a.tier.tokens_per_minute), a.tier.tokens_per_minute)
    subscription, product = str(TierAssignment.Kind.SUBSCRIPTION), str(TierAssignment.Kind.PRODUCT)
    subs = {key for kind, key in lowest if kind == subscription}
    subs.update(sub for sub, prod in products.items() if (product, prod) in lowest)
    thresholds = {}
    for sub in subs:
        limits = [lowest.get((subscription, sub)), lowest.get((product, products.get(sub, "")))]
        thresholds[sub] = int(_tolerated(min(limit for limit in limits if limit is not None)))
    return thresholds


def _target(kind: str, used: dict) -> str:
    """Deployment and model together: usage is split by both, so naming only the disallowed one
    would show two rows that read as duplicates."""
    deployment = f"deployment {used['deployment']!r}" if used["deployment"] else "no deployment"
    model = f"model {used['model']!r}" if used["model"] else "unknown model"
    if kind == "model":
        return f"{model} on {deployment}"
    return f"{deployment} ({model})"


def _drift_items(
    *,
    start: datetime,
    end: datetime,
    assignments: list[TierAssignment],
    products: dict[str, str],
    current: dict[str, QuotaRow],
    partial_days: PartialDays,
) -> list[DriftItem]:
    items: list[DriftItem] = []
    tiers = {a.tier_id: a.tier for a in assignments}
    if not tiers:
        return items
    tier_ids = {tier.name: tier.pk for tier in tiers.values()}

    # Tokens per minute above the tier in force in that minute.
    worst: dict[str, tuple[int, datetime, QuotaTier]] = {}
    over_minutes: dict[str, int] = defaultdict(int)
    for m in busy_minutes(start=start, end=end, above=_lowest_tolerated(assignments, products)):
        sub = m["apim_subscription_id"]
        tier, _ = tier_at(
            assignments=assignments, subscription_id=sub, product_id=products.get(sub, ""), at=m["minute"]
        )
        if tier is None or m["tokens"] <= _tolerated(tier.tokens_per_minute):
            continue
        over_minutes[sub] += 1
        if sub not in worst or m["tokens"] > worst[sub][0]:
            worst[sub] = (int(m["tokens"]), m["minute"], tier)
    for sub, (tokens, minute, tier) in sorted(worst.items()):
        items.append(
            DriftItem(
                apim_subscription_id=sub,
                tier=tier.name,
                tier_id=tier.pk,
                kind="tpm",
                observed=tokens,
                limit=tier.tokens_per_minute,
                at=minute,
                detail=(
                    f"{over_minutes[sub]} minute(s) above {tier.tokens_per_minute:,} tokens/min; "
                    f"worst {tokens:,} at {minute:%Y-%m-%d %H:%M} UTC"
                ),
            )
        )

    # Month-to-date tokens past the monthly quota (APIM should have answered 403).
    for sub, row in sorted(current.items()):
        if row.token_quota is not None and row.tokens > _tolerated(row.token_quota):
            items.append(
                DriftItem(
                    apim_subscription_id=sub,
                    tier=row.tier or "",
                    tier_id=tier_ids.get(row.tier or ""),
                    kind="quota",
                    observed=row.tokens,
                    limit=row.token_quota,
                    at=None,
                    detail=f"{row.tokens:,} tokens this month against a quota of {row.token_quota:,}",
                )
            )

    # Successful calls to deployments or models the tier does not allow, against the tier in force
    # in the last hour of such calls. An entry that only knows its last day needs that hour only
    # if some tier in force during the day would flag it (the hour is then shown).
    used_all = deployments_used(start=start, end=end, partial_days=partial_days)
    used_all = [
        u
        for u in used_all
        if u["last_hour"] is not None
        or any(
            _disallowed(tier, u)
            for tier in _tiers_during(
                assignments=assignments,
                subscription_id=u["apim_subscription_id"],
                product_id=products.get(u["apim_subscription_id"], ""),
                begin=u["last_day"],
                end=u["last_day"] + timedelta(days=1),
            )
        )
    ]
    last_hours(used_all)
    for used in sorted(used_all, key=lambda u: (u["apim_subscription_id"], u["deployment"], u["model"])):
        sub = used["apim_subscription_id"]
        tier, _ = tier_at(
            assignments=assignments,
            subscription_id=sub,
            product_id=products.get(sub, ""),
            at=used["last_hour"],
        )
        for kind, _name in _disallowed(tier, used):
            items.append(
                DriftItem(
                    apim_subscription_id=sub,
                    tier=tier.name,
                    tier_id=tier.pk,
                    kind=kind,
                    observed=int(used["n_requests"]),
                    limit=None,
                    at=used["last_hour"],
                    detail=f"{used['n_requests']:,} successful request(s) to {_target(kind, used)}, "
                    f"which tier {tier.name} does not allow",
                )
            )
    return items


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
        _drift_items(
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
