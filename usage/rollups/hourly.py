"""Maintain the hourly rollups (UsageHourly) from the request table.

``rollup_refresh_hours`` recomputes a rollup hour whole from GatewayRequest (delete + insert in
one transaction), which makes the refresh idempotent: late join partners, repricing and rebuilds
only need to name the hours they touched. Requests that were not stored before take a shorter
way (``usage.rollups.delta``).

The work is done in bulk: the hours asked for are cut into runs of consecutive hours, and each
run is aggregated by a handful of GROUP BY queries (sums and counts; one per latency histogram,
with the bucket index computed in SQL by the same formula as
``usage.rollups.histograms.bucket_index``; the last rate-limit headroom by a window function) —
never one query per request. The same ORM code runs on SQLite and PostgreSQL; on PostgreSQL the
rows are instead computed and inserted by one statement that never brings them to Python
(``usage.rollups.hourly_sql``, tested equal to this path). The same
transaction maintains the coarser rollups read by the pages: the latency rollups
(``usage.rollups.latency``; refreshed hours replaced, the day's other hours kept, or deferred:
``usage.rollups.deferral``), UsageDaily (old contribution out, new in) and
TokensPerMinuteHourly (recomputed with the hours, one GROUP BY per subscription and minute). On
PostgreSQL concurrent refreshes are serialised by transaction-level advisory locks, so two
ingestion workers cannot interleave delete and insert; a refresh of several chunks outside a
transaction builds each chunk's latency rollups in a second thread while the next chunk's hourly
rows are written (``usage.rollups.latency_alongside``).
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Greatest, RowNumber, TruncHour

from ..db.copy import rows_insert
from ..models import GatewayRequest, NativeLog, TokenSource, TokensPerMinuteHourly, UsageHourly
from .common import DIMENSIONS, TPS_OPERATIONS, hour_floor, rollup_lock
from .daily import daily_sums, daily_sums_of, usage_daily_apply
from .deferral import latency_hours_changed, latency_hours_mark
from .expressions import bucket_expression, status_class_expression
from .hourly_prune import day_hours, hourly_day_replaced, hours_past_horizon_split
from .hourly_sql import hourly_rows_insert, hourly_sql_enabled
from .latency_alongside import latency_alongside_possible, latency_rollups_alongside
from .latency_operations import latency_operations_apply
from .tokens_per_minute import tokens_per_minute_compute

# At most this many hours are aggregated together (bounds memory for long rebuilds).
_MAX_RUN_HOURS = 72


# The last hour of the calendar has no end: a row stored in it (only before ingestion checked
# times) is left out of the rollups rather than crash them.
_LAST_HOUR = datetime(9999, 12, 31, 23, tzinfo=UTC)


def _hour_runs(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Cut the distinct hours into half-open runs of consecutive hours, each at most _MAX_RUN_HOURS."""
    runs: list[tuple[datetime, datetime]] = []
    for hour in sorted({hour_floor(h) for h in hours}):
        if hour >= _LAST_HOUR:
            continue
        if runs and runs[-1][1] == hour and hour - runs[-1][0] < timedelta(hours=_MAX_RUN_HOURS):
            runs[-1] = (runs[-1][0], hour + timedelta(hours=1))
        else:
            runs.append((hour, hour + timedelta(hours=1)))
    return runs


def _run_chunks(runs: list[tuple[datetime, datetime]]) -> list[list[tuple[datetime, datetime]]]:
    """Consecutive runs grouped into chunks of at most _MAX_RUN_HOURS hours in all: each chunk is
    one transaction (scattered late rows touch many short runs)."""
    chunks: list[list[tuple[datetime, datetime]]] = []
    size = 0
    for start, end in runs:
        hours = int((end - start) / timedelta(hours=1))
        if not chunks or size + hours > _MAX_RUN_HOURS:
            chunks.append([])
            size = 0
        chunks[-1].append((start, end))
        size += hours
    return chunks


def _hours_of(start: datetime, end: datetime) -> list[datetime]:
    """The hours of the half-open run [start, end)."""
    return [start + timedelta(hours=i) for i in range(int((end - start) / timedelta(hours=1)))]


def _chunk_hours(chunk: list[tuple[datetime, datetime]]) -> list[datetime]:
    """The hours of a chunk's runs."""
    return [hour for start, end in chunk for hour in _hours_of(start, end)]


def _grouped(queryset: QuerySet, **extra) -> QuerySet:
    """Rows grouped by hour, the rollup dimensions and the status class (plus ``extra`` keys)."""
    return (
        queryset.annotate(rollup_hour=TruncHour("time", tzinfo=UTC), klass=status_class_expression())
        .values("rollup_hour", "klass", *DIMENSIONS, **extra)
        .order_by()
    )


