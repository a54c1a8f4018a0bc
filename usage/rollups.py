"""Maintain the hourly rollups (UsageHourly) from the request table.

``rollup_refresh_hours`` recomputes a rollup hour whole from GatewayRequest (delete + insert in
one transaction), which makes the refresh idempotent: late join partners, repricing and rebuilds
only need to name the hours they touched. Requests that were not stored before take a shorter
way: ingestion writes them and adds their own sums to the rollups in the same transaction
(``RollupDelta``, ``rollup_add``), which gives the same rows without aggregating the hours'
requests again; a re-import writes no request twice, so it adds nothing twice.

The work is done in bulk: the hours asked for are cut into runs of consecutive hours, and each
run is aggregated by a handful of GROUP BY queries (sums and counts; one per latency histogram,
with the bucket index computed in SQL by the same formula as ``usage.histograms.bucket_index``;
the last rate-limit headroom by a window function) — never one query per request. The same ORM
code runs on SQLite and PostgreSQL. The same transaction maintains the coarser rollups read by
the pages: LatencyDaily, LatencyHourOfDay, LatencySubscriptionDaily and
LatencySubscriptionRegionDaily (refreshed hours replaced, the day's other hours kept),
LatencyDailySpan and LatencyHourOfDaySpan (the spans over changed days re-summed from their
halves), UsageDaily (old contribution out, new in) and
TokensPerMinuteHourly (recomputed with the hours, one GROUP BY per subscription and minute). On
PostgreSQL concurrent refreshes are serialised by a transaction-level advisory lock, so two
ingestion workers cannot interleave delete and insert.

Long imports defer the latency rollups (``latency_rollups_deferred``): their cost depends on the
days and spans touched, not on the rows, so a batch only marks its hours (LatencyPendingHour, in
its transaction) and the marked hours are refreshed together once a minute and at the end.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import (
    Cast,
    Floor,
    Greatest,
    Least,
    Ln,
    RowNumber,
    TruncDay,
    TruncHour,
    TruncMinute,
)

from aoai_portal.months import month_bounds
from usage.measures import USAGE_MEASURES
from usage.models.requests import status_class

from .db.bulk import rows_update
from .histograms import (
    BUCKET_COUNT,
    EPSILON,
    SCALE,
    bucket_index,
    histogram_lanes,
    histogram_lanes_of,
    histogram_merge_into,
    histogram_pack,
    histogram_pack_lanes,
    histogram_segment,
    histograms_add_into,
    histograms_join,
    histograms_pack,
    histograms_pack_lanes,
    histograms_segments,
    histograms_unpack,
    segment_lanes,
)
from .models import (
    GatewayRequest,
    LatencyDaily,
    LatencyDailySpan,
    LatencyHourOfDay,
    LatencyHourOfDaySpan,
    LatencyPendingHour,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    NativeLog,
    TokenSource,
    TokensPerMinuteHourly,
    UsageDaily,
    UsageHourly,
)
from .spans import SPAN_DAYS, span_day_covered, span_start

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
_SUBSCRIPTION_DIMENSIONS = ("apim_subscription_id", *_LATENCY_DIMENSIONS)
_SUBSCRIPTION_REGION_DIMENSIONS = ("apim_subscription_id", "backend_region", "is_streaming")
# The per-subscription latency rollups and the dimensions each keys its rows by.
_SUBSCRIPTION_ROLLUPS = {
    LatencySubscriptionDaily: _SUBSCRIPTION_DIMENSIONS,
    LatencySubscriptionRegionDaily: _SUBSCRIPTION_REGION_DIMENSIONS,
}
_HOURLY_FIELDS = (
    "hour",
    "apim_subscription_id",
    "status_class",
    "requests",
    "tps_completion_tokens",
    "tps_backend_ms",
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "total_time_hist",
    "backend_time_hist",
    "native_duration_hist",
    "overhead_hist",
    *_LATENCY_DIMENSIONS,
)


def _hour_entry() -> dict:
    return {
        "requests": 0,
        "throttled": 0,
        "errors": 0,
        "tps_tokens": 0,
        "tps_ms": 0.0,
        "total": {},
        "backend": {},
        "native": {},
        "overhead": {},
        "last_seen_at": None,
        "rl_requests": None,
        "rl_tokens": None,
    }


def _hour_entries(
    rows: Iterable[dict], dimensions: tuple[str, ...] = _LATENCY_DIMENSIONS
) -> dict[tuple, dict[tuple, dict]]:
    """UsageHourly rows -> {day: {dims (``dimensions``' values): {hour of day: entry}}}."""
    days: dict = {}
    for row in rows:
        moment = row["hour"].astimezone(UTC)
        dims = tuple(row[d] for d in dimensions)
        entry = days.setdefault(moment.date(), {}).setdefault(dims, {}).get(str(moment.hour))
        if entry is None:
            entry = days[moment.date()][dims][str(moment.hour)] = _hour_entry()
        entry["requests"] += row["requests"]
        entry["throttled"] += row["requests"] if row["status_class"] == "429" else 0
        entry["errors"] += row["requests"] if row["status_class"] == "5xx" else 0
        entry["tps_tokens"] += row["tps_completion_tokens"]
        entry["tps_ms"] += row["tps_backend_ms"]
        histogram_merge_into(entry["total"], row["total_time_hist"])
        histogram_merge_into(entry["backend"], row["backend_time_hist"])
        histogram_merge_into(entry["native"], row["native_duration_hist"])
        histogram_merge_into(entry["overhead"], row["overhead_hist"])
        seen = row["last_seen_at"]
        if seen is not None:
            seen = seen.astimezone(UTC).isoformat()
            if entry["last_seen_at"] is None or seen > entry["last_seen_at"]:
                entry["last_seen_at"] = seen
                entry["rl_requests"] = row["ratelimit_remaining_requests"]
                entry["rl_tokens"] = row["ratelimit_remaining_tokens"]
    return days


def _daily_hours(row: LatencyDaily) -> dict[str, dict]:
    """The per-hour entries stored in a LatencyDaily row."""
    totals = histograms_unpack(row.total_time_by_hour)
    hours = {}
    for hour, measures in row.measures_by_hour.items():
        entry = {key: value for key, value in measures.items()}
        entry["requests"] = row.requests_by_hour.get(hour, 0)
        entry["total"] = totals.get(hour, {})
        hours[hour] = entry
    return hours


def _daily_build(day, dims: tuple, hours: dict[str, dict]) -> LatencyDaily:
    """A LatencyDaily row whose day totals are the sums of its per-hour entries."""
    row = LatencyDaily(
        day=day,
        **dict(zip(_LATENCY_DIMENSIONS, dims, strict=True)),
        requests_by_hour={},
        measures_by_hour={},
    )
    totals: dict[str, dict] = {name: {} for name in ("total", "backend", "native", "overhead")}
    total_by_hour = {}
    last_seen = None
    for hour in sorted(hours, key=int):
        entry = hours[hour]
        row.requests += entry["requests"]
        row.throttled += entry["throttled"]
        row.errors += entry["errors"]
        row.tps_completion_tokens += entry["tps_tokens"]
        row.tps_backend_ms += entry["tps_ms"]
        for name, histogram in totals.items():
            histogram_merge_into(histogram, entry[name])
        total_by_hour[hour] = entry["total"]
        row.requests_by_hour[hour] = entry["requests"]
        row.measures_by_hour[hour] = {k: v for k, v in entry.items() if k not in ("requests", "total")}
        if entry["last_seen_at"] is not None and (last_seen is None or entry["last_seen_at"] > last_seen):
            last_seen = entry["last_seen_at"]
            row.ratelimit_remaining_requests = entry["rl_requests"]
            row.ratelimit_remaining_tokens = entry["rl_tokens"]
    for name, histogram in totals.items():
        setattr(row, _PACKED_COLUMNS[name], histogram_pack(histogram))
    row.total_time_by_hour = histograms_pack(total_by_hour)
    row.last_seen_at = datetime.fromisoformat(last_seen) if last_seen else None
    return row


_PACKED_COLUMNS = {
    "total": "total_time_hist",
    "backend": "backend_time_hist",
    "native": "native_duration_hist",
    "overhead": "overhead_hist",
}


_BY_HOUR_COLUMNS = {
    "total": "total_time_by_hour",
    "backend": "backend_time_by_hour",
    "native": "native_duration_by_hour",
    "overhead": "overhead_by_hour",
}
_MEASURE_ORDER = (
    "requests",
    "throttled",
    "errors",
    "tps_tokens",
    "tps_ms",
    "last_seen_at",
    "rl_requests",
    "rl_tokens",
)


def hour_of_day_entries(entries: Mapping[date, Mapping[tuple, Mapping[str, dict]]]) -> dict[tuple, dict]:
    """Per-hour entries ({day: {latency dims: {hour of day: entry}}}) summed over the regions.

    Returns {(day, deployment, model, is_streaming): {hour of day: entry}}: the rows of
    LatencyHourOfDay. Pure (no database), so migration 0012 builds the table from LatencyDaily's
    stored entries with it.
    """
    merged: dict[tuple, dict] = {}
    for day, by_dims in entries.items():
        # In a fixed order, so float sums (tps_ms) come out the same whoever built ``entries``.
        for dims in sorted(by_dims):
            deployment, model, _backend_region, _apim_region, streaming = dims
            hours = merged.setdefault((day, deployment, model, streaming), {})
            for hour, entry in by_dims[dims].items():
                target = hours.get(hour)
                if target is None:
                    target = hours[hour] = _hour_entry()
                for name in ("requests", "throttled", "errors", "tps_tokens", "tps_ms"):
                    target[name] += entry[name]
                for name in _BY_HOUR_COLUMNS:
                    histogram_merge_into(target[name], entry[name])
                seen = entry["last_seen_at"]
                if seen is not None and (target["last_seen_at"] is None or seen > target["last_seen_at"]):
                    target["last_seen_at"] = seen
                    target["rl_requests"] = entry["rl_requests"]
                    target["rl_tokens"] = entry["rl_tokens"]
    return merged


def hour_of_day_fields(key: tuple, hours: Mapping[str, Mapping]) -> dict:
    """The LatencyHourOfDay field values of one ``hour_of_day_entries`` item."""
    day, deployment, model, streaming = key
    ordered = sorted(hours, key=int)
    return {
        "day": day,
        "deployment": deployment,
        "model": model,
        "is_streaming": streaming,
        "measures_by_hour": {hour: [hours[hour][name] for name in _MEASURE_ORDER] for hour in ordered},
        **{
            column: histograms_pack({hour: hours[hour][name] for hour in ordered})
            for name, column in _BY_HOUR_COLUMNS.items()
        },
    }


def _hour_of_day_hours(row: LatencyHourOfDay) -> dict[str, dict]:
    """The per-hour entries stored in a LatencyHourOfDay row."""
    histograms = {name: histograms_unpack(getattr(row, column)) for name, column in _BY_HOUR_COLUMNS.items()}
    return {
        hour: dict(zip(_MEASURE_ORDER, values, strict=True))
        | {name: histograms[name].get(hour, {}) for name in _BY_HOUR_COLUMNS}
        for hour, values in row.measures_by_hour.items()
    }


def _latency_hour_of_day_apply(day: date, refreshed_hours: set[str], new: Mapping[tuple, dict]) -> None:
    """Replace the ``refreshed_hours`` of ``day`` in LatencyHourOfDay by ``new`` (that day's
    ``hour_of_day_entries`` items); keep its other hours."""
    existing = {
        (day, r.deployment, r.model, r.is_streaming): r for r in LatencyHourOfDay.objects.filter(day=day)
    }
    rows = []
    for key in sorted(existing.keys() | new.keys()):
        hours = _hour_of_day_hours(existing[key]) if key in existing else {}
        for hour in refreshed_hours:
            hours.pop(hour, None)
        hours.update(new.get(key, {}))
        if hours:
            rows.append(LatencyHourOfDay(**hour_of_day_fields(key, hours)))
    LatencyHourOfDay.objects.filter(day=day).delete()
    LatencyHourOfDay.objects.bulk_create(rows, batch_size=1000)


def _latency_daily_apply(day, refreshed_hours: set[str], entries: dict[tuple, dict[str, dict]]) -> int:
    """Replace the ``refreshed_hours`` of ``day`` in LatencyDaily by ``entries``; keep its other hours.

    Every day total is re-summed from the row's own per-hour entries, so refreshing an hour never
    needs the rest of the day's hourly rollups: the cost does not grow with the day's volume.
    """
    existing = {
        tuple(getattr(r, d) for d in _LATENCY_DIMENSIONS): r for r in LatencyDaily.objects.filter(day=day)
    }
    rows = []
    for dims in existing.keys() | entries.keys():
        hours = _daily_hours(existing[dims]) if dims in existing else {}
        for hour in refreshed_hours:
            hours.pop(hour, None)
        hours.update(entries.get(dims, {}))
        if hours:
            rows.append(_daily_build(day, dims, hours))
    LatencyDaily.objects.filter(day=day).delete()
    LatencyDaily.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# What a LatencyDailySpan row sums from its halves (LatencyDaily or shorter-span rows).
_SPAN_COLUMNS = (
    "day",
    *_LATENCY_DIMENSIONS,
    "requests",
    "throttled",
    "errors",
    "tps_completion_tokens",
    "tps_backend_ms",
    *_PACKED_COLUMNS.values(),
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "total_time_by_hour",
    "requests_by_hour",
)
_SPAN_COUNTS = ("requests", "throttled", "errors", "tps_completion_tokens", "tps_backend_ms")


def latency_span_merge(rows: Iterable[Mapping]) -> dict[tuple, dict]:
    """Rows with ``_SPAN_COLUMNS`` (LatencyDaily or LatencyDailySpan values, in day order) summed
    per latency dimensions: {dims: LatencyDailySpan field values but day and span_days}.

    Histograms are added as integer lanes, per hour of day for the heatmap ones, so a span holds
    exactly the sums of its days. Pure (no database), so a migration can copy it.
    """
    sums: dict[tuple, dict] = {}
    for row in rows:
        dims = tuple(row[d] for d in _LATENCY_DIMENSIONS)
        target = sums.get(dims)
        if target is None:
            target = sums[dims] = {
                **dict.fromkeys(_SPAN_COUNTS, 0),
                "lanes": dict.fromkeys(_PACKED_COLUMNS.values(), 0),
                "by_hour": {},
                "requests_by_hour": {},
                "last_seen_at": None,
                "ratelimit_remaining_requests": None,
                "ratelimit_remaining_tokens": None,
            }
        for name in _SPAN_COUNTS:
            target[name] += row[name]
        for column in _PACKED_COLUMNS.values():
            target["lanes"][column] += histogram_lanes(row[column])
        histograms_add_into(target["by_hour"], row["total_time_by_hour"], None)
        for hour, requests in row["requests_by_hour"].items():
            target["requests_by_hour"][hour] = target["requests_by_hour"].get(hour, 0) + requests
        seen = row["last_seen_at"]
        if seen is not None and (target["last_seen_at"] is None or seen > target["last_seen_at"]):
            target["last_seen_at"] = seen
            target["ratelimit_remaining_requests"] = row["ratelimit_remaining_requests"]
            target["ratelimit_remaining_tokens"] = row["ratelimit_remaining_tokens"]
    merged = {}
    for dims, target in sums.items():
        by_hour = {hour: lanes for (_, hour), lanes in target.pop("by_hour").items()}
        lanes = target.pop("lanes")
        merged[dims] = {
            **dict(zip(_LATENCY_DIMENSIONS, dims, strict=True)),
            **target,
            **{column: histogram_pack_lanes(lanes[column]) for column in _PACKED_COLUMNS.values()},
            "total_time_by_hour": histograms_pack_lanes(by_hour),
            "requests_by_hour": {
                hour: target["requests_by_hour"][hour] for hour in sorted(target["requests_by_hour"], key=int)
            },
        }
    return merged


_HOUR_OF_DAY_DIMENSIONS = ("deployment", "model", "is_streaming")
_HOUR_OF_DAY_SPAN_COLUMNS = ("day", *_HOUR_OF_DAY_DIMENSIONS, "measures_by_hour", *_BY_HOUR_COLUMNS.values())


def hour_of_day_span_merge(rows: Iterable[Mapping]) -> dict[tuple, dict]:
    """Rows with ``_HOUR_OF_DAY_SPAN_COLUMNS`` (LatencyHourOfDay or LatencyHourOfDaySpan values, in
    day order) summed per deployment, model and streaming kind, hour by hour: {dims:
    LatencyHourOfDaySpan field values but day and span_days}. Pure, like ``latency_span_merge``."""
    sums: dict[tuple, dict] = {}
    for row in rows:
        dims = tuple(row[d] for d in _HOUR_OF_DAY_DIMENSIONS)
        target = sums.get(dims)
        if target is None:
            target = sums[dims] = {"measures": {}, **{column: {} for column in _BY_HOUR_COLUMNS.values()}}
        measures = target["measures"]
        for hour, values in row["measures_by_hour"].items():
            current = measures.get(hour)
            if current is None:
                measures[hour] = list(values)
                continue
            for i in range(5):  # requests, throttled, errors, tps tokens, tps ms (_MEASURE_ORDER)
                current[i] += values[i]
            seen = values[5]  # ISO text in UTC: compares as the moments do
            if seen is not None and (current[5] is None or seen > current[5]):
                current[5:] = values[5:]
        for column in _BY_HOUR_COLUMNS.values():
            histograms_add_into(target[column], row[column], None)
    return {
        dims: {
            **dict(zip(_HOUR_OF_DAY_DIMENSIONS, dims, strict=True)),
            "measures_by_hour": {
                hour: target["measures"][hour] for hour in sorted(target["measures"], key=int)
            },
            **{
                column: histograms_pack_lanes({hour: lanes for (_, hour), lanes in target[column].items()})
                for column in _BY_HOUR_COLUMNS.values()
            },
        }
        for dims, target in sums.items()
    }


def _spans_apply(
    days: set[date],
    *,
    day_model: type,
    span_model: type,
    dimensions: tuple[str, ...],
    columns: tuple[str, ...],
    merge: Callable[[Iterable[Mapping]], dict[tuple, dict]],
) -> None:
    """Re-sum every ``span_model`` row over ``days`` (whose ``day_model`` rows just changed) from
    its two halves, shortest spans first, so each longer span adds up fresh shorter ones."""
    days = {day for day in days if span_day_covered(day)}
    for span_days in SPAN_DAYS:
        half = span_days // 2
        halves = day_model.objects.all() if half == 1 else span_model.objects.filter(span_days=half)
        for start in sorted({span_start(day, span_days) for day in days}):
            children = (
                halves.filter(day__in=[start, start + timedelta(days=half)])
                .order_by("day", *dimensions)
                .values(*columns)
            )
            rows = [
                span_model(day=start, span_days=span_days, **fields) for fields in merge(children).values()
            ]
            span_model.objects.filter(day=start, span_days=span_days).delete()
            span_model.objects.bulk_create(rows, batch_size=1000)


def _latency_spans_apply(days: Iterable[date]) -> None:
    """Re-sum the LatencyDailySpan and LatencyHourOfDaySpan rows over ``days``."""
    days = set(days)
    _spans_apply(
        days,
        day_model=LatencyDaily,
        span_model=LatencyDailySpan,
        dimensions=_LATENCY_DIMENSIONS,
        columns=_SPAN_COLUMNS,
        merge=latency_span_merge,
    )
    _spans_apply(
        days,
        day_model=LatencyHourOfDay,
        span_model=LatencyHourOfDaySpan,
        dimensions=_HOUR_OF_DAY_DIMENSIONS,
        columns=_HOUR_OF_DAY_SPAN_COLUMNS,
        merge=hour_of_day_span_merge,
    )


def _lanes_entries(by_dims: Mapping[tuple, Mapping[str, dict]]) -> dict[tuple, dict[str, dict]]:
    """``_hour_entries`` items of one day with their histograms as lanes (what
    LatencySubscriptionDaily rows are built from: summing and packing lanes needs no dicts)."""
    return {
        dims: {
            hour: {**entry, **{name: histogram_lanes_of(entry[name]) for name in _PACKED_COLUMNS}}
            for hour, entry in hours.items()
        }
        for dims, hours in by_dims.items()
    }


def subscription_daily_fields(
    day: date,
    dims: tuple,
    hours: Mapping[str, Mapping],
    *,
    dimensions: tuple[str, ...],
    previous: LatencySubscriptionDaily | LatencySubscriptionRegionDaily | None = None,
    refreshed: Iterable[str] = (),
) -> dict | None:
    """The LatencySubscriptionDaily field values of one day and subscription dims
    (``dimensions``' values; LatencySubscriptionRegionDaily's with theirs) holding the per-hour
    entries ``hours`` (``_lanes_entries`` items); None when no hour is left.

    With ``previous`` (the stored row) its ``refreshed`` hours are replaced by ``hours`` and its
    other hours kept as stored: their histogram parts are copied, not unpacked and packed again,
    and the day histograms are the stored ones minus the replaced hours plus the new ones (integer
    lanes, so exactly the sums of the hours). Counts and times are re-summed over the hours in hour
    order, as a build from scratch sums them, so both give the same bytes.
    """
    measures = dict(previous.measures_by_hour) if previous is not None else {}
    totals = {
        name: histogram_lanes(getattr(previous, column)) if previous is not None else 0
        for name, column in _PACKED_COLUMNS.items()
    }
    segments = {
        name: histograms_segments(getattr(previous, column)) if previous is not None else {}
        for name, column in _BY_HOUR_COLUMNS.items()
    }
    for hour in refreshed:
        if measures.pop(hour, None) is None:
            continue
        for name in _BY_HOUR_COLUMNS:
            segment = segments[name].pop(int(hour), None)
            if segment:
                totals[name] -= segment_lanes(segment)
    for hour, entry in hours.items():
        measures[hour] = [entry[name] for name in _MEASURE_ORDER]
        for name in _BY_HOUR_COLUMNS:
            totals[name] += entry[name]
            segment = histogram_segment(int(hour), entry[name])
            if segment:
                segments[name][int(hour)] = segment
    if not measures:
        return None
    ordered = sorted(measures, key=int)
    fields: dict = {
        "day": day,
        **dict(zip(dimensions, dims, strict=True)),
        "requests": 0,
        "throttled": 0,
        "errors": 0,
        "tps_completion_tokens": 0,
        "tps_backend_ms": 0.0,
        "last_seen_at": None,
        "ratelimit_remaining_requests": None,
        "ratelimit_remaining_tokens": None,
        "measures_by_hour": {hour: measures[hour] for hour in ordered},
        "requests_by_hour": {hour: measures[hour][0] for hour in ordered},
    }
    last_seen = None
    for hour in ordered:
        requests, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = measures[hour]
        fields["requests"] += requests
        fields["throttled"] += throttled
        fields["errors"] += errors
        fields["tps_completion_tokens"] += tps_tokens
        fields["tps_backend_ms"] += tps_ms
        if seen is not None and (last_seen is None or seen > last_seen):
            last_seen = seen
            fields["ratelimit_remaining_requests"] = rl_requests
            fields["ratelimit_remaining_tokens"] = rl_tokens
    fields["last_seen_at"] = datetime.fromisoformat(last_seen) if last_seen else None
    for name, column in _PACKED_COLUMNS.items():
        fields[column] = histogram_pack_lanes(totals[name])
    for name, column in _BY_HOUR_COLUMNS.items():
        fields[column] = histograms_join(segments[name])
    return fields


# What a refresh rewrites in a LatencySubscriptionDaily row (all but the key).
_SUBSCRIPTION_DAILY_MEASURES = (
    "requests",
    "throttled",
    "errors",
    "tps_completion_tokens",
    "tps_backend_ms",
    "total_time_hist",
    "backend_time_hist",
    "native_duration_hist",
    "overhead_hist",
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "measures_by_hour",
    "requests_by_hour",
    *_BY_HOUR_COLUMNS.values(),
)


def _latency_subscription_daily_apply(
    day: date,
    refreshed_hours: set[str],
    entries: Mapping[tuple, Mapping[str, dict]],
    *,
    model: type[LatencySubscriptionDaily | LatencySubscriptionRegionDaily],
) -> None:
    """Replace the ``refreshed_hours`` of ``day`` in ``model`` (one of ``_SUBSCRIPTION_ROLLUPS``)
    by ``entries`` ({dims: {hour: entry}}, as ``_hour_entries`` makes them for the model's
    dimensions); keep its other hours.

    Only the rows holding a refreshed hour or receiving a new one are read and rewritten (the
    day's other rows stay untouched), so an ingestion-sized refresh costs what its hours hold,
    not what the day holds. Histograms are handled as lanes throughout.
    """
    dimensions = _SUBSCRIPTION_ROLLUPS[model]
    entries = _lanes_entries(entries)
    of_day = model.objects.filter(day=day).order_by()
    receiving = []
    if entries:
        receiving = [pk for pk, *dims in of_day.values_list("pk", *dimensions) if tuple(dims) in entries]
    affected = of_day.filter(Q(measures_by_hour__has_any_keys=sorted(refreshed_hours)) | Q(pk__in=receiving))
    existing = {tuple(getattr(r, d) for d in dimensions): r for r in affected}
    updated, created, emptied = [], [], []
    for dims in sorted(existing.keys() | entries.keys()):
        row = existing.get(dims)
        fields = subscription_daily_fields(
            day, dims, entries.get(dims, {}), dimensions=dimensions, previous=row, refreshed=refreshed_hours
        )
        if fields is None:
            emptied.append(row.pk)
            continue
        if row is None:
            created.append(model(**fields))
            continue
        for name in _SUBSCRIPTION_DAILY_MEASURES:
            setattr(row, name, fields[name])
        updated.append(row)
    if emptied:
        model.objects.filter(pk__in=emptied).delete()
    # Most refreshed rows exist already: one UPDATE from arrays (``rows_update``) costs a fraction
    # of deleting and re-inserting them through the ORM.
    rows_update(rows=updated, fields=_SUBSCRIPTION_DAILY_MEASURES)
    model.objects.bulk_create(created, batch_size=1000)


def _subscription_entries(rows: list[Mapping]) -> dict[type, dict]:
    """UsageHourly values -> {rollup: {day: {dims: {hour: entry}}}} for each of
    ``_SUBSCRIPTION_ROLLUPS``, keyed by that rollup's dimensions."""
    return {model: _hour_entries(rows, dimensions) for model, dimensions in _SUBSCRIPTION_ROLLUPS.items()}


def _latency_subscription_apply(day: date, refreshed_hours: set[str], by_rollup: Mapping[type, dict]) -> None:
    """Both per-subscription latency rollups of ``day`` (``_subscription_entries``' result)."""
    for model, by_day in by_rollup.items():
        _latency_subscription_daily_apply(day, refreshed_hours, by_day.get(day, {}), model=model)


_DAILY_DIMENSIONS = ("apim_subscription_id", "product_id", "deployment", "model")
# Requests of one status class, counted per day: {UsageDaily field: UsageHourly status class}.
_STATUS_COUNTS = (("throttled", "429"), ("succeeded", "2xx"))
_DAILY_FIELDS = (*USAGE_MEASURES, *(name for name, _ in _STATUS_COUNTS))


def _daily_sums(hourly: QuerySet) -> dict[tuple, dict]:
    """UsageHourly rows summed per (UTC day, daily dimensions): {key: {measure: sum, "throttled": n, ...}}.

    ``throttled`` counts the 429s and ``succeeded`` the 2xx requests (``_STATUS_COUNTS``).

    PostgreSQL sums NUMERIC exactly in the database; elsewhere (SQLite sums decimals as floats)
    the rows are summed in Python from exact decimals.
    """
    if connection.vendor != "postgresql":
        return _daily_sums_of(
            UsageHourly(**row)
            for row in hourly.values("hour", "status_class", *_DAILY_DIMENSIONS, *USAGE_MEASURES).iterator(
                chunk_size=5000
            )
        )
    rows = (
        hourly.annotate(rollup_day=TruncDay("hour", tzinfo=UTC))
        .values("rollup_day", *_DAILY_DIMENSIONS)
        .annotate(
            **{f"s_{name}": Sum(name) for name in USAGE_MEASURES},
            **{f"s_{name}": Sum("requests", filter=Q(status_class=klass)) for name, klass in _STATUS_COUNTS},
        )
        .order_by()
    )
    sums = {}
    for row in rows:
        key = (row["rollup_day"].astimezone(UTC).date(), *(row[d] for d in _DAILY_DIMENSIONS))
        measures = {name: row[f"s_{name}"] or 0 for name in USAGE_MEASURES}
        measures["cost"] = Decimal(measures["cost"])
        for name, _ in _STATUS_COUNTS:
            measures[name] = row[f"s_{name}"] or 0
        sums[key] = measures
    return sums


def _daily_sums_of(rollups: Iterable[UsageHourly]) -> dict[tuple, dict]:
    """The same sums as ``_daily_sums``, from UsageHourly objects."""
    sums: dict[tuple, dict] = {}
    for rollup in rollups:
        key = (rollup.hour.astimezone(UTC).date(), *(getattr(rollup, d) for d in _DAILY_DIMENSIONS))
        measures = sums.get(key)
        if measures is None:
            measures = sums[key] = {name: 0 for name in _DAILY_FIELDS} | {"cost": Decimal(0)}
        for name in USAGE_MEASURES:
            measures[name] += getattr(rollup, name)
        for name, klass in _STATUS_COUNTS:
            measures[name] += rollup.requests if rollup.status_class == klass else 0
    return sums


def _usage_daily_apply(days: Iterable, old: dict[tuple, dict], new: dict[tuple, dict]) -> None:
    """Take the refreshed hours' ``old`` contribution out of UsageDaily and put their ``new`` one in.

    Only the rows of ``days`` are read and rewritten; a row left with no requests is dropped.
    """
    fields = _DAILY_FIELDS
    for day in sorted(set(days)):
        rows = {
            (day, *(getattr(r, d) for d in _DAILY_DIMENSIONS)): {f: getattr(r, f) for f in fields}
            for r in UsageDaily.objects.filter(day=day)
        }
        for sign, part in ((-1, old), (1, new)):
            for key, measures in part.items():
                if key[0] != day:
                    continue
                row = rows.setdefault(key, {f: 0 for f in fields} | {"cost": Decimal(0)})
                for f in fields:
                    row[f] += sign * measures[f]
        UsageDaily.objects.filter(day=day).delete()
        UsageDaily.objects.bulk_create(
            [
                UsageDaily(day=day, **dict(zip(_DAILY_DIMENSIONS, key[1:], strict=True)), **measures)
                for key, measures in rows.items()
                if measures["requests"]
            ],
            batch_size=1000,
        )


def usage_daily_refresh(*, days: Iterable[datetime]) -> int:
    """Rebuild the UsageDaily rows of each UTC day (midnight datetimes) from UsageHourly."""
    written = 0
    for day_start in sorted({hour_floor(d).replace(hour=0) for d in days}):
        with transaction.atomic():
            _lock()
            sums = _daily_sums(
                UsageHourly.objects.filter(hour__gte=day_start, hour__lt=day_start + timedelta(days=1))
            )
            UsageDaily.objects.filter(day=day_start.date()).delete()
            rows = [
                UsageDaily(day=key[0], **dict(zip(_DAILY_DIMENSIONS, key[1:], strict=True)), **measures)
                for key, measures in sums.items()
                if measures["requests"]
            ]
            UsageDaily.objects.bulk_create(rows, batch_size=1000)
            written += len(rows)
    return written


def tokens_per_minute_compute(requests: QuerySet, *, model: type = TokensPerMinuteHourly) -> list:
    """``TokensPerMinuteHourly`` rows (unsaved) for the requests in ``requests`` (whole hours).

    One GROUP BY (subscription, UTC minute) in the database: per minute its tokens and greatest
    non-empty product; the hour's peak, peak minute and per-minute map are folded in Python from
    those rows, whose number is bounded by the active minutes, not the requests. ``model`` lets
    the migration that backfills the table pass its historical model.
    """
    minutes = (
        requests.exclude(apim_subscription_id="")
        .annotate(minute=TruncMinute("time", tzinfo=UTC))
        .values("apim_subscription_id", "minute")
        .annotate(tokens=Sum("total_tokens"), product=Max("product_id", filter=~Q(product_id="")))
        .order_by()
    )
    rollups: dict[tuple, object] = {}
    for row in minutes.iterator(chunk_size=5000):
        minute = row["minute"].astimezone(UTC)
        key = (minute.replace(minute=0), row["apim_subscription_id"])
        rollup = rollups.get(key)
        if rollup is None:
            rollup = rollups[key] = model(
                hour=key[0],
                apim_subscription_id=key[1],
                product_id="",
                peak_tokens=-1,
                peak_minute=minute,
                tokens_by_minute={},
            )
        tokens = int(row["tokens"] or 0)
        if tokens:
            rollup.tokens_by_minute[str(minute.minute)] = tokens
        if tokens > rollup.peak_tokens or (tokens == rollup.peak_tokens and minute < rollup.peak_minute):
            rollup.peak_tokens, rollup.peak_minute = tokens, minute
        if row["product"] and row["product"] > rollup.product_id:
            rollup.product_id = row["product"]
    return list(rollups.values())


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])


def rollup_refresh_hours(*, hours: Iterable[datetime]) -> int:
    """Recompute the rollup rows of each hour in ``hours``, and those hours in LatencyDaily,
    LatencyHourOfDay, LatencySubscriptionDaily, LatencySubscriptionRegionDaily (and the latency
    spans over their days), UsageDaily and TokensPerMinuteHourly (same transaction).

    Within ``latency_rollups_deferred`` the latency rollups (LatencyDaily to the spans) are not
    refreshed here: the hours are marked pending instead, in the same transaction.

    Returns the number of UsageHourly rows written.
    """
    written = 0
    for start, end in _hour_runs(hours):
        with transaction.atomic():
            _lock()
            rollups = _rollup_compute(start, end)
            old_daily = _daily_sums(UsageHourly.objects.filter(hour__gte=start, hour__lt=end))
            UsageHourly.objects.filter(hour__gte=start, hour__lt=end).delete()
            UsageHourly.objects.bulk_create(rollups, batch_size=1000)
            run_hours = []
            hour = start
            while hour < end:
                run_hours.append(hour)
                hour += timedelta(hours=1)
            _latency_hours_changed(run_hours, rollups)
            _usage_daily_apply({h.date() for h in run_hours}, old_daily, _daily_sums_of(rollups))
            TokensPerMinuteHourly.objects.filter(hour__gte=start, hour__lt=end).delete()
            TokensPerMinuteHourly.objects.bulk_create(
                tokens_per_minute_compute(GatewayRequest.objects.filter(time__gte=start, time__lt=end)),
                batch_size=1000,
            )
        written += len(rollups)
    return written


# UsageHourly fields a batch of new requests adds to (all but the key and the latest headroom).
_HOURLY_SUMS = (*USAGE_MEASURES, "tps_completion_tokens", "tps_backend_ms")
_HOURLY_HISTOGRAMS = ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist")
_HOURLY_MEASURES = (
    *_HOURLY_SUMS,
    *_HOURLY_HISTOGRAMS,
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
)


class RollupDelta:
    """What new requests add to the hourly rollups, summed in Python as they are written.

    ``add`` takes requests as written (primary keys set) and the durations of their native
    partners; ``rollup_add`` adds the sums to the stored rollups. The same numbers as
    ``_rollup_compute`` over those requests (its SQL and this code are twins: status class, bucket
    index, TPS condition, the latest headroom by time then id), without reading them back; the
    sums are bounded by the rollup keys touched, not by the requests.
    """

    def __init__(self) -> None:
        self.hourly: dict[tuple, UsageHourly] = {}
        self.latest: dict[tuple, tuple] = {}  # key -> (time, id) of the row its headroom came from
        # (hour, subscription) -> {minute: [tokens, greatest product]} for TokensPerMinuteHourly.
        self.minutes: dict[tuple, dict[datetime, list]] = {}

    def add(self, requests: Iterable[GatewayRequest], native_durations: Mapping[str, float | None]) -> None:
        for request in requests:
            moment = request.time.astimezone(UTC)
            hour = moment.replace(minute=0, second=0, microsecond=0)
            key = (hour, status_class(request.response_code), *(getattr(request, d) for d in _DIMENSIONS))
            rollup = self.hourly.get(key)
            if rollup is None:
                rollup = self.hourly[key] = UsageHourly(
                    hour=hour,
                    status_class=key[1],
                    **dict(zip(_DIMENSIONS, key[2:], strict=True)),
                    cost=Decimal(0),
                    total_time_hist={},
                    backend_time_hist={},
                    native_duration_hist={},
                    overhead_hist={},
                )
            self._request_add(rollup, key, request, native_durations)
            if request.apim_subscription_id:
                minute = moment.replace(second=0, microsecond=0)
                slot = self.minutes.setdefault((hour, request.apim_subscription_id), {}).get(minute)
                if slot is None:
                    slot = self.minutes[(hour, request.apim_subscription_id)][minute] = [0, ""]
                slot[0] += request.total_tokens or 0
                if request.product_id > slot[1]:
                    slot[1] = request.product_id

    def _request_add(
        self, rollup: UsageHourly, key: tuple, request: GatewayRequest, natives: Mapping
    ) -> None:
        total_tokens = request.total_tokens or 0
        rollup.requests += 1
        rollup.prompt_tokens += request.prompt_tokens or 0
        rollup.cached_tokens += request.cached_tokens or 0
        rollup.completion_tokens += request.completion_tokens or 0
        rollup.reasoning_tokens += request.reasoning_tokens or 0
        rollup.total_tokens += total_tokens
        rollup.images += request.images or 0
        rollup.cost += request.cost or 0
        if request.token_source == TokenSource.ESTIMATED:
            rollup.estimated_tokens += total_tokens
        if not request.is_priced:
            rollup.unpriced_tokens += total_tokens
        code = request.response_code or 0
        total, backend = request.total_time_ms, request.backend_time_ms
        if (
            not request.is_streaming
            and 200 <= code < 400
            and (request.completion_tokens or 0) > 0
            and backend is not None
            and backend > 0
            and request.operation in TPS_OPERATIONS
        ):
            rollup.tps_completion_tokens += request.completion_tokens
            rollup.tps_backend_ms += backend
        native = natives.get(request.apim_request_id) if request.apim_request_id else None
        for histogram, ms in (
            (rollup.total_time_hist, total),
            (rollup.backend_time_hist, backend),
            (
                rollup.overhead_hist,
                max(total - backend, 0.0) if total is not None and backend is not None else None,
            ),
            (rollup.native_duration_hist, native),
        ):
            if ms is not None:
                bucket = str(bucket_index(ms))
                histogram[bucket] = histogram.get(bucket, 0) + 1
        if request.ratelimit_remaining_requests is not None or request.ratelimit_remaining_tokens is not None:
            seen = (request.time, request.pk or 0)
            if key not in self.latest or seen > self.latest[key]:
                self.latest[key] = seen
                rollup.last_seen_at = request.time
                rollup.ratelimit_remaining_requests = request.ratelimit_remaining_requests
                rollup.ratelimit_remaining_tokens = request.ratelimit_remaining_tokens


def native_durations_get(requests: Iterable[GatewayRequest]) -> dict[str, float | None]:
    """The stored native partners' durations of ``requests``, by APIM request id (for ``RollupDelta``)."""
    ids = [r.apim_request_id for r in requests if r.apim_request_id]
    return dict(
        NativeLog.objects.filter(correlation_id__any=ids).values_list("correlation_id", "duration_ms")
    )


def month_tokens_stored(
    deployment: str, month: date, *, added: RollupDelta, writing: Iterable[GatewayRequest] = ()
) -> int:
    """The tokens of ``deployment``'s requests stored in ``month`` (its first day) during a batch
    of new requests: UsageDaily (every batch before) plus those the batch wrote but has not added
    yet (``added``: its earlier chunks; ``writing``: the chunk just written). What a sum over the
    month's requests gives, from at most a month of daily rollup rows instead of the month's
    requests (PTU shares of new requests, ``usage.accounting.services.usage_price_written``)."""
    start, end = month_bounds(month)
    stored = (
        UsageDaily.objects.filter(deployment=deployment, day__gte=start.date(), day__lt=end.date()).aggregate(
            t=Sum("total_tokens")
        )["t"]
        or 0
    )
    deployment_index = 2 + _DIMENSIONS.index("deployment")  # in a RollupDelta key: hour, class, dims
    pending = sum(
        rollup.total_tokens
        for key, rollup in added.hourly.items()
        if key[deployment_index] == deployment and start <= key[0] < end
    )
    writing_tokens = sum(
        r.total_tokens or 0 for r in writing if r.deployment == deployment and start <= r.time < end
    )
    return stored + pending + writing_tokens


def rollup_add(delta: RollupDelta) -> int:
    """Add new requests (``delta``) to the stored rollups of their hours: UsageHourly, UsageDaily,
    TokensPerMinuteHourly and (or, deferred, marked for) the latency rollups.

    For requests that were not stored before (what ``requests_write`` writes): the same rollups
    ``rollup_refresh_hours`` would recompute for their hours, at the cost of the rollup rows of
    those hours instead of the requests. Returns the number of UsageHourly rows written.
    """
    if not delta.hourly:
        return 0
    hours = sorted({key[0] for key in delta.hourly})
    with transaction.atomic():
        _lock()
        stored = {
            (r.hour.astimezone(UTC), r.status_class, *(getattr(r, d) for d in _DIMENSIONS)): r
            for r in UsageHourly.objects.filter(hour__in=hours)
        }
        updated, created = [], []
        for key, added in delta.hourly.items():
            rollup = stored.get(key)
            if rollup is None:
                stored[key] = added
                created.append(added)
                continue
            for name in _HOURLY_SUMS:
                setattr(rollup, name, getattr(rollup, name) + getattr(added, name))
            for name in _HOURLY_HISTOGRAMS:
                histogram_merge_into(getattr(rollup, name), getattr(added, name))
            # New requests come after the stored ones (their ids are higher): a tie in time is theirs.
            if added.last_seen_at is not None and (
                rollup.last_seen_at is None or added.last_seen_at >= rollup.last_seen_at
            ):
                rollup.last_seen_at = added.last_seen_at
                rollup.ratelimit_remaining_requests = added.ratelimit_remaining_requests
                rollup.ratelimit_remaining_tokens = added.ratelimit_remaining_tokens
            updated.append(rollup)
        rows_update(rows=updated, fields=_HOURLY_MEASURES)
        UsageHourly.objects.bulk_create(created, batch_size=1000)
        _usage_daily_apply({hour.date() for hour in hours}, {}, _daily_sums_of(delta.hourly.values()))
        _tokens_per_minute_add(delta.minutes)
        _latency_hours_changed(hours, stored.values())
    return len(updated) + len(created)


def _tokens_per_minute_add(minutes: Mapping[tuple, Mapping[datetime, list]]) -> None:
    """Add per-minute tokens of new requests to TokensPerMinuteHourly (what
    ``tokens_per_minute_compute`` gives for the hours with them): the minutes only grow, so the
    peak is the stored one or one of the minutes added to (the earliest of equal ones)."""
    if not minutes:
        return
    stored = {
        (r.hour.astimezone(UTC), r.apim_subscription_id): r
        for r in TokensPerMinuteHourly.objects.filter(
            hour__in={hour for hour, _ in minutes}, apim_subscription_id__in={sub for _, sub in minutes}
        )
    }
    updated, created = [], []
    for key, added in minutes.items():
        rollup = stored.get(key)
        if rollup is None:
            rollup = TokensPerMinuteHourly(
                hour=key[0], apim_subscription_id=key[1], product_id="", peak_tokens=-1, tokens_by_minute={}
            )
            created.append(rollup)
        else:
            updated.append(rollup)
        by_minute = rollup.tokens_by_minute
        for minute in sorted(added):
            tokens, product = added[minute]
            name = str(minute.minute)
            total = by_minute.get(name, 0) + tokens
            if total:
                by_minute[name] = total
            if total > rollup.peak_tokens or (total == rollup.peak_tokens and minute < rollup.peak_minute):
                rollup.peak_tokens, rollup.peak_minute = total, minute
            if product > rollup.product_id:
                rollup.product_id = product
    rows_update(rows=updated, fields=["product_id", "peak_tokens", "peak_minute", "tokens_by_minute"])
    TokensPerMinuteHourly.objects.bulk_create(created, batch_size=1000)


def _latency_hours_changed(hours: list[datetime], rollups: Iterable[UsageHourly]) -> None:
    """The UsageHourly rows of ``hours`` are now ``rollups``: refresh the latency rollups of those
    hours, or within ``latency_rollups_deferred`` mark them pending (in the caller's transaction)."""
    if _deferral.get() is None:
        _latency_hours_apply(hours, [{f: getattr(r, f) for f in _HOURLY_FIELDS} for r in rollups])
    else:
        LatencyPendingHour.objects.bulk_create(
            [LatencyPendingHour(hour=h) for h in hours], ignore_conflicts=True
        )


def _latency_hours_apply(hours: Iterable[datetime], values: list[dict]) -> int:
    """Replace ``hours`` in the latency rollups (LatencyDaily, LatencyHourOfDay, both
    per-subscription ones, and the spans over their days) by ``values``: every UsageHourly row of
    those hours, as ``_HOURLY_FIELDS`` dicts. Returns the number of LatencyDaily rows written."""
    written = 0
    refreshed: dict[date, set[str]] = {}
    for hour in map(hour_floor, hours):
        refreshed.setdefault(hour.date(), set()).add(str(hour.hour))
    entries = _hour_entries(values)
    by_subscription = _subscription_entries(values)
    by_hour_of_day = hour_of_day_entries(entries)
    for day, day_hours in refreshed.items():
        written += _latency_daily_apply(day, day_hours, entries.get(day, {}))
        _latency_hour_of_day_apply(
            day, day_hours, {key: hours for key, hours in by_hour_of_day.items() if key[0] == day}
        )
        _latency_subscription_apply(day, day_hours, by_subscription)
    _latency_spans_apply(refreshed)
    return written


# Hours whose latency rollups one ``latency_pending_refresh`` transaction refreshes at most.
_PENDING_HOURS_PER_TRANSACTION = 7 * 24


def latency_pending_refresh() -> int:
    """Refresh the latency rollups of every hour marked pending (LatencyPendingHour) from its
    UsageHourly rows, and unmark it in the same transaction. Returns the number of hours."""
    refreshed = 0
    while True:
        with transaction.atomic():
            _lock()
            hours = list(
                LatencyPendingHour.objects.order_by("hour").values_list("hour", flat=True)[
                    :_PENDING_HOURS_PER_TRANSACTION
                ]
            )
            if not hours:
                return refreshed
            values = list(UsageHourly.objects.filter(hour__in=hours).order_by().values(*_HOURLY_FIELDS))
            _latency_hours_apply(hours, values)
            LatencyPendingHour.objects.filter(hour__in=hours).delete()
        refreshed += len(hours)


class _Deferral:
    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self.refreshed_at = time.monotonic()


_deferral: ContextVar[_Deferral | None] = ContextVar("latency_rollups_deferral", default=None)


@contextmanager
def latency_rollups_deferred(*, every_seconds: float = 60.0) -> Iterator[None]:
    """Within this block (a long import: ``import_logs``, a Log Analytics pull) the latency rollups
    are refreshed every ``every_seconds`` (``latency_rollups_tick``) and when the block ends,
    instead of after every batch: they are the part of a batch's refresh that costs the same for
    a batch of ten rows as for ten thousand. UsageHourly, UsageDaily and TokensPerMinuteHourly stay
    current batch by batch.

    Hours a killed worker left pending are refreshed on entering. Nested blocks are one block.
    """
    if _deferral.get() is not None:
        yield
        return
    latency_pending_refresh()
    token = _deferral.set(_Deferral(every_seconds))
    try:
        yield
    finally:
        _deferral.reset(token)
    latency_pending_refresh()


def latency_rollups_defer_process(*, every_seconds: float = 60.0) -> None:
    """For the rest of this process, as inside ``latency_rollups_deferred``, without its refresh
    at the end: for the worker processes of a parallel import (``usage.ingestion.parallel``),
    whose parent runs inside ``latency_rollups_deferred`` and refreshes the marked hours."""
    _deferral.set(_Deferral(every_seconds))


def latency_rollups_tick() -> None:
    """Within ``latency_rollups_deferred``: refresh the pending hours if the last refresh was
    ``every_seconds`` ago (ingestion calls this between batches, outside their transactions)."""
    deferral = _deferral.get()
    if deferral is not None and time.monotonic() - deferral.refreshed_at >= deferral.every_seconds:
        latency_pending_refresh()
        deferral.refreshed_at = time.monotonic()


def latency_daily_refresh(*, days: Iterable[datetime]) -> int:
    """Rebuild the LatencyDaily, LatencyHourOfDay and both per-subscription latency rows of each UTC day
    (midnight datetimes) from UsageHourly, and the latency spans over those days."""
    written = 0
    for day_start in sorted({hour_floor(d).replace(hour=0) for d in days}):
        with transaction.atomic():
            _lock()
            rows = list(
                UsageHourly.objects.filter(hour__gte=day_start, hour__lt=day_start + timedelta(days=1))
                .order_by()
                .values(*_HOURLY_FIELDS)
            )
            written += _latency_hours_apply([day_start + timedelta(hours=h) for h in range(24)], rows)
    return written


def rollup_refresh_range(*, start: datetime, end: datetime) -> int:
    """Recompute every hour in [start, end)."""
    hours = []
    hour = hour_floor(start)
    while hour < min(end, _LAST_HOUR):
        hours.append(hour)
        hour += timedelta(hours=1)
    return rollup_refresh_hours(hours=hours)
