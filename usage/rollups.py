"""Maintain the hourly rollups (UsageHourly) from the request table.

A rollup hour is always recomputed whole from GatewayRequest (delete + insert in one
transaction), which makes the refresh idempotent: re-imports, late rows and late join partners
only need to name the hours they touched.

The work is done in bulk: the hours asked for are cut into runs of consecutive hours, and each
run is aggregated by a handful of GROUP BY queries (sums and counts; one per latency histogram,
with the bucket index computed in SQL by the same formula as ``usage.histograms.bucket_index``;
the last rate-limit headroom by a window function) — never one query per request. The same ORM
code runs on SQLite and PostgreSQL. On PostgreSQL concurrent refreshes are serialised by a
transaction-level advisory lock, so two ingestion workers cannot interleave delete and insert.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Floor, Greatest, Least, Ln, RowNumber, TruncHour

from .histograms import BUCKET_COUNT, EPSILON, SCALE, histogram_merge_into
from .models import GatewayRequest, LatencyDaily, NativeLog, TokenSource, UsageHourly

_DIMENSIONS = (
    "apim_subscription_id",
    "product_id",
    "deployment",
    "model",
    "backend_region",
    "apim_region",
    "is_streaming",
)
# Operations whose completion tokens per backend second measure generation speed.
TPS_OPERATIONS = ("chat", "completion", "responses")
# At most this many hours are aggregated together (bounds memory for long rebuilds).
_MAX_RUN_HOURS = 72
_ADVISORY_LOCK_KEY = 0x5A6E_1A7E  # arbitrary constant: "usage rollup"


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def status_class(response_code: int | None) -> str:
    code = response_code or 0
    if code == 429:
        return "429"
    if code >= 500:
        return "5xx"
    if code >= 400:
        return "4xx"
    if code >= 200:
        return "2xx"
    return "unknown"


def _status_class_expression() -> Case:
    """SQL twin of ``status_class``."""
    return Case(
        When(response_code=429, then=Value("429")),
        When(response_code__gte=500, then=Value("5xx")),
        When(response_code__gte=400, then=Value("4xx")),
        When(response_code__gte=200, then=Value("2xx")),
        default=Value("unknown"),
    )


def _bucket_expression(field: str) -> Case:
    """SQL twin of ``usage.histograms.bucket_index`` for the (non-null) column or annotation ``field``."""
    index = Floor(Ln(F(field)) * Value(SCALE) + Value(EPSILON)) + Value(1.0)
    return Case(
        When(**{f"{field}__lt": 1}, then=Value(0)),
        default=Cast(Least(index, Value(float(BUCKET_COUNT - 1))), IntegerField()),
        output_field=IntegerField(),
    )


def _hour_runs(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Cut the distinct hours into half-open runs of consecutive hours, each at most _MAX_RUN_HOURS."""
    runs: list[tuple[datetime, datetime]] = []
    for hour in sorted({hour_floor(h) for h in hours}):
        if runs and runs[-1][1] == hour and hour - runs[-1][0] < timedelta(hours=_MAX_RUN_HOURS):
            runs[-1] = (runs[-1][0], hour + timedelta(hours=1))
        else:
            runs.append((hour, hour + timedelta(hours=1)))
    return runs


def _grouped(queryset: QuerySet, **extra) -> QuerySet:
    """Rows grouped by hour, the rollup dimensions and the status class (plus ``extra`` keys)."""
    return (
        queryset.annotate(rollup_hour=TruncHour("time", tzinfo=UTC), klass=_status_class_expression())
        .values("rollup_hour", "klass", *_DIMENSIONS, **extra)
        .order_by()
    )


def _key(row: dict) -> tuple:
    return (row["rollup_hour"], row["klass"], *(row[d] for d in _DIMENSIONS))


def _tps_condition() -> Q:
    return Q(
        is_streaming=False,
        response_code__gte=200,
        response_code__lt=400,
        completion_tokens__gt=0,
        backend_time_ms__gt=0,
        operation__in=TPS_OPERATIONS,
    )


