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
from django.db import connection
from django.db.models import Max, Q, Sum
from django.db.models.functions import TruncMinute

from aoai_portal.months import month_bounds
from usage.chargeback.selectors.lines import whole_days
from usage.models import GatewayRequest, TokensPerMinuteHourly, UsageDaily, UsageHourly

from .models import QuotaTier, TierAssignment

OK = "ok"
WARNING = "warning"
OVER = "over"
NO_TIER = "no_tier"
STATUS_LABELS = {OK: "OK", WARNING: "Warning (80%+)", OVER: "Over (100%+)", NO_TIER: "No tier"}
_STATUS_RANK = {OVER: 3, WARNING: 2, OK: 1, NO_TIER: 0}
WARNING_PERCENT = 80
OVER_PERCENT = 100
_TICK = timedelta(microseconds=1)  # "the last moment of a window" = end - _TICK
_OR_BATCH = 500  # keys per OR-ed lookup query


@dataclass
class DriftItem:
    apim_subscription_id: str
    tier: str
    kind: str  # "tpm", "quota", "deployment", "model"
    observed: int
    limit: int | None
    at: datetime | None
    detail: str


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


# --- which tier applies ---------------------------------------------------------------------


def _assignments_overlapping(*, start: datetime, end: datetime) -> list[TierAssignment]:
    return list(
        TierAssignment.objects.filter(valid_from__lt=end)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
        .select_related("tier")
    )


def _in_force(assignment: TierAssignment, at: datetime) -> bool:
    return (
        assignment.valid_from <= at
        and (assignment.valid_to is None or at < assignment.valid_to)
        and assignment.tier.effective_from <= at
    )


def tier_at(
    *, assignments: list[TierAssignment], subscription_id: str, product_id: str, at: datetime
) -> tuple[QuotaTier | None, str]:
    """The tier in force at ``at`` and its source; a subscription's own assignment wins over its product's."""
    for kind, key in (
        (TierAssignment.Kind.SUBSCRIPTION, subscription_id),
        (TierAssignment.Kind.PRODUCT, product_id),
    ):
        if not key:
            continue
        for assignment in assignments:
            if assignment.kind == kind and assignment.key == key and _in_force(assignment, at):
                return assignment.tier, str(kind)
    return None, ""


def tier_for_subscription(*, subscription_id: str, product_id: str, at: datetime) -> QuotaTier | None:
    """The tier a subscription was on at ``at`` (for other apps; the page uses ``tier_at``)."""
    assignments = _assignments_overlapping(start=at, end=at + timedelta(microseconds=1))
    tier, _ = tier_at(assignments=assignments, subscription_id=subscription_id, product_id=product_id, at=at)
    return tier


# --- usage ------------------------------------------------------------------------------------


class _PartialDays:
    """The hourly rollup of the partial days the overview reads, each range read once.

    Month to date, the projection window and the 2xx calls all end at the same partial day
    (today's, when the month is not over): one query per range, grouped per subscription,
    deployment, model and status class, serves the three of them.
    """

    def __init__(self) -> None:
        self._read: dict[tuple[datetime, datetime], list[dict]] = {}

    def rows(self, *, start: datetime, end: datetime) -> list[dict]:
        """Per (subscription, deployment, model, status class) of ``[start, end)``: ``tokens``,
        ``cost``, ``n_requests`` and ``last`` (the newest hour)."""
        key = (start, end)
        if key not in self._read:
            self._read[key] = list(
                UsageHourly.objects.filter(hour__gte=start, hour__lt=end)
                .exclude(apim_subscription_id="")
                .values("apim_subscription_id", "deployment", "model", "status_class")
                .annotate(
                    tokens=Sum("total_tokens"), cost=Sum("cost"), n_requests=Sum("requests"), last=Max("hour")
                )
                .order_by()
            )
        return self._read[key]


