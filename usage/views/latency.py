"""Latency per region: the region overview page (table, heatmap, trend), filtered by query string."""

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
from ..latency.reads import latency_day_rows, latency_rollup_rows

SPARK_WIDTH, SPARK_HEIGHT = 120, 24


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
    rows = latency_rollup_rows(filters=filters, regions_only=group in REGION_GROUPINGS)
    day_rows = latency_day_rows(filters=filters, rows=rows)  # read once for both trends
    with_trend = group not in ("hour_of_day", "day")
    table = latency_rows(filters=filters, group_by=group, rows=rows, day_rows=day_rows, with_trend=with_trend)
    for row in table:
        row.sparkline = sparkline_points(row.trend_p95_ms) if with_trend else ""
        row.throttled_pct = row.throttled_share * 100
        row.error_pct = row.error_share * 100
    charts = latency_charts(filters=filters, rows=rows, day_rows=day_rows)
    context = {
        "filters": filters,
        "filter_to": filters.days[-1],
        "streaming_value": {None: "", True: "true", False: "false"}[filters.streaming],
        "group": group,
        "group_label": GROUP_LABELS[group],
        "group_labels": GROUP_LABELS,
        "choices": latency_choices(filters=filters),
        "rows": table,
        "charts": asdict(charts),
        "error": error,
        "with_trend": with_trend,
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
    }
    return render(request, "usage/latency.html", context)
