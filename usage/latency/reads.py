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
subscription, product and status class) otherwise (a range that starts before the hourly
horizon is read as whole days: ``latency_filters_widened``). The latency rollups store packed
histograms, merged as integer "lanes" (``usage.rollups.histograms.histogram_lanes``); UsageHourly's
are JSON dicts.
"""

from datetime import UTC

from ..models import (
    LatencyDaily,
    LatencyDailySpan,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    UsageHourly,
)
from ..rollups.histograms import histogram_lanes
from .filters import LatencyFilters, _whole_days, latency_filters_widened
from .hour_of_day import _hour_of_day_rows
from .queries import _day_and_span_sources, _filtered, _values

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
    if not hourly:
        filters = latency_filters_widened(filters)  # no hourly rows before the hourly horizon
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