def _partial_day_ranges(*, start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], list[tuple]]:
    """``[start, end)`` cut into its whole UTC days (``[first, last)``, from UsageDaily) and the
    non-empty partial days at either end (from UsageHourly), oldest first."""
    first, last = whole_days(begin=start, end=end)
    if first < last:
        return (first, last), [(begin, stop) for begin, stop in ((start, first), (last, end)) if begin < stop]
    return (first, last), [(start, end)] if start < end else []


def _usage_by_subscription(
    *, start: datetime, end: datetime, partial_days: _PartialDays | None = None
) -> dict[str, dict]:
    """Tokens, cost, requests and 429s per subscription in ``[start, end)``.

    Whole UTC days come from the daily rollup (``UsageDaily``), the partial days at either end
    (month to date ends now) from the hourly rollup, through ``partial_days`` (shared reads).
    """
    partial_days = partial_days or _PartialDays()
    (first, last), partial = _partial_day_ranges(start=start, end=end)
    parts: list = []
    if first < last:
        parts.append(
            UsageDaily.objects.filter(day__gte=first.date(), day__lt=last.date())
            .exclude(apim_subscription_id="")
            .values("apim_subscription_id")
            .annotate(
                tokens=Sum("total_tokens"),
                cost=Sum("cost"),
                n_requests=Sum("requests"),
                throttled=Sum("throttled"),
            )
            .order_by()
        )
    for begin, stop in partial:
        parts.append(
            r | {"throttled": r["n_requests"] if r["status_class"] == "429" else 0}
            for r in partial_days.rows(start=begin, end=stop)
        )
    usage: dict[str, dict] = {}
    for part in parts:
        for r in part:
            entry = usage.setdefault(
                r["apim_subscription_id"],
                {"apim_subscription_id": r["apim_subscription_id"], "tokens": 0, "cost": Decimal(0)}
                | {"n_requests": 0, "throttled": 0},
            )
            entry["tokens"] += r["tokens"] or 0
            entry["cost"] += Decimal(r["cost"] or 0)
            entry["n_requests"] += r["n_requests"] or 0
            entry["throttled"] += r["throttled"] or 0
    return usage


def _whole_hours(*, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC hours inside ``[start, end)`` as ``[first, last)`` (may be empty)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(hours=1)
    last = end.replace(minute=0, second=0, microsecond=0)
    return first, max(first, last)


def _minute_ranges(*, start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], list[tuple]]:
    """``[start, end)`` cut into its whole hours (read from the rollup) and the partial hours at
    either end (bucketed from the request table: at most two hours of rows)."""
    first, last = _whole_hours(start=start, end=end)
    if first == last:
        return (first, first), [(start, end)]
    return (first, last), [(begin, stop) for begin, stop in ((start, first), (last, end)) if begin < stop]


