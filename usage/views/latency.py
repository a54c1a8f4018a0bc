"""Latency per region: the region overview page (table, heatmap, trends), filtered by query string."""

from dataclasses import asdict

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import FINANCE, REVIEWER, role_required

from ..latency.charts import latency_charts
from ..latency.filters import (
    LatencyFilterError,
    latency_choices,
    latency_filters_default,
    latency_filters_parse,
)
from ..latency.groups import GROUP_LABELS, REGION_GROUPINGS, latency_rows
from ..latency.operations import TREND_GROUPINGS, latency_operation_trends
from ..latency.reads import latency_day_rows, latency_rollup_rows

SPARK_WIDTH, SPARK_HEIGHT = 120, 24
# The table's column groups (one shown at a time, so that the table fits a laptop screen): the
# ``cols`` query parameter -> its tab's label.
COLUMN_GROUPS = {"latency": "Latency", "errors": "Errors and throttling", "throughput": "Throughput"}
# The heatmap's sequential scale: a cell's step is the number of bounds (ms) its p95 reaches, so
# light is fast and dark is slow; doubling steps keep 250 ms and 16 s apart on one page.
HEATMAP_BOUNDS_MS = (250, 500, 1000, 2000, 4000, 8000, 16000)
STREAMING_VALUES = {None: "", True: "true", False: "false"}


def sparkline_points(values: list[float | None]) -> str:
    """SVG polyline points for ``values`` (gaps skipped), scaled into SPARK_WIDTH x SPARK_HEIGHT."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(present) < 2:
        return ""
    low = min(v for _, v in present)
    high = max(v for _, v in present)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4):.1f}" for i, v in present
    )


def heatmap_step(p95_ms: float | None) -> int | None:
    """The colour step (0 = fastest) of a heatmap cell; None for a cell without requests."""
    if p95_ms is None:
        return None
    return sum(1 for bound in HEATMAP_BOUNDS_MS if p95_ms >= bound)


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms // 1000} s"


def _seconds(ms: float | None) -> str:
    """A cell's p95 in seconds, short enough for a cell: ``<0.1``, ``0.8``, ``2.4``, ``15``."""
    if ms is None:
        return ""
    if ms < 50:  # would read "0.0"
        return "<0.1"
    return f"{ms / 1000:.1f}" if ms < 9950 else f"{ms / 1000:.0f}"


def heatmap_legend() -> list[dict]:
    """One entry per colour step, fastest first: its step and the range of p95 it stands for."""
    bounds = HEATMAP_BOUNDS_MS
    legend = [{"step": 0, "text": f"under {_duration(bounds[0])}"}]
    for step, (low, high) in enumerate(zip(bounds, bounds[1:], strict=False), start=1):
        legend.append({"step": step, "text": f"{_duration(low)}–{_duration(high)}"})
    legend.append({"step": len(bounds), "text": f"{_duration(bounds[-1])} and more"})
    return legend


def heatmap_rows(charts: dict) -> list[dict]:
    """The heatmap as table rows: a region's label and, per hour of day, its p95, requests, step."""
    return [
        {
            "label": label,
            "cells": [
                {
                    "hour": hour,
                    "p95_ms": p95,
                    "requests": requests,
                    "step": heatmap_step(p95),
                    "seconds": _seconds(p95),
                }
                for hour, p95, requests in zip(charts["hours"], p95s, counts, strict=True)
            ],
        }
        for label, p95s, counts in zip(
            charts["region_labels"], charts["heatmap_p95_ms"], charts["heatmap_requests"], strict=True
        )
    ]


@role_required(FINANCE, REVIEWER)
def region_overview(request: HttpRequest) -> HttpResponse:
    error = ""
    try:
        filters = latency_filters_parse(params=request.GET)
    except LatencyFilterError as problem:
        error = str(problem)
        filters = latency_filters_default()
    group = request.GET.get("group", "region")
    if group not in GROUP_LABELS:
        group = "region"
    columns = request.GET.get("cols", "latency")
    if columns not in COLUMN_GROUPS:
        columns = "latency"
    rows = latency_rollup_rows(filters=filters, regions_only=group in REGION_GROUPINGS)
    day_rows = latency_day_rows(filters=filters, rows=rows)  # read once for both trends
    with_trend = group not in ("hour_of_day", "day")
    table = latency_rows(filters=filters, group_by=group, rows=rows, day_rows=day_rows, with_trend=with_trend)
    for row in table:
        row.sparkline = sparkline_points(row.trend_p95_ms) if with_trend else ""
        row.throttled_pct = row.throttled_share * 100
        row.error_pct = row.error_share * 100
    charts = asdict(latency_charts(filters=filters, rows=rows, day_rows=day_rows))
    trend_by = request.GET.get("trend", "operation")
    if trend_by not in TREND_GROUPINGS:
        trend_by = "operation"
    trends = asdict(latency_operation_trends(filters=filters, by=trend_by))
    query = request.GET.copy()
    query.pop("cols", None)
    trend_query = request.GET.copy()
    trend_query.pop("trend", None)
    context = {
        "filters": filters,
        "filter_to": filters.days[-1],
        "streaming_value": "combined" if filters.combined else STREAMING_VALUES[filters.streaming],
        "group": group,
        "group_label": GROUP_LABELS[group],
        "group_labels": GROUP_LABELS,
        "columns": columns,
        "column_groups": COLUMN_GROUPS,
        "columns_label": COLUMN_GROUPS[columns],
        "query_without_columns": query.urlencode(),
        "choices": latency_choices(filters=filters),
        "rows": table,
        "charts": charts,
        "heatmap": heatmap_rows(charts),
        "heatmap_legend": heatmap_legend(),
        "trends": trends,
        "trend_by": trend_by,
        "trend_label": TREND_GROUPINGS[trend_by],
        "trend_groupings": TREND_GROUPINGS,
        "query_without_trend": trend_query.urlencode(),
        "error": error,
        "with_trend": with_trend,
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
    }
    return render(request, "usage/latency.html", context)