def _rollup_compute(start: datetime, end: datetime) -> list[UsageHourly]:
    requests = GatewayRequest.objects.filter(time__gte=start, time__lt=end)
    rollups: dict[tuple, UsageHourly] = {}

    zero_int = Value(0)
    sums = _grouped(requests).annotate(
        n=Count("id"),
        s_prompt=Sum("prompt_tokens"),
        s_cached=Sum("cached_tokens"),
        s_completion=Sum("completion_tokens"),
        s_reasoning=Sum("reasoning_tokens"),
        s_total=Sum("total_tokens"),
        s_images=Sum("images"),
        s_cost=Sum("cost", output_field=DecimalField(max_digits=20, decimal_places=8)),
        s_estimated=Sum(
            Case(When(token_source=TokenSource.ESTIMATED, then=F("total_tokens")), default=zero_int)
        ),
        s_unpriced=Sum(Case(When(is_priced=False, then=F("total_tokens")), default=zero_int)),
        s_tps_tokens=Sum(Case(When(_tps_condition(), then=F("completion_tokens")), default=zero_int)),
        s_tps_ms=Sum(
            Case(When(_tps_condition(), then=F("backend_time_ms")), default=Value(0.0)),
            output_field=FloatField(),
        ),
    )
    for row in sums:
        rollups[_key(row)] = UsageHourly(
            hour=row["rollup_hour"],
            status_class=row["klass"],
            **{d: row[d] for d in _DIMENSIONS},
            requests=row["n"],
            prompt_tokens=row["s_prompt"] or 0,
            cached_tokens=row["s_cached"] or 0,
            completion_tokens=row["s_completion"] or 0,
            reasoning_tokens=row["s_reasoning"] or 0,
            total_tokens=row["s_total"] or 0,
            images=row["s_images"] or 0,
            cost=row["s_cost"] or Decimal(0),
            estimated_tokens=row["s_estimated"] or 0,
            unpriced_tokens=row["s_unpriced"] or 0,
            tps_completion_tokens=row["s_tps_tokens"] or 0,
            tps_backend_ms=float(row["s_tps_ms"] or 0.0),
            total_time_hist={},
            backend_time_hist={},
            native_duration_hist={},
            overhead_hist={},
        )

    native = Subquery(
        NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id")).values("duration_ms")[:1]
    )
    histogram_sources = {
        "total_time_hist": requests.filter(total_time_ms__isnull=False).annotate(ms=F("total_time_ms")),
        "backend_time_hist": requests.filter(backend_time_ms__isnull=False).annotate(ms=F("backend_time_ms")),
        "overhead_hist": requests.filter(total_time_ms__isnull=False, backend_time_ms__isnull=False).annotate(
            ms=Greatest(F("total_time_ms") - F("backend_time_ms"), Value(0.0))
        ),
        "native_duration_hist": requests.exclude(apim_request_id="")
        .annotate(ms=native)
        .filter(ms__isnull=False),
    }
    for attribute, source in histogram_sources.items():
        for row in _grouped(source, bucket=_bucket_expression("ms")).annotate(n=Count("id")):
            histogram = getattr(rollups[_key(row)], attribute)
            key = str(row["bucket"])
            histogram[key] = histogram.get(key, 0) + row["n"]

    has_headroom = Q(ratelimit_remaining_requests__isnull=False) | Q(ratelimit_remaining_tokens__isnull=False)
    latest = (
        requests.filter(has_headroom)
        .annotate(rollup_hour=TruncHour("time", tzinfo=UTC), klass=_status_class_expression())
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("rollup_hour"), F("klass"), *(F(d) for d in _DIMENSIONS)],
                order_by=[F("time").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .values(
            "rollup_hour",
            "klass",
            *_DIMENSIONS,
            "time",
            "ratelimit_remaining_requests",
            "ratelimit_remaining_tokens",
        )
    )
    for row in latest:
        rollup = rollups[_key(row)]
        rollup.last_seen_at = row["time"]
        rollup.ratelimit_remaining_requests = row["ratelimit_remaining_requests"]
        rollup.ratelimit_remaining_tokens = row["ratelimit_remaining_tokens"]
    return list(rollups.values())


_LATENCY_DIMENSIONS = ("deployment", "model", "backend_region", "apim_region", "is_streaming")
_LATENCY_HISTOGRAMS = ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist")