def _products_and_peaks(
    *, start: datetime, end: datetime, products: bool = True, peaks: bool = True
) -> tuple[dict[str, str], dict[str, int]]:
    """``_products_by_subscription`` and ``peak_tokens_per_minute`` with one pass over the window's
    TokensPerMinuteHourly rows (one per hour and subscription); either can be skipped (empty)."""
    (first, last), partial = _minute_ranges(start=start, end=end)
    measures = {}
    if products:
        measures["last"] = Max("hour", filter=~Q(product_id=""))
    if peaks and first < last:
        measures["peak"] = Max("peak_tokens", filter=Q(hour__gte=first, hour__lt=last))
    found_products: dict[str, str] = {}
    found_peaks: dict[str, int] = {}
    if measures:
        rows = TokensPerMinuteHourly.objects.filter(hour__gte=start, hour__lt=end)
        summary = list(rows.values("apim_subscription_id").annotate(**measures).order_by())
        found_peaks.update(
            (r["apim_subscription_id"], int(r["peak"])) for r in summary if r.get("peak") is not None
        )
        subs_by_last_hour: dict[datetime, list[str]] = defaultdict(list)
        for r in summary:
            if r.get("last") is not None:
                subs_by_last_hour[r["last"]].append(r["apim_subscription_id"])
        # Most subscriptions share their last hour (the current one): one condition per hour.
        # Exact (hour, subscription) keys only, so the unique index finds each row (with the
        # window's range as well, PostgreSQL filtered every row of the month through the OR).
        lookups = sorted(subs_by_last_hour.items())
        for i in range(0, len(lookups), _OR_BATCH):
            which = Q()
            for hour, subs in lookups[i : i + _OR_BATCH]:
                which |= Q(hour=hour, apim_subscription_id__in=sorted(subs))
            found_products.update(
                TokensPerMinuteHourly.objects.filter(which).values_list("apim_subscription_id", "product_id")
            )
    if peaks:
        for begin, stop in partial:
            sql, params = _minute_tokens(start=begin, end=stop).query.sql_with_params()
            outer = (
                f"SELECT m.apim_subscription_id, MAX(m.tokens) FROM ({sql}) m GROUP BY m.apim_subscription_id"
            )
            with connection.cursor() as cursor:
                cursor.execute(outer, params)
                for sub, peak in cursor.fetchall():
                    found_peaks[sub] = max(found_peaks.get(sub, 0), int(peak or 0))
    return found_products, found_peaks


def _products_by_subscription(*, start: datetime, end: datetime) -> dict[str, str]:
    """The product each subscription was last seen calling through (APIM scopes a key to one product).

    The newest rollup hour in ``[start, end)`` with a product, and the greatest product of that
    hour. ``TokensPerMinuteHourly`` keeps exactly that per (hour, subscription), so this reads
    one row per subscription and hour instead of the hour's UsageHourly rows.
    """
    return _products_and_peaks(start=start, end=end, peaks=False)[0]


def _minute_tokens(*, start: datetime, end: datetime):
    """Tokens per (subscription, UTC minute) straight from the request table (partial hours only)."""
    return (
        GatewayRequest.objects.filter(time__gte=start, time__lt=end)
        .exclude(apim_subscription_id="")
        .annotate(minute=TruncMinute("time", tzinfo=UTC))
        .values("apim_subscription_id", "minute")
        .annotate(tokens=Sum("total_tokens"))
        .order_by()
    )


def peak_tokens_per_minute(*, start: datetime, end: datetime) -> dict[str, int]:
    """Per subscription, the most tokens seen in one clock minute of ``[start, end)``.

    Whole hours from ``TokensPerMinuteHourly`` (the peak of each hour), the partial hours at
    either end from the request table.
    """
    return _products_and_peaks(start=start, end=end, products=False)[1]


def _busy_minutes(*, start: datetime, end: datetime, above: dict[str, int]) -> list[dict]:
    """Every (subscription, UTC minute) of ``[start, end)`` with more than ``above[subscription]``
    tokens, in time order; subscriptions not in ``above`` are left out.

    Whole hours read only the rollup rows whose peak is above their subscription's threshold;
    partial hours come from the request table.
    """
    if not above:
        return []
    by_threshold: dict[int, list[str]] = defaultdict(list)
    for sub, threshold in above.items():
        by_threshold[threshold].append(sub)
    (first, last), partial = _minute_ranges(start=start, end=end)
    minutes: list[dict] = []
    if first < last:
        which = Q()
        for threshold, subs in by_threshold.items():
            which |= Q(apim_subscription_id__in=subs, peak_tokens__gt=threshold)
        rows = (
            TokensPerMinuteHourly.objects.filter(which, hour__gte=first, hour__lt=last)
            .values_list("hour", "apim_subscription_id", "tokens_by_minute")
            .order_by()
        )
        for hour, sub, by_minute in rows.iterator(chunk_size=2000):
            hour, threshold = hour.astimezone(UTC), above[sub]
            minutes.extend(
                {"apim_subscription_id": sub, "minute": hour + timedelta(minutes=int(m)), "tokens": tokens}
                for m, tokens in by_minute.items()
                if tokens > threshold
            )
    for begin, stop in partial:
        rows = _minute_tokens(start=begin, end=stop).filter(
            apim_subscription_id__in=list(above), tokens__gt=min(by_threshold)
        )
        minutes.extend(
            row | {"minute": row["minute"].astimezone(UTC)}
            for row in rows
            if row["tokens"] > above[row["apim_subscription_id"]]
        )
    minutes.sort(key=lambda m: (m["minute"], m["apim_subscription_id"]))
    return minutes