def _key(row: dict) -> tuple:
    return (row["rollup_hour"], row["klass"], *(row[d] for d in DIMENSIONS))


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
    )
    for row in sums:
        rollups[_key(row)] = UsageHourly(
            hour=row["rollup_hour"],
            status_class=row["klass"],
            **{d: row[d] for d in DIMENSIONS},
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
            tps_backend_ms=0.0,
            total_time_hist={},
            backend_time_hist={},
            native_duration_hist={},
            overhead_hist={},
        )

    # Backend times added in (time, id) order, as the PostgreSQL fast path adds them: a float sum
    # depends on its order, and a GROUP BY's order is its plan's (an index or the table's).
    times = (
        requests.filter(_tps_condition())
        .annotate(rollup_hour=TruncHour("time", tzinfo=UTC), klass=status_class_expression())
        .order_by("time", "id")
        .values_list("rollup_hour", "klass", *DIMENSIONS, "backend_time_ms")
    )
    for *key, backend_ms in times.iterator(chunk_size=5000):
        rollups[tuple(key)].tps_backend_ms += backend_ms

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
        for row in _grouped(source, bucket=bucket_expression("ms")).annotate(n=Count("id")):
            histogram = getattr(rollups[_key(row)], attribute)
            key = str(row["bucket"])
            histogram[key] = histogram.get(key, 0) + row["n"]

    has_headroom = Q(ratelimit_remaining_requests__isnull=False) | Q(ratelimit_remaining_tokens__isnull=False)
    latest = (
        requests.filter(has_headroom)
        .annotate(rollup_hour=TruncHour("time", tzinfo=UTC), klass=status_class_expression())
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("rollup_hour"), F("klass"), *(F(d) for d in DIMENSIONS)],
                order_by=[F("time").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .values(
            "rollup_hour",
            "klass",
            *DIMENSIONS,
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


def rollup_refresh_hours(*, hours: Iterable[datetime]) -> int:
    """Recompute the rollup rows of each hour in ``hours``, and those hours in LatencyDaily,
    LatencyHourOfDay, LatencySubscriptionDaily, LatencySubscriptionRegionDaily (and the latency
    spans over their days), LatencyOperationDaily, UsageDaily and TokensPerMinuteHourly (same
    transaction).

    Within ``latency_rollups_deferred`` the latency rollups (LatencyDaily to the spans) are not
    refreshed here: the hours are marked pending instead, in the same transaction.

    An hour before the hourly horizon is refreshed as its whole UTC day, whose hourly rows are
    then dropped (``usage.rollups.hourly_prune``).

    Returns the number of UsageHourly rows written.
    """
    split = hours_past_horizon_split(hours)
    written = _hours_refresh(split.recent)
    for day in split.days:
        with hourly_day_replaced(day=day):
            written += _hours_refresh(day_hours(day))
    return written


def _hours_refresh(hours: Iterable[datetime]) -> int:
    chunks = _run_chunks(_hour_runs(hours))
    if len(chunks) > 1 and latency_alongside_possible():
        written = 0
        with latency_rollups_alongside() as latency_refresh:
            for chunk in chunks:
                written += _chunk_refresh(chunk, latency_apart=True)
                latency_refresh(_chunk_hours(chunk))
        return written
    return sum(_chunk_refresh(chunk, latency_apart=False) for chunk in chunks)


def _chunk_refresh(chunk: list[tuple[datetime, datetime]], *, latency_apart: bool) -> int:
    """Refresh a chunk's runs of hours in one transaction; with ``latency_apart`` its latency
    rollups are left to the caller (its hours marked pending, under the hourly lock only)."""
    chunk_hours = _chunk_hours(chunk)
    computed: list[UsageHourly] = []
    written = 0
    with transaction.atomic():
        rollup_lock(latency=not latency_apart)
        for start, end in chunk:
            stored = UsageHourly.objects.filter(hour__gte=start, hour__lt=end)
            old_daily = daily_sums(stored)
            if hourly_sql_enabled():
                stored.delete()
                count = hourly_rows_insert(start=start, end=end)
                new_daily = daily_sums(stored)
            else:
                rollups = _rollup_compute(start, end)
                stored.delete()
                rows_insert(rows=rollups)
                count = len(rollups)
                computed += rollups
                new_daily = daily_sums_of(rollups)
            usage_daily_apply({h.date() for h in _hours_of(start, end)}, old_daily, new_daily)
            TokensPerMinuteHourly.objects.filter(hour__gte=start, hour__lt=end).delete()
            rows_insert(
                rows=tokens_per_minute_compute(GatewayRequest.objects.filter(time__gte=start, time__lt=end))
            )
            written += count
        if latency_apart:
            latency_hours_mark(chunk_hours)
        else:
            # Once per chunk, not per run: the latency rollups are rewritten per day and then
            # re-summed over the spans of those days, whatever the number of hours changed.
            latency_hours_changed(
                chunk_hours,
                UsageHourly.objects.filter(hour__in=chunk_hours) if hourly_sql_enabled() else computed,
            )
        latency_operations_apply(chunk_hours)  # from the requests: UsageHourly has no operation
    return written


def rollup_refresh_range(*, start: datetime, end: datetime) -> int:
    """Recompute every hour in [start, end)."""
    hours = []
    hour = hour_floor(start)
    while hour < min(end, _LAST_HOUR):
        hours.append(hour)
        hour += timedelta(hours=1)
    return rollup_refresh_hours(hours=hours)
