"""The latency page's charts: p95 of total time by backend region and hour of day (the heatmap)
and by backend region and day (the line chart)."""

from dataclasses import dataclass
from datetime import UTC, date

from ..regions import region_label
from ..rollups.histograms import histogram_lanes, histogram_merge_into, histograms_add_into
from .filters import LatencyFilters
from .groups import GROUPINGS, _day_of
from .percentiles import _p95
from .reads import latency_day_rows, latency_rollup_rows


@dataclass
class LatencyCharts:
    """p95 of total time by backend region x hour of day, and by backend region x day."""

    streaming: bool | None  # None: all requests (``filters.combined``)
    regions: list[str]
    region_labels: list[str]  # display names of ``regions``
    hours: list[int]
    heatmap_p95_ms: list[list[float | None]]  # [region][hour]
    heatmap_requests: list[list[int]]
    days: list[str]
    trend_p95_ms: list[list[float | None]]  # [region][day]


def latency_charts(
    *, filters: LatencyFilters, rows: list[dict] | None = None, day_rows: list[dict] | None = None
) -> LatencyCharts:
    """The heatmap and line-chart data for one streaming kind.

    With ``filters.streaming`` unset the charts show non-streaming requests (a streamed time is
    time to the last byte), unless ``filters.combined`` asks for all requests together. Only total time is charted, so the rows' total-time histograms
    are summed as plain lanes (packed rows) or merged dicts (UsageHourly rows) per cell. The
    heatmap adds up ``rows``, the line chart per-day rows (``day_rows``, or
    ``latency_day_rows`` of ``rows``).
    """
    streaming: bool | None = None if filters.combined else bool(filters.streaming)
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
        if streaming is not None and row["is_streaming"] != streaming:
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
        if streaming is not None and row["is_streaming"] != streaming:
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