def _deployments_used(
    *, start: datetime, end: datetime, partial_days: _PartialDays | None = None
) -> list[dict]:
    """2xx requests per (subscription, deployment, model) in the rollup hours of ``[start, end)``.

    Each entry has ``n_requests`` and either ``last_hour`` (the newest such hour, when it lies in
    a partial day read from UsageHourly) or ``last_hour=None`` and ``last_day`` (midnight of the
    newest whole day with one, read from UsageDaily); ``_last_hours`` finds the hour when needed.
    """
    partial_days = partial_days or _PartialDays()
    (first, last), partial = _partial_day_ranges(start=start, end=end)
    used: dict[tuple, dict] = {}

    def entry(row: dict) -> dict:
        key = (row["apim_subscription_id"], row["deployment"], row["model"])
        found = used.get(key)
        if found is None:
            found = used[key] = {
                "apim_subscription_id": key[0],
                "deployment": key[1],
                "model": key[2],
                "n_requests": 0,
                "last_hour": None,
                "last_day": None,
            }
        return found

    # Oldest first, so a later part's last hour or day replaces an earlier one's.
    parts: list[tuple[str, datetime, datetime]] = [("hourly", b, e) for b, e in partial if e <= first]
    if first < last:
        parts.append(("daily", first, last))
    parts += [("hourly", b, e) for b, e in partial if e > first]
    for source, begin, stop in parts:
        if source == "daily":
            rows = (
                UsageDaily.objects.filter(day__gte=begin.date(), day__lt=stop.date(), succeeded__gt=0)
                .exclude(apim_subscription_id="")
                .values("apim_subscription_id", "deployment", "model")
                .annotate(n=Sum("succeeded"), last=Max("day"))
                .order_by()
            )
            for row in rows:
                found = entry(row)
                found["n_requests"] += row["n"]
                found["last_hour"] = None
                found["last_day"] = datetime.combine(row["last"], datetime.min.time(), tzinfo=UTC)
        else:
            for row in partial_days.rows(start=begin, end=stop):
                if row["status_class"] == "2xx":  # one row per key and status class
                    found = entry(row)
                    found["n_requests"] += row["n_requests"]
                    found["last_hour"], found["last_day"] = row["last"], None
    return list(used.values())


def _last_hours(used: list[dict]) -> None:
    """Fill ``last_hour`` of the entries that only know their last day: the newest 2xx rollup hour
    of that day, one grouped query for all of them."""
    missing = [u for u in used if u["last_hour"] is None]
    for i in range(0, len(missing), _OR_BATCH):
        batch = missing[i : i + _OR_BATCH]
        which = Q()
        for u in batch:
            which |= Q(
                apim_subscription_id=u["apim_subscription_id"],
                deployment=u["deployment"],
                model=u["model"],
                hour__gte=u["last_day"],
                hour__lt=u["last_day"] + timedelta(days=1),
            )
        rows = (
            UsageHourly.objects.filter(which, status_class="2xx")
            .values("apim_subscription_id", "deployment", "model")
            .annotate(last=Max("hour"))
            .order_by()
        )
        found = {(r["apim_subscription_id"], r["deployment"], r["model"]): r["last"] for r in rows}
        for u in batch:
            u["last_hour"] = found[(u["apim_subscription_id"], u["deployment"], u["model"])]


