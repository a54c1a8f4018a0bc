"""p95 and 429 / 5xx shares per day, by API operation or by deployment (LatencyOperationDaily):
the latency page's trends per operation."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ..models import LatencyOperationDaily
from ..rollups.histograms import histogram_merge_into, histogram_percentiles
from .filters import LatencyFilters, _whole_days
from .percentiles import _round

TREND_GROUPINGS = {"operation": "API operation", "deployment": "deployment"}  # "per ..."
MAX_SERIES = 8  # the busiest groups; more lines would not be readable


@dataclass
class OperationSeries:
    group: str
    label: str
    requests: int = 0
    p95_ms: list[float | None] = field(default_factory=list)
    throttled_pct: list[float | None] = field(default_factory=list)
    error_pct: list[float | None] = field(default_factory=list)


@dataclass
class OperationTrends:
    by: str
    days: list[str]
    series: list[OperationSeries]
    groups: int  # groups seen, of which the busiest MAX_SERIES are in ``series``


@dataclass
class _Day:
    requests: int = 0
    throttled: int = 0
    errors: int = 0
    histogram: dict[str, int] = field(default_factory=dict)


def _in_range(filters: LatencyFilters, day: date, hour: str) -> bool:
    moment = datetime(day.year, day.month, day.day, int(hour), tzinfo=UTC)
    return filters.start <= moment < filters.end  # as UsageHourly's hours are chosen


def latency_operation_trends(*, filters: LatencyFilters, by: str = "operation") -> OperationTrends:
    """Per day of ``filters``' range, the p95 of total time and the 429 and 5xx shares of the
    busiest groups (``by`` an API operation or a deployment). Filtered by deployment, model and
    streaming kind (both kinds together unless one is asked for); not by subscription, which
    this rollup does not keep. Hours of a partial first or last day outside the range are left
    out, as the hourly rollup would leave them out."""
    key_name = by if by in TREND_GROUPINGS else "operation"
    queryset = LatencyOperationDaily.objects.filter(
        day__gte=filters.days[0], day__lte=filters.days[-1]
    ).order_by()
    if filters.deployment:
        queryset = queryset.filter(deployment=filters.deployment)
    if filters.model:
        queryset = queryset.filter(model=filters.model)
    if filters.streaming is not None:
        queryset = queryset.filter(is_streaming=filters.streaming)
    whole = _whole_days(filters)
    cells: dict[tuple[str, date], _Day] = {}
    totals: dict[str, int] = {}
    # A day's per-hour entries are read only where the range cuts the day: they are most of a
    # row's bytes.
    hours = () if whole else ("hours",)
    for row in queryset.values(key_name, "day", "requests", "throttled", "errors", "total_time_hist", *hours):
        group = row[key_name] or "(unknown)"
        cell = cells.setdefault((group, row["day"]), _Day())
        entries: list[tuple[int, int, int, Mapping[str, int]]]
        if whole:
            entries = [(row["requests"], row["throttled"], row["errors"], row["total_time_hist"])]
        else:
            entries = [tuple(e) for h, e in row["hours"].items() if _in_range(filters, row["day"], h)]
        for requests, throttled, errors, histogram in entries:
            cell.requests += requests
            cell.throttled += throttled
            cell.errors += errors
            histogram_merge_into(cell.histogram, histogram)
            totals[group] = totals.get(group, 0) + requests
    busiest = sorted((g for g in totals if totals[g]), key=lambda g: (-totals[g], g))
    series = []
    for group in busiest[:MAX_SERIES]:
        line = OperationSeries(group=group, label=group, requests=totals[group])
        for day in filters.days:
            found = cells.get((group, day))
            if found is None or not found.requests:
                line.p95_ms.append(None)
                line.throttled_pct.append(None)
                line.error_pct.append(None)
                continue
            p95 = histogram_percentiles(found.histogram, (0.95,))[0] if found.histogram else None
            line.p95_ms.append(_round(p95))
            line.throttled_pct.append(round(found.throttled / found.requests * 100, 2))
            line.error_pct.append(round(found.errors / found.requests * 100, 2))
        series.append(line)
    return OperationTrends(
        by=key_name, days=[d.isoformat() for d in filters.days], series=series, groups=len(busiest)
    )