def _latency_daily_compute(day_start: datetime) -> list[LatencyDaily]:
    """LatencyDaily rows of one UTC day, merged from that day's UsageHourly rows."""
    rows = (
        UsageHourly.objects.filter(hour__gte=day_start, hour__lt=day_start + timedelta(days=1))
        .order_by()
        .values(
            "hour",
            "status_class",
            "requests",
            "tps_completion_tokens",
            "tps_backend_ms",
            "last_seen_at",
            "ratelimit_remaining_requests",
            "ratelimit_remaining_tokens",
            *_LATENCY_DIMENSIONS,
            *_LATENCY_HISTOGRAMS,
        )
    )
    daily: dict[tuple, LatencyDaily] = {}
    for row in rows:
        key = tuple(row[d] for d in _LATENCY_DIMENSIONS)
        target = daily.get(key)
        if target is None:
            target = daily[key] = LatencyDaily(
                day=day_start.date(),
                **{d: row[d] for d in _LATENCY_DIMENSIONS},
                **{h: {} for h in _LATENCY_HISTOGRAMS},
                total_time_by_hour={},
                requests_by_hour={},
                measures_by_hour={},
            )
        target.requests += row["requests"]
        if row["status_class"] == "429":
            target.throttled += row["requests"]
        elif row["status_class"] == "5xx":
            target.errors += row["requests"]
        target.tps_completion_tokens += row["tps_completion_tokens"]
        target.tps_backend_ms += row["tps_backend_ms"]
        for name in _LATENCY_HISTOGRAMS:
            histogram_merge_into(getattr(target, name), row[name])
        hour = str(row["hour"].astimezone(UTC).hour)
        histogram_merge_into(target.total_time_by_hour.setdefault(hour, {}), row["total_time_hist"])
        target.requests_by_hour[hour] = target.requests_by_hour.get(hour, 0) + row["requests"]
        by_hour = target.measures_by_hour.get(hour)
        if by_hour is None:
            by_hour = target.measures_by_hour[hour] = {
                "backend": {},
                "native": {},
                "overhead": {},
                "throttled": 0,
                "errors": 0,
                "tps_tokens": 0,
                "tps_ms": 0.0,
                "last_seen_at": None,
                "rl_requests": None,
                "rl_tokens": None,
            }
        histogram_merge_into(by_hour["backend"], row["backend_time_hist"])
        histogram_merge_into(by_hour["native"], row["native_duration_hist"])
        histogram_merge_into(by_hour["overhead"], row["overhead_hist"])
        by_hour["throttled"] += row["requests"] if row["status_class"] == "429" else 0
        by_hour["errors"] += row["requests"] if row["status_class"] == "5xx" else 0
        by_hour["tps_tokens"] += row["tps_completion_tokens"]
        by_hour["tps_ms"] += row["tps_backend_ms"]
        seen = row["last_seen_at"]
        if seen is not None and (
            by_hour["last_seen_at"] is None or seen.isoformat() > by_hour["last_seen_at"]
        ):
            by_hour["last_seen_at"] = seen.astimezone(UTC).isoformat()
            by_hour["rl_requests"] = row["ratelimit_remaining_requests"]
            by_hour["rl_tokens"] = row["ratelimit_remaining_tokens"]
        if seen is not None and (target.last_seen_at is None or seen > target.last_seen_at):
            target.last_seen_at = seen
            target.ratelimit_remaining_requests = row["ratelimit_remaining_requests"]
            target.ratelimit_remaining_tokens = row["ratelimit_remaining_tokens"]
    return list(daily.values())


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])


def rollup_refresh_hours(*, hours: Iterable[datetime]) -> int:
    """Recompute the rollup rows of each hour in ``hours``, then the LatencyDaily rows of their days.

    Returns the number of UsageHourly rows written.
    """
    written = 0
    days: set[datetime] = set()
    for start, end in _hour_runs(hours):
        with transaction.atomic():
            _lock()
            rollups = _rollup_compute(start, end)
            UsageHourly.objects.filter(hour__gte=start, hour__lt=end).delete()
            UsageHourly.objects.bulk_create(rollups, batch_size=1000)
        written += len(rollups)
        day = start.replace(hour=0)
        while day < end:
            days.add(day)
            day += timedelta(days=1)
    latency_daily_refresh(days=days)
    return written


def latency_daily_refresh(*, days: Iterable[datetime]) -> int:
    """Recompute the LatencyDaily rows of each UTC day (midnight datetimes) from UsageHourly."""
    written = 0
    for day in sorted({hour_floor(d).replace(hour=0) for d in days}):
        with transaction.atomic():
            _lock()
            latency = _latency_daily_compute(day)
            LatencyDaily.objects.filter(day=day.date()).delete()
            LatencyDaily.objects.bulk_create(latency, batch_size=1000)
        written += len(latency)
    return written


def rollup_refresh_range(*, start: datetime, end: datetime) -> int:
    """Recompute every hour in [start, end)."""
    hours = []
    hour = hour_floor(start)
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return rollup_refresh_hours(hours=hours)