# --- the overview -----------------------------------------------------------------------------


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


def _drift_items(
    *,
    start: datetime,
    end: datetime,
    assignments: list[TierAssignment],
    products: dict[str, str],
    current: dict[str, QuotaRow],
    partial_days: _PartialDays,
) -> list[DriftItem]:
    items: list[DriftItem] = []
    tiers = {a.tier_id: a.tier for a in assignments}
    if not tiers:
        return items

    # Tokens per minute above the tier in force in that minute.
    worst: dict[str, tuple[int, datetime, QuotaTier]] = {}
    over_minutes: dict[str, int] = defaultdict(int)
    for m in _busy_minutes(start=start, end=end, above=_lowest_tolerated(assignments, products)):
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
    used_all = _deployments_used(start=start, end=end, partial_days=partial_days)
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
    _last_hours(used_all)
    for used in sorted(used_all, key=lambda u: (u["apim_subscription_id"], u["deployment"], u["model"])):
        sub = used["apim_subscription_id"]
        tier, _ = tier_at(
            assignments=assignments,
            subscription_id=sub,
            product_id=products.get(sub, ""),
            at=used["last_hour"],
        )
        for kind, name in _disallowed(tier, used):
            items.append(
                DriftItem(
                    apim_subscription_id=sub,
                    tier=tier.name,
                    kind=kind,
                    observed=int(used["n_requests"]),
                    limit=None,
                    at=used["last_hour"],
                    detail=f"{used['n_requests']:,} successful request(s) to {kind} {name!r}, "
                    f"which tier {tier.name} does not allow",
                )
            )
    return items


def quota_overview(*, month: date, now: datetime, per_minute: bool = True) -> QuotaOverview:
    """Every subscription seen (or assigned a tier) in ``month``, against its tier, riskiest first.

    ``per_minute=False`` skips the per-minute reads (peak tokens per minute and drift, which also
    bucket the partial hours from the request table): the alerts, which run after every
    ingestion, only need the usage sums.
    """
    start, end = month_bounds(month)
    as_of = min(now, end)
    days = settings.QUOTA_PROJECTION_DAYS
    if as_of <= start:
        return QuotaOverview(month, start, end, as_of, days, [], [])

    assignments = _assignments_overlapping(start=start, end=as_of)
    partial_days = _PartialDays()  # today's hourly rollup rows, read once for all three uses
    usage = _usage_by_subscription(start=start, end=as_of, partial_days=partial_days)
    recent = _usage_by_subscription(start=as_of - timedelta(days=days), end=as_of, partial_days=partial_days)
    products, peaks = _products_and_peaks(start=start, end=as_of, peaks=per_minute)
    days_left = Decimal((end - as_of).total_seconds()) / Decimal(86400)

    subscriptions = set(usage)
    subscriptions.update(
        a.key
        for a in assignments
        if a.kind == TierAssignment.Kind.SUBSCRIPTION and _in_force(a, as_of - _TICK)
    )

    rows: dict[str, QuotaRow] = {}
    for sub in subscriptions:
        used = usage.get(sub, {})
        tokens = int(used.get("tokens") or 0)
        cost = Decimal(used.get("cost") or 0)
        window = recent.get(sub, {})
        projected_tokens = tokens + int(Decimal(window.get("tokens") or 0) / days * days_left)
        projected_cost = (cost + Decimal(window.get("cost") or 0) / days * days_left).quantize(
            Decimal("0.01")
        )
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
    for item in drift:
        if item.apim_subscription_id in rows:
            rows[item.apim_subscription_id].drift.append(item)
    ordered = sorted(rows.values(), key=lambda r: r.apim_subscription_id)
    ordered.sort(key=lambda r: r.risk, reverse=True)
    return QuotaOverview(month, start, end, as_of, days, ordered, drift)
