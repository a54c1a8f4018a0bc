"""Read latency measures from the hourly rollups (UsageHourly), never from the request table.

Percentiles come from merged per-hour histograms (``usage.rollups.histograms``), so any range and any
grouping is within one bucket width of the exact percentile over the raw requests; counts,
shares and tokens/second are sums of sums. Streaming and non-streaming requests are never mixed
in one row (a streamed time is time to the last byte).

Everything takes a ``LatencyFilters`` (a half-open UTC window ``[start, end)`` plus optional
deployment, model, streaming flag and APIM subscription) and reads the matching rollup rows once.

Five sources give the same answers (tests hold them to it): ``LatencyDaily`` (small: one row
per day, deployment, model, regions and streaming kind) with ``LatencyDailySpan`` (the same rows
summed over aligned spans of 2..256 days, so a month reads ~7 pieces instead of 30 days) for
whole-day ranges without a subscription filter (per-day views, the trends and grouping by day,
read LatencyDaily alone: ``latency_day_rows``); ``LatencyHourOfDay`` (per day, deployment, model
and streaming kind, keeping the hours; with ``LatencyHourOfDaySpan``, its spans, for whole-day
ranges) for grouping by hour of day without a subscription filter;
``LatencySubscriptionDaily`` (LatencyDaily's rows per APIM subscription, keeping the hours) for a
subscription filter over whole days, or grouped by hour of day; ``UsageHourly`` (per hour,
subscription, product and status class) otherwise. The latency rollups store packed histograms,
merged as integer "lanes" (``usage.rollups.histograms.histogram_lanes``); UsageHourly's are JSON dicts.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import BigIntegerField, Func, Q, QuerySet

from aoai_portal import params

from ..models import (
    LatencyDaily,
    LatencyDailySpan,
    LatencyHourOfDay,
    LatencyHourOfDaySpan,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    UsageHourly,
)
from ..regions import region_group, region_label
from ..rollups.histograms import (
    counts_percentiles,
    histogram_from_lanes,
    histogram_lanes,
    histogram_merge_into,
    histogram_percentiles,
    histograms_add_into,
    histograms_lanes,
    lanes_counts,
)
from ..rollups.spans import spans_cover

QUANTILES = (0.5, 0.95, 0.99)
# group_by names accepted by latency_rows -> how a rollup row is keyed.
GROUPINGS: dict[str, Callable[[dict], str | int]] = {
    # Region names (older rows may hold display names), ``unknown``, or ``gateway`` for requests
    # APIM answered itself (never sent to a backend): see usage.regions.
    "region": lambda row: region_group(row["backend_region"]),
    "apim_region": lambda row: region_group(row["apim_region"]),
    "deployment": lambda row: row["deployment"] or "(unknown)",
    "model": lambda row: row["model"] or "(unknown)",
    "hour_of_day": lambda row: (
        row["hour_of_day"] if "hour_of_day" in row else row["hour"].astimezone(UTC).hour
    ),
    "day": lambda row: _day_of(row).isoformat(),
}
GROUP_LABELS = {
    "region": "Backend region",
    "apim_region": "APIM region",
    "deployment": "Deployment",
    "model": "Model",
    "hour_of_day": "Hour of day (UTC)",
    "day": "Day (UTC)",
}
DEFAULT_DAYS = 7
MAX_DAYS = 366


def _day_of(row: Mapping) -> date:
    """The UTC day of a rollup row of either source."""
    return row["day"] if "day" in row else row["hour"].astimezone(UTC).date()


_DAILY_DIMENSIONS = ("day", "backend_region", "apim_region", "deployment", "model", "is_streaming")
_DAILY_COLUMNS = (
    *_DAILY_DIMENSIONS,
    "requests",
    "throttled",
    "errors",
    "total_time_hist",
    "backend_time_hist",
    "native_duration_hist",
    "overhead_hist",
    "total_time_by_hour",
    "requests_by_hour",
    "tps_completion_tokens",
    "tps_backend_ms",
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
)
_PACKED_DAY_HISTOGRAMS = ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist")
# What the per-day trends read of LatencyDaily: the dimensions and total time (a trend is its p95).
_TREND_COLUMNS = (*_DAILY_DIMENSIONS, "total_time_hist")
# LatencySubscriptionDaily: the day totals, and per hour of day what the heatmap needs.
_SUBSCRIPTION_DAILY_COLUMNS = (
    *(c for c in _DAILY_COLUMNS if not c.endswith("_by_hour")),
    "total_time_by_hour",
    "requests_by_hour",
)
# LatencySubscriptionRegionDaily: the same without the dimensions it sums over.
_SUBSCRIPTION_REGION_COLUMNS = tuple(
    c for c in _SUBSCRIPTION_DAILY_COLUMNS if c not in ("deployment", "model", "apim_region")
)
# Groupings that key rows by backend region or day only (as the charts do): with a subscription
# and no deployment or model filter they can read LatencySubscriptionRegionDaily.
REGION_GROUPINGS = ("region", "day")
_REGION_KEYED = ("region", "apim_region")  # groupings whose keys are regions (labelled by name)
_HOUR_OF_DAY_HISTOGRAMS = {
    "total_time_hist": "total_time_by_hour",
    "backend_time_hist": "backend_time_by_hour",
    "native_duration_hist": "native_duration_by_hour",
    "overhead_hist": "overhead_by_hour",
}
_COLUMNS = (
    "hour",
    "backend_region",
    "apim_region",
    "deployment",
    "model",
    "is_streaming",
    "status_class",
    "requests",
    "total_time_hist",
    "backend_time_hist",
    "native_duration_hist",
    "overhead_hist",
    "tps_completion_tokens",
    "tps_backend_ms",
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
)


@dataclass(frozen=True)
class LatencyFilters:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    deployment: str = ""
    model: str = ""
    streaming: bool | None = None  # None: both, in separate rows
    subscription: str = ""

    @property
    def days(self) -> list[date]:
        first = self.start.astimezone(UTC).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass
class LatencyRow:
    group: str | int
    streaming: bool
    label: str = ""  # what a page shows for ``group`` (a region's display name)
    requests: int = 0
    throttled: int = 0
    errors: int = 0
    total_p50_ms: float | None = None
    total_p95_ms: float | None = None
    total_p99_ms: float | None = None
    backend_p50_ms: float | None = None
    backend_p95_ms: float | None = None
    backend_p99_ms: float | None = None
    native_p50_ms: float | None = None
    native_p95_ms: float | None = None
    native_p99_ms: float | None = None
    overhead_p50_ms: float | None = None
    overhead_p95_ms: float | None = None
    overhead_p99_ms: float | None = None
    throttled_share: float = 0.0
    error_share: float = 0.0
    tokens_per_second: float | None = None
    last_seen_at: datetime | None = None
    ratelimit_remaining_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    # p95 of total time per day of the range (None where there were no requests).
    trend_p95_ms: list[float | None] = field(default_factory=list)


_HISTOGRAMS = ("total", "backend", "native", "overhead")


class _Accumulator:
    """Sums of rollup rows. Histograms come as JSON dicts (UsageHourly) or packed (the latency
    rollups); packed ones are added as integer lanes, and both kinds meet once, in ``histogram``."""

    __slots__ = (
        "requests",
        "throttled",
        "errors",
        "tps_tokens",
        "tps_ms",
        "hists",
        "lanes",
        "last_seen",
        "headroom",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.throttled = 0
        self.errors = 0
        self.tps_tokens = 0
        self.tps_ms = 0.0
        self.hists: dict[str, dict[str, int]] = {name: {} for name in _HISTOGRAMS}
        self.lanes: dict[str, int] = dict.fromkeys(_HISTOGRAMS, 0)
        self.last_seen: datetime | None = None
        self.headroom: tuple[int | None, int | None] = (None, None)

    def add(self, row: Mapping, *, histograms: Iterable[str] = _HISTOGRAMS) -> None:
        self.requests += row["requests"]
        if "status_class" not in row:  # latency rollup row: status classes already counted
            self.throttled += row["throttled"]
            self.errors += row["errors"]
        elif row["status_class"] == "429":
            self.throttled += row["requests"]
        elif row["status_class"] == "5xx":
            self.errors += row["requests"]
        self.tps_tokens += row["tps_completion_tokens"]
        self.tps_ms += row["tps_backend_ms"]
        for name in histograms:
            histogram = row[_HIST_COLUMNS[name]]
            if type(histogram) is dict:
                histogram_merge_into(self.hists[name], histogram)
            elif type(histogram) is int:  # lanes already (LatencyHourOfDay rows)
                self.lanes[name] += histogram
            elif histogram:  # packed
                self.lanes[name] += histogram_lanes(histogram)
        seen = row["last_seen_at"]
        if seen is not None and (self.last_seen is None or seen > self.last_seen):
            self.last_seen = seen
            self.headroom = (row["ratelimit_remaining_requests"], row["ratelimit_remaining_tokens"])

    def add_histogram(
        self, name: str, histogram: Mapping[str, int] | bytes | memoryview | int | None
    ) -> None:
        """Add a JSON histogram, a packed one, or lanes (an int) to the ``name`` histogram."""
        if isinstance(histogram, int):
            self.lanes[name] += histogram
        elif isinstance(histogram, bytes | memoryview):
            self.lanes[name] += histogram_lanes(histogram)
        else:
            histogram_merge_into(self.hists[name], histogram)

    def histogram(self, name: str) -> dict[str, int]:
        merged = histogram_from_lanes(self.lanes[name])
        histogram_merge_into(merged, self.hists[name])
        return merged

    def percentiles(self, name: str, quantiles: Sequence[float]) -> list[float | None]:
        if not self.hists[name]:  # only packed rows: straight from the lanes
            return counts_percentiles(lanes_counts(self.lanes[name]), quantiles)
        return histogram_percentiles(self.histogram(name), quantiles)

    def p95_total(self) -> float | None:
        return self.percentiles("total", (0.95,))[0]

    def row(self, group: str | int, streaming: bool) -> LatencyRow:
        result = LatencyRow(group=group, streaming=streaming, requests=self.requests)
        result.throttled = self.throttled
        result.errors = self.errors
        for name in _HISTOGRAMS:
            p50, p95, p99 = self.percentiles(name, QUANTILES)
            setattr(result, f"{name}_p50_ms", _round(p50))
            setattr(result, f"{name}_p95_ms", _round(p95))
            setattr(result, f"{name}_p99_ms", _round(p99))
        if self.requests:
            result.throttled_share = self.throttled / self.requests
            result.error_share = self.errors / self.requests
        if not streaming and self.tps_ms > 0:
            result.tokens_per_second = round(self.tps_tokens / (self.tps_ms / 1000.0), 2)
        result.last_seen_at = self.last_seen
        result.ratelimit_remaining_requests, result.ratelimit_remaining_tokens = self.headroom
        return result


_HIST_COLUMNS = {
    "total": "total_time_hist",
    "backend": "backend_time_hist",
    "native": "native_duration_hist",
    "overhead": "overhead_hist",
}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def latency_filters_default(*, now: datetime | None = None) -> LatencyFilters:
    """The last DEFAULT_DAYS whole UTC days including today."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)
    return LatencyFilters(start=end - timedelta(days=DEFAULT_DAYS), end=end)


