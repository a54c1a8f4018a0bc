"""Maintain the latency spans (LatencyDailySpan, LatencyHourOfDaySpan): the rows over aligned spans
of days (``usage.rollups.spans``) holding a changed day are re-summed from their two halves
(``latency_spans_apply``), shortest spans first, so each span holds exactly the sums of its days.
"""

import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from functools import reduce

from django.db.models import Q

from ..db.copy import rows_insert
from ..models import LatencyDaily, LatencyDailySpan, LatencyHourOfDay, LatencyHourOfDaySpan
from .entries import BY_HOUR_COLUMNS, LATENCY_DIMENSIONS, PACKED_COLUMNS
from .histograms import histogram_lanes, histogram_pack_lanes, histograms_add_into, histograms_pack_lanes
from .spans import SPAN_DAYS, span_day_covered, span_start

# What a LatencyDailySpan row sums from its halves (LatencyDaily or shorter-span rows).
_SPAN_COLUMNS = (
    "day",
    *LATENCY_DIMENSIONS,
    "requests",
    "throttled",
    "errors",
    "tps_completion_tokens",
    "tps_backend_ms",
    *PACKED_COLUMNS.values(),
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
        dims = tuple(row[d] for d in LATENCY_DIMENSIONS)
        target = sums.get(dims)
        if target is None:
            target = sums[dims] = {
                **dict.fromkeys(_SPAN_COUNTS, 0),
                "lanes": dict.fromkeys(PACKED_COLUMNS.values(), 0),
                "by_hour": {},
                "requests_by_hour": {},
                "last_seen_at": None,
                "ratelimit_remaining_requests": None,
                "ratelimit_remaining_tokens": None,
            }
        for name in _SPAN_COUNTS:
            target[name] += row[name]
        for column in PACKED_COLUMNS.values():
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
            **dict(zip(LATENCY_DIMENSIONS, dims, strict=True)),
            **target,
            **{column: histogram_pack_lanes(lanes[column]) for column in PACKED_COLUMNS.values()},
            "total_time_by_hour": histograms_pack_lanes(by_hour),
            "requests_by_hour": {
                hour: target["requests_by_hour"][hour] for hour in sorted(target["requests_by_hour"], key=int)
            },
        }
    return merged


_HOUR_OF_DAY_DIMENSIONS = ("deployment", "model", "is_streaming")
_HOUR_OF_DAY_SPAN_COLUMNS = ("day", *_HOUR_OF_DAY_DIMENSIONS, "measures_by_hour", *BY_HOUR_COLUMNS.values())


def hour_of_day_span_merge(rows: Iterable[Mapping]) -> dict[tuple, dict]:
    """Rows with ``_HOUR_OF_DAY_SPAN_COLUMNS`` (LatencyHourOfDay or LatencyHourOfDaySpan values, in
    day order) summed per deployment, model and streaming kind, hour by hour: {dims:
    LatencyHourOfDaySpan field values but day and span_days}. Pure, like ``latency_span_merge``."""
    sums: dict[tuple, dict] = {}
    for row in rows:
        dims = tuple(row[d] for d in _HOUR_OF_DAY_DIMENSIONS)
        target = sums.get(dims)
        if target is None:
            target = sums[dims] = {"measures": {}, **{column: {} for column in BY_HOUR_COLUMNS.values()}}
        measures = target["measures"]
        for hour, values in row["measures_by_hour"].items():
            current = measures.get(hour)
            if current is None:
                measures[hour] = list(values)
                continue
            for i in range(5):  # requests, throttled, errors, tps tokens, tps ms (MEASURE_ORDER)
                current[i] += values[i]
            seen = values[5]  # ISO text in UTC: compares as the moments do
            if seen is not None and (current[5] is None or seen > current[5]):
                current[5:] = values[5:]
        for column in BY_HOUR_COLUMNS.values():
            histograms_add_into(target[column], row[column], None)
    return {
        dims: {
            **dict(zip(_HOUR_OF_DAY_DIMENSIONS, dims, strict=True)),
            "measures_by_hour": {
                hour: target["measures"][hour] for hour in sorted(target["measures"], key=int)
            },
            **{
                column: histograms_pack_lanes({hour: lanes for (_, hour), lanes in target[column].items()})
                for column in BY_HOUR_COLUMNS.values()
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
    its two halves, shortest spans first, so each longer span adds up fresh shorter ones.

    A refresh runs after every pull, so its round trips count: the halves that are not rebuilt
    here (the days of the 2-day spans, the untouched sibling of every longer span) are read in
    two queries, the spans summed in memory level by level, then replaced in one delete and one
    insert.
    """
    days = {day for day in days if span_day_covered(day)}
    if not days:
        return
    starts = {span_days: {span_start(day, span_days) for day in days} for span_days in SPAN_DAYS}
    targets = {(start, span_days) for span_days in SPAN_DAYS for start in starts[span_days]}
    siblings = {
        (start + timedelta(days=offset), span_days // 2)
        for span_days in SPAN_DAYS[1:]
        for start in starts[span_days]
        for offset in (0, span_days // 2)
    } - targets
    halves: dict[tuple[date, int], list[Mapping]] = defaultdict(list)
    pair_days = [start + timedelta(days=offset) for start in starts[SPAN_DAYS[0]] for offset in (0, 1)]
    for row in day_model.objects.filter(day__in=pair_days).order_by("day", *dimensions).values(*columns):
        halves[(row["day"], 1)].append(row)
    if siblings:
        stored = span_model.objects.filter(_spans_where(siblings)).order_by("day", *dimensions)
        for row in stored.values(*columns, "span_days"):
            halves[(row["day"], row["span_days"])].append(row)
    rows = []
    for span_days in SPAN_DAYS:
        half = span_days // 2
        for start in sorted(starts[span_days]):
            children = [*halves[(start, half)], *halves[(start + timedelta(days=half), half)]]
            merged = list(merge(children).values())
            halves[(start, span_days)] = merged
            rows += [span_model(day=start, span_days=span_days, **fields) for fields in merged]
    span_model.objects.filter(_spans_where(targets)).delete()
    rows_insert(rows=rows)


def _spans_where(spans: set[tuple[date, int]]) -> Q:
    """The rows of ``spans`` ({(first day, length)}): one condition per length."""
    by_length: dict[int, list[date]] = defaultdict(list)
    for start, span_days in spans:
        by_length[span_days].append(start)
    return reduce(
        operator.or_,
        (Q(span_days=span_days, day__in=sorted(starts)) for span_days, starts in sorted(by_length.items())),
    )


def latency_spans_apply(days: Iterable[date]) -> None:
    """Re-sum the LatencyDailySpan and LatencyHourOfDaySpan rows over ``days``."""
    days = set(days)
    _spans_apply(
        days,
        day_model=LatencyDaily,
        span_model=LatencyDailySpan,
        dimensions=LATENCY_DIMENSIONS,
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
