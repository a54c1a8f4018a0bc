"""What subscriptions used, read from the rollups over half-open UTC windows ``[start, end)``.

Month-to-date tokens, cost and 429s come from ``UsageDaily`` for whole days and ``UsageHourly`` for
the partial day(s); tokens per minute from ``TokensPerMinuteHourly`` for whole hours and from the
request table bucketed per minute for the partial hours at either end (an hourly sum cannot show a
one-minute burst); the 2xx calls per deployment/model from ``UsageDaily.succeeded``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Max, Q, Sum
from django.db.models.functions import TruncMinute

from usage.chargeback.selectors.lines import whole_days
from usage.models import (
    GatewayRequest,
    LatencySubscriptionDaily,
    TokensPerMinuteHourly,
    UsageDaily,
    UsageHourly,
)
from usage.rollups.horizon import hourly_range_widened

_OR_BATCH = 500  # keys per OR-ed lookup query


class PartialDays:
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
    non-empty partial days at either end (from UsageHourly), oldest first. A partial day before
    the hourly horizon is read whole (``usage.rollups.horizon``): it has no hourly rows."""
    read = hourly_range_widened(begin=start, end=end)
    start, end = read.begin, read.end
    first, last = whole_days(begin=start, end=end)
    if first < last:
        return (first, last), [(begin, stop) for begin, stop in ((start, first), (last, end)) if begin < stop]
    return (first, last), [(start, end)] if start < end else []


def usage_by_subscription(
    *, start: datetime, end: datetime, partial_days: PartialDays | None = None
) -> dict[str, dict]:
    """Tokens, cost, requests and 429s per subscription in ``[start, end)``.

    Whole UTC days come from the daily rollup (``UsageDaily``), the partial days at either end
    (month to date ends now) from the hourly rollup, through ``partial_days`` (shared reads).
    """
    partial_days = partial_days or PartialDays()
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


def products_and_peaks(
    *, start: datetime, end: datetime, products: bool = True, peaks: bool = True
) -> tuple[dict[str, str], dict[str, int]]:
    """``products_by_subscription`` and ``peak_tokens_per_minute`` with one pass over the window's
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


def products_by_subscription(*, start: datetime, end: datetime) -> dict[str, str]:
    """The product each subscription was last seen calling through (APIM scopes a key to one product).

    The newest rollup hour in ``[start, end)`` with a product, and the greatest product of that
    hour. ``TokensPerMinuteHourly`` keeps exactly that per (hour, subscription), so this reads
    one row per subscription and hour instead of the hour's UsageHourly rows.
    """
    return products_and_peaks(start=start, end=end, peaks=False)[0]


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
    return products_and_peaks(start=start, end=end, products=False)[1]


def busy_minutes(*, start: datetime, end: datetime, above: dict[str, int]) -> list[dict]:
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


def deployments_used(
    *, start: datetime, end: datetime, partial_days: PartialDays | None = None
) -> list[dict]:
    """2xx requests per (subscription, deployment, model) in the rollup hours of ``[start, end)``.

    Each entry has ``n_requests`` and either ``last_hour`` (the newest such hour, when it lies in
    a partial day read from UsageHourly) or ``last_hour=None`` and ``last_day`` (midnight of the
    newest whole day with one, read from UsageDaily); ``last_hours`` finds the hour when needed.
    """
    partial_days = partial_days or PartialDays()
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


def last_hours(used: list[dict]) -> None:
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
            key = (u["apim_subscription_id"], u["deployment"], u["model"])
            u["last_hour"] = found[key] if key in found else _last_hour_kept_by_day(u)


def _last_hour_kept_by_day(used: dict) -> datetime:
    """For a day before the hourly horizon (no hourly rows): the last hour of ``used``'s last day
    with requests of its key that were neither 429 nor 5xx, from the per-subscription latency
    rollup's hours, which do not tell 2xx from 4xx (the day's last hour if there is none)."""
    rows = LatencySubscriptionDaily.objects.filter(
        day=used["last_day"].date(),
        apim_subscription_id=used["apim_subscription_id"],
        deployment=used["deployment"],
        model=used["model"],
    ).values_list("measures_by_hour", flat=True)
    # measures_by_hour: {hour: [requests, throttled, errors, ...]} (``usage.rollups.entries``)
    last = max(
        (int(hour) for by_hour in rows for hour, m in by_hour.items() if m[0] - m[1] - m[2] > 0),
        default=23,
    )
    return used["last_day"] + timedelta(hours=last)