def _whole_days(filters: LatencyFilters) -> bool:
    return all(
        moment.astimezone(UTC).time() == time.min and moment.utcoffset() is not None
        for moment in (filters.start, filters.end)
    )


class _EpochMicroseconds(Func):
    """A PostgreSQL timestamptz as whole microseconds since 1970 (EXTRACT gives exact numeric)."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
    output_field = BigIntegerField()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _values(queryset: QuerySet, columns: Sequence[str]) -> list[dict]:
    """``queryset.values(*columns)`` as a list; on PostgreSQL ``last_seen_at`` travels as an integer
    (psycopg's pure-Python timestamptz parser costs tens of microseconds a value: a sixth of a
    month's page) and becomes the same datetime here."""
    if connection.vendor != "postgresql" or "last_seen_at" not in columns:
        return list(queryset.values(*columns))
    rows = list(
        queryset.annotate(last_seen_us=_EpochMicroseconds("last_seen_at")).values(
            *(c for c in columns if c != "last_seen_at"), "last_seen_us"
        )
    )
    for row in rows:
        microseconds = row.pop("last_seen_us")
        row["last_seen_at"] = None if microseconds is None else _EPOCH + timedelta(microseconds=microseconds)
    return rows


def _filtered(queryset: QuerySet, filters: LatencyFilters) -> QuerySet:
    """``queryset`` narrowed by the deployment, model and streaming filters (all rollups have them)."""
    if filters.deployment:
        queryset = queryset.filter(deployment=filters.deployment)
    if filters.model:
        queryset = queryset.filter(model=filters.model)
    if filters.streaming is not None:
        queryset = queryset.filter(is_streaming=filters.streaming)
    return queryset


def _day_and_span_sources(day_model: type, span_model: type, first: date, end: date) -> list[QuerySet]:
    """The querysets that read the days ``[first, end)`` as the fewest aligned pieces
    (``usage.rollups.spans.spans_cover``): ``day_model`` rows for single days, ``span_model`` rows for
    spans (one query each, at most two)."""
    pieces = spans_cover(first, end)
    days = [day for day, length in pieces if length == 1]
    spans = [Q(day=day, span_days=length) for day, length in pieces if length > 1]
    return [
        *([day_model.objects.filter(day__in=days)] if days else []),
        *([span_model.objects.filter(reduce(or_, spans))] if spans else []),
    ]


def _hour_of_day_rows(filters: LatencyFilters) -> list[dict]:
    """One row per hour of day, deployment, model and streaming kind, from LatencyHourOfDay
    (or LatencySubscriptionDaily with a subscription filter: same per-hour columns, summed over
    its regions here).

    The range's days are summed here already (rows carry ``hour_of_day``, no ``hour`` or
    ``day``, and their histograms as lanes), so grouping by hour of day accumulates at most
    24 x deployments x 2 rows. Hours of the first and last day outside ``[start, end)`` are left
    out, as the hourly rollup would leave them out.
    """
    whole_days = _whole_days(filters)
    first, last = filters.start.astimezone(UTC).date(), filters.days[-1]
    if filters.subscription:
        sources = [
            LatencySubscriptionDaily.objects.filter(
                apim_subscription_id=filters.subscription, day__gte=first, day__lte=last
            )
        ]
    elif whole_days:  # single days and spans (LatencyHourOfDaySpan rows sum whole days)
        sources = _day_and_span_sources(
            LatencyHourOfDay, LatencyHourOfDaySpan, first, last + timedelta(days=1)
        )
    else:
        sources = [LatencyHourOfDay.objects.filter(day__gte=first, day__lte=last)]
    groups: dict[tuple, dict] = {}
    # {histogram: {(dims, hour of day): lanes}}, summed over the days, put into ``groups`` at the end
    lanes: dict[str, dict[tuple, int]] = {name: {} for name in _HOUR_OF_DAY_HISTOGRAMS}
    columns = (
        "day",
        "deployment",
        "model",
        "is_streaming",
        "measures_by_hour",
        *_HOUR_OF_DAY_HISTOGRAMS.values(),
    )
    for day_row in (
        row for source in sources for row in _filtered(source, filters).order_by().values(*columns)
    ):
        midnight = datetime.combine(day_row["day"], time.min, tzinfo=UTC)
        dims = (day_row["deployment"], day_row["model"], day_row["is_streaming"])
        in_range = None  # every hour of the day
        if not whole_days and not filters.start <= midnight < midnight + timedelta(days=1) <= filters.end:
            in_range = {h for h in range(24) if filters.start <= midnight + timedelta(hours=h) < filters.end}
        for hour, measures in day_row["measures_by_hour"].items():
            hour_of_day = int(hour)
            if in_range is not None and hour_of_day not in in_range:
                continue
            row = groups.get((hour_of_day, *dims))
            if row is None:
                row = groups[(hour_of_day, *dims)] = {
                    "hour_of_day": hour_of_day,
                    **dict(zip(("deployment", "model", "is_streaming"), dims, strict=True)),
                    "requests": 0,
                    "throttled": 0,
                    "errors": 0,
                    "tps_completion_tokens": 0,
                    "tps_backend_ms": 0.0,
                    **dict.fromkeys(_HOUR_OF_DAY_HISTOGRAMS, 0),
                    "last_seen_at": None,
                    "ratelimit_remaining_requests": None,
                    "ratelimit_remaining_tokens": None,
                }
            requests, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = measures
            row["requests"] += requests
            row["throttled"] += throttled
            row["errors"] += errors
            row["tps_completion_tokens"] += tps_tokens
            row["tps_backend_ms"] += tps_ms
            if seen is not None:
                seen = datetime.fromisoformat(seen)
                if row["last_seen_at"] is None or seen > row["last_seen_at"]:
                    row["last_seen_at"] = seen
                    row["ratelimit_remaining_requests"] = rl_requests
                    row["ratelimit_remaining_tokens"] = rl_tokens
        for name, column in _HOUR_OF_DAY_HISTOGRAMS.items():
            if in_range is None:
                histograms_add_into(lanes[name], day_row[column], dims)
                continue
            target = lanes[name]
            for hour_of_day, hour_lanes in histograms_lanes(day_row[column]):
                if hour_of_day in in_range:
                    target[(dims, hour_of_day)] = target.get((dims, hour_of_day), 0) + hour_lanes
    for (hour_of_day, *dims), row in groups.items():
        for name in _HOUR_OF_DAY_HISTOGRAMS:
            row[name] = lanes[name].get((tuple(dims), hour_of_day), 0)
    return list(groups.values())


def latency_rollup_rows(
    *,
    filters: LatencyFilters,
    hourly: bool = False,
    with_hours: bool = True,
    by_hour_of_day: bool = False,
    per_day: bool = False,
    trend_only: bool = False,
    regions_only: bool = False,
) -> list[dict]:
    """The rollup rows matching ``filters`` (only the columns latency needs).

    Unless ``hourly``: per-hour rows from LatencyHourOfDay (LatencySubscriptionDaily with a
    subscription filter) for ``by_hour_of_day`` (any range: they keep the hours), else, when the
    range is whole UTC days, LatencySubscriptionDaily rows with a subscription filter and without
    one LatencyDailySpan rows (carrying ``span_days``) and LatencyDaily rows for the days no span
    covers (only LatencyDaily rows with ``per_day``); otherwise UsageHourly rows. All kinds go
    through the same accumulation. Without ``with_hours`` the per-hour-of-day columns of daily
    rows (only the heatmap needs them) are not read; with ``trend_only`` (LatencyDaily rows) only
    what the per-day trends read. With ``regions_only`` (the caller keys rows by backend region
    or day only: ``REGION_GROUPINGS`` and the charts) a subscription without a deployment or model
    filter is read from LatencySubscriptionRegionDaily, whose rows lack the dimensions it sums over.
    """
    if by_hour_of_day and not hourly:
        return _hour_of_day_rows(filters)
    if not hourly and _whole_days(filters):
        first, end = filters.start.astimezone(UTC).date(), filters.end.astimezone(UTC).date()
        if filters.subscription:
            by_region = regions_only and not (filters.deployment or filters.model)
            all_columns = _SUBSCRIPTION_REGION_COLUMNS if by_region else _SUBSCRIPTION_DAILY_COLUMNS
            model = LatencySubscriptionRegionDaily if by_region else LatencySubscriptionDaily
            sources = [
                model.objects.filter(apim_subscription_id=filters.subscription, day__gte=first, day__lt=end)
            ]
        else:
            all_columns = _TREND_COLUMNS if trend_only else _DAILY_COLUMNS
            if per_day:
                sources = [LatencyDaily.objects.filter(day__gte=first, day__lt=end)]
            else:
                sources = _day_and_span_sources(LatencyDaily, LatencyDailySpan, first, end)
        columns = [c for c in all_columns if with_hours or not c.endswith("_by_hour")]
        rows = []
        for source in sources:
            wanted = [*columns, "span_days"] if source.model is LatencyDailySpan else columns
            rows += _values(_filtered(source, filters).order_by(), wanted)
        packed = [c for c in _PACKED_DAY_HISTOGRAMS if c in columns]
        for row in rows:  # unpacked once here, not by each grouping that adds the row
            for column in packed:
                row[column] = histogram_lanes(row[column])
        return rows
    queryset = _filtered(UsageHourly.objects.filter(hour__gte=filters.start, hour__lt=filters.end), filters)
    if filters.subscription:
        queryset = queryset.filter(apim_subscription_id=filters.subscription)
    return _values(queryset.order_by(), _COLUMNS)


def latency_day_rows(*, filters: LatencyFilters, rows: list[dict], trend_only: bool = True) -> list[dict]:
    """``rows`` (from ``latency_rollup_rows``) if they are per day or finer, else the range's
    LatencyDaily rows: what per-day answers (trends, grouping by day) are summed from. With
    ``trend_only`` only the columns the trends read."""
    if not any("span_days" in row for row in rows):
        return rows
    return latency_rollup_rows(filters=filters, with_hours=False, per_day=True, trend_only=trend_only)


def _sort_key(row: LatencyRow) -> tuple:
    group = row.group
    return (isinstance(group, str), group if isinstance(group, str) else f"{group:05d}", row.streaming)


def latency_rows(
    *,
    filters: LatencyFilters,
    group_by: str,
    rows: list[dict] | None = None,
    day_rows: list[dict] | None = None,
    with_trend: bool = False,
) -> list[LatencyRow]:
    """One LatencyRow per group and streaming kind, ordered by group then non-streaming first.

    ``group_by`` is a key of GROUPINGS. ``rows`` lets a caller reuse rollup rows it already read,
    ``day_rows`` the per-day rows (``latency_day_rows``) it read for the trends. With
    ``with_trend`` each row also carries the p95 of total time per day of the range.
    """
    key_of = GROUPINGS[group_by]
    by_hour_of_day = group_by == "hour_of_day"
    if rows is None or (by_hour_of_day and rows and "hour" not in rows[0] and "hour_of_day" not in rows[0]):
        # Hour-of-day rows from LatencyHourOfDay have the days summed already: a trend per day
        # (never asked for with this grouping by the page or the API) needs the hourly rollup.
        rows = latency_rollup_rows(
            filters=filters,
            with_hours=False,
            by_hour_of_day=by_hour_of_day,
            hourly=by_hour_of_day and with_trend,
            per_day=group_by == "day",
            regions_only=group_by in REGION_GROUPINGS,
        )
    if group_by == "day":
        rows = latency_day_rows(filters=filters, rows=rows, trend_only=False)
    groups: dict[tuple, _Accumulator] = {}
    for row in rows:
        key = (key_of(row), row["is_streaming"])
        accumulator = groups.get(key)
        if accumulator is None:
            accumulator = groups[key] = _Accumulator()
        accumulator.add(row)
    daily: dict[tuple, _Accumulator] = {}
    if with_trend:
        for row in day_rows if day_rows is not None else latency_day_rows(filters=filters, rows=rows):
            day_key = (key_of(row), row["is_streaming"], _day_of(row))
            day = daily.get(day_key)
            if day is None:
                day = daily[day_key] = _Accumulator()
            day.add_histogram("total", row["total_time_hist"])  # a trend is a p95 of total time
    result = []
    days = filters.days if with_trend else []
    for (group, streaming), accumulator in groups.items():
        latency_row = accumulator.row(group, streaming)
        latency_row.label = region_label(group) if group_by in _REGION_KEYED else str(group)
        if with_trend:
            latency_row.trend_p95_ms = [
                _round(daily[(group, streaming, d)].p95_total()) if (group, streaming, d) in daily else None
                for d in days
            ]
        result.append(latency_row)
    return sorted(result, key=_sort_key)


@dataclass
class LatencyCharts:
    """p95 of total time by backend region x hour of day, and by backend region x day."""

    streaming: bool
    regions: list[str]
    region_labels: list[str]  # display names of ``regions``
    hours: list[int]
    heatmap_p95_ms: list[list[float | None]]  # [region][hour]
    heatmap_requests: list[list[int]]
    days: list[str]
    trend_p95_ms: list[list[float | None]]  # [region][day]


def _p95(lanes: int, histogram: Mapping[str, int] | None = None) -> float | None:
    """p95 of the histogram whose packed part is ``lanes`` plus the JSON ``histogram`` (if any)."""
    if not histogram:
        return _round(counts_percentiles(lanes_counts(lanes), (0.95,))[0])
    merged = histogram_from_lanes(lanes)
    histogram_merge_into(merged, histogram)
    return _round(histogram_percentiles(merged, (0.95,))[0])


def latency_charts(
    *, filters: LatencyFilters, rows: list[dict] | None = None, day_rows: list[dict] | None = None
) -> LatencyCharts:
    """The heatmap and line-chart data for one streaming kind.

    With ``filters.streaming`` unset the charts show non-streaming requests (mixing the two would
    make the p95 meaningless). Only total time is charted, so the rows' total-time histograms
    are summed as plain lanes (packed rows) or merged dicts (UsageHourly rows) per cell. The
    heatmap adds up ``rows``, the line chart per-day rows (``day_rows``, or
    ``latency_day_rows`` of ``rows``).
    """
    streaming = bool(filters.streaming)
    if rows is None:
        rows = latency_rollup_rows(filters=filters, regions_only=True)
    if day_rows is None:
        day_rows = latency_day_rows(filters=filters, rows=rows)
    # (region, hour of day) and (region, day) -> lanes, JSON histogram, requests
    hour_lanes: dict[tuple[str, int], int] = {}
    hour_json: dict[tuple[str, int], dict[str, int]] = {}
    hour_requests: dict[tuple[str, int], int] = {}
    day_lanes: dict[tuple[str, date], int] = {}
    day_json: dict[tuple[str, date], dict[str, int]] = {}
    region_of = GROUPINGS["region"]
    for row in rows:  # the heatmap
        if row["is_streaming"] != streaming:
            continue
        region = region_of(row)
        if "hour" in row:  # UsageHourly: JSON histograms, one hour each
            hour_key = (region, row["hour"].astimezone(UTC).hour)
            histogram_merge_into(hour_json.setdefault(hour_key, {}), row["total_time_hist"])
            hour_requests[hour_key] = hour_requests.get(hour_key, 0) + row["requests"]
            continue
        for hour, requests in row["requests_by_hour"].items():
            hour_key = (region, int(hour))
            hour_requests[hour_key] = hour_requests.get(hour_key, 0) + requests
        histograms_add_into(hour_lanes, row["total_time_by_hour"], region)
    for row in day_rows:  # the line chart
        if row["is_streaming"] != streaming:
            continue
        day_key = (region_of(row), _day_of(row))
        histogram = row["total_time_hist"]
        if "hour" in row:
            day_lanes.setdefault(day_key, 0)
            histogram_merge_into(day_json.setdefault(day_key, {}), histogram)
        else:
            day_lanes[day_key] = day_lanes.get(day_key, 0) + (
                histogram if type(histogram) is int else histogram_lanes(histogram)
            )
    regions = sorted({region for region, _ in hour_requests})
    hours = list(range(24))
    days = filters.days
    return LatencyCharts(
        streaming=streaming,
        regions=regions,
        region_labels=[region_label(r) for r in regions],
        hours=hours,
        heatmap_p95_ms=[
            [_p95(hour_lanes.get((r, h), 0), hour_json.get((r, h))) for h in hours] for r in regions
        ],
        heatmap_requests=[[hour_requests.get((r, h), 0) for h in hours] for r in regions],
        days=[d.isoformat() for d in days],
        trend_p95_ms=[
            [_p95(day_lanes[(r, d)], day_json.get((r, d))) if (r, d) in day_lanes else None for d in days]
            for r in regions
        ],
    )


def latency_choices(*, filters: LatencyFilters) -> dict[str, list[str]]:
    """Distinct deployments and models seen in the range's days (for the filter lists).

    Read from LatencyDaily (small); subscriptions are typed, since listing the distinct
    subscriptions of a range would scan the hourly rollup.
    """
    queryset = LatencyDaily.objects.filter(
        day__gte=filters.start.astimezone(UTC).date(), day__lte=filters.days[-1]
    ).order_by()
    return {
        name: sorted(v for v in queryset.values_list(name, flat=True).distinct() if v)
        for name in ("deployment", "model")
    }


class LatencyFilterError(ValueError):
    """A filter value that cannot be understood; the message is meant for the user."""


def _parse_moment(value: str, *, name: str, is_end: bool) -> datetime:
    value = value.strip()
    try:
        moment = params.datetime_parse(value, name=f"'{name}'")
    except params.ParamError as error:
        raise LatencyFilterError(str(error)) from None
    # A date as the end of a range includes that whole day.
    return moment + timedelta(days=1) if is_end and len(value) == 10 else moment


_TRUE = {"1", "true", "yes", "streaming"}
_FALSE = {"0", "false", "no", "non-streaming"}


def latency_filters_parse(*, params: Mapping[str, str], now: datetime | None = None) -> LatencyFilters:
    """Filters from a query string: from, to, deployment, model, streaming, subscription.

    Missing dates default to the last DEFAULT_DAYS days; a date-only ``to`` includes that day.
    Raises LatencyFilterError with a readable message for values that make no sense.
    """
    default = latency_filters_default(now=now)
    start = _parse_moment(params["from"], name="from", is_end=False) if params.get("from") else None
    end = _parse_moment(params["to"], name="to", is_end=True) if params.get("to") else None
    if start is None and end is None:
        start, end = default.start, default.end
    elif start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    elif end is None:
        end = max(default.end, start + timedelta(days=1))
    if end <= start:
        raise LatencyFilterError("'to' must be after 'from'.")
    if end - start > timedelta(days=MAX_DAYS):
        raise LatencyFilterError(f"The range may span at most {MAX_DAYS} days.")
    streaming_text = (params.get("streaming") or "").strip().lower()
    if streaming_text in ("", "all", "both"):
        streaming = None
    elif streaming_text in _TRUE:
        streaming = True
    elif streaming_text in _FALSE:
        streaming = False
    else:
        raise LatencyFilterError("'streaming' must be true, false or empty (both).")
    return LatencyFilters(
        start=start,
        end=end,
        deployment=(params.get("deployment") or "").strip(),
        model=(params.get("model") or "").strip(),
        streaming=streaming,
        subscription=(params.get("subscription") or "").strip(),
    )
