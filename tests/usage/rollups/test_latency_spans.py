"""LatencyDailySpan and LatencyHourOfDaySpan: long whole-day ranges read LatencyDaily and
LatencyHourOfDay summed over aligned spans of days.

The spans are held to fresh aggregation: every answer read through them (table for every
grouping, trends, heatmap, line chart, API, page) equals the answer from the hourly rollup, for
many ranges; span rows equal a rebuild after late rows, re-imports and emptied days; the
migration backfills what the refresh writes.
"""

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from tests.support.latency_data import requests_random_store, rounded
from tests.support.module_rows import module_rows
from usage.latency.charts import latency_charts
from usage.latency.filters import LatencyFilters
from usage.latency.groups import GROUPINGS, latency_rows
from usage.latency.reads import latency_rollup_rows
from usage.models import (
    GatewayRequest,
    LatencyDaily,
    LatencyDailySpan,
    LatencyHourOfDay,
    LatencyHourOfDaySpan,
)
from usage.rollups.histograms import histogram_lanes, histograms_lanes
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range
from usage.rollups.latency import latency_daily_refresh
from usage.rollups.spans import SPAN_DAYS, span_days_of, span_start, spans_cover

START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 40


@given(st.dates(date(2020, 1, 1), date(2030, 1, 1)), st.integers(1, 366))
def test_spans_cover_a_range_exactly_with_few_aligned_pieces(first, days):
    end = first + timedelta(days=days)
    pieces = spans_cover(first, end)
    covered = [day for start, length in pieces for day in span_days_of(start, length)]
    assert covered == [first + timedelta(days=i) for i in range(days)]
    for start, length in pieces:
        assert length == 1 or (length in SPAN_DAYS and span_start(start, length) == start)
    # Greedy from the left with aligned powers of two: at most two pieces of each length.
    assert all(sum(1 for _, n in pieces if n == length) <= 2 for length in (1, *SPAN_DAYS[:-1]))
    assert len(pieces) <= 2 * len(SPAN_DAYS) + 1 + days // SPAN_DAYS[-1]


def test_a_span_starts_where_its_halves_do():
    day = date(2026, 3, 17)
    for length in SPAN_DAYS:
        start = span_start(day, length)
        assert start <= day < start + timedelta(days=length)
        assert span_start(start, length // 2) == start if length > 2 else True
        assert span_start(start + timedelta(days=length // 2), length // 2) == start + timedelta(
            days=length // 2
        )


@pytest.fixture(scope="module")
def _generated(django_db_setup, django_db_blocker):
    with module_rows(django_db_blocker):
        requests = requests_random_store(n=2500, seed=31, start=START, hours=DAYS * 24)
        rollup_refresh_range(start=START, end=START + timedelta(days=DAYS))
        yield requests


@pytest.fixture
def generated(db, _generated):
    """The module's requests and rollups; what a test changes is rolled back after it."""
    return _generated


def _whole_days(first_offset: int, days: int, **filters) -> LatencyFilters:
    start = START + timedelta(days=first_offset)
    return LatencyFilters(start=start, end=start + timedelta(days=days), **filters)


RANGES = [
    _whole_days(0, DAYS),
    _whole_days(3, 31),
    _whole_days(1, 2),
    _whole_days(7, 16, streaming=False),
    _whole_days(2, 33, deployment="gpt-4o-mini"),
    _whole_days(0, 40, model="gpt-4o", streaming=True),
    _whole_days(30, 30),  # runs past the data
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "filters", RANGES, ids=[f"{f.start:%m-%d}+{(f.end - f.start).days}d" for f in RANGES]
)
def test_answers_through_spans_equal_the_hourly_rollup(generated, filters):
    hourly = latency_rollup_rows(filters=filters, hourly=True)
    with CaptureQueriesContext(connection) as queries:
        rows = latency_rollup_rows(filters=filters)
    if (filters.end - filters.start).days >= 4:
        assert any("span_days" in row for row in rows)
        assert any("usage_latencydailyspan" in q["sql"] for q in queries)
        assert len(rows) < len(latency_rollup_rows(filters=filters, per_day=True)), "spans read fewer rows"
    for group_by in GROUPINGS:
        assert latency_rows(filters=filters, group_by=group_by, rows=rows) == latency_rows(
            filters=filters, group_by=group_by, rows=hourly
        ), group_by
    with CaptureQueriesContext(connection) as queries:
        by_hour_of_day = latency_rows(filters=filters, group_by="hour_of_day")
    assert by_hour_of_day == latency_rows(filters=filters, group_by="hour_of_day", rows=hourly)
    if (filters.end - filters.start).days >= 4:
        assert any("usage_latencyhourofdayspan" in q["sql"] for q in queries)
    for group_by in ("region", "deployment", "apim_region"):
        assert latency_rows(filters=filters, group_by=group_by, rows=rows, with_trend=True) == latency_rows(
            filters=filters, group_by=group_by, rows=hourly, with_trend=True
        ), group_by
    assert latency_charts(filters=filters, rows=rows) == latency_charts(filters=filters, rows=hourly)
    requests = GatewayRequest.objects.filter(time__gte=filters.start, time__lt=filters.end)
    for name in ("deployment", "model"):
        if getattr(filters, name):
            requests = requests.filter(**{name: getattr(filters, name)})
    if filters.streaming is not None:
        requests = requests.filter(is_streaming=filters.streaming)
    assert sum(r.requests for r in latency_rows(filters=filters, group_by="model")) == requests.count()


@pytest.mark.slow
def test_every_span_is_the_sum_of_its_days(generated):
    spans = list(LatencyDailySpan.objects.all())
    assert {span.span_days for span in spans} >= {2, 4, 8, 16, 32}
    for span in spans:
        days = LatencyDaily.objects.filter(
            day__gte=span.day,
            day__lt=span.day + timedelta(days=span.span_days),
            **{
                d: getattr(span, d)
                for d in ("deployment", "model", "backend_region", "apim_region", "is_streaming")
            },
        )
        assert span.requests == sum(d.requests for d in days) > 0
        assert histogram_lanes(span.total_time_hist) == sum(histogram_lanes(d.total_time_hist) for d in days)
        by_hour: dict[int, int] = {}
        for d in days:
            for hour, lanes in histograms_lanes(d.total_time_by_hour):
                by_hour[hour] = by_hour.get(hour, 0) + lanes
        assert dict(histograms_lanes(span.total_time_by_hour)) == by_hour
        assert span.last_seen_at == max(d.last_seen_at for d in days if d.last_seen_at)


@pytest.mark.slow
def test_every_hour_of_day_span_is_the_sum_of_its_days(generated):
    spans = list(LatencyHourOfDaySpan.objects.all())
    assert {span.span_days for span in spans} >= {2, 4, 8, 16, 32}
    for span in spans:
        days = LatencyHourOfDay.objects.filter(
            day__gte=span.day,
            day__lt=span.day + timedelta(days=span.span_days),
            deployment=span.deployment,
            model=span.model,
            is_streaming=span.is_streaming,
        )
        requests: dict[str, int] = {}
        backend: dict[int, int] = {}
        for d in days:
            for hour, measures in d.measures_by_hour.items():
                requests[hour] = requests.get(hour, 0) + measures[0]
            for hour, lanes in histograms_lanes(d.backend_time_by_hour):
                backend[hour] = backend.get(hour, 0) + lanes
        assert {hour: m[0] for hour, m in span.measures_by_hour.items()} == requests
        assert dict(histograms_lanes(span.backend_time_by_hour)) == backend
        assert max(m[5] for m in span.measures_by_hour.values() if m[5]) == max(
            m[5] for d in days for m in d.measures_by_hour.values() if m[5]
        )


@pytest.mark.slow
def test_the_api_and_the_page_answer_a_long_range_as_the_hourly_rollup(generated, client_for, finance_user):
    filters = _whole_days(3, 31)
    hourly = latency_rollup_rows(filters=filters, hourly=True)
    last = (filters.end - timedelta(days=1)).date().isoformat()
    for group_by in ("region", "day", "model"):
        response = client_for(finance_user).get(
            "/api/v1/latency", {"from": filters.start.date().isoformat(), "to": last, "group_by": group_by}
        )
        assert response.status_code == 200, response.content
        expected = latency_rows(filters=filters, group_by=group_by, rows=hourly)
        assert [
            (r["group"], r["streaming"], r["requests"], r["total_p95_ms"]) for r in response.json()["rows"]
        ] == [(r.group, r.streaming, r.requests, r.total_p95_ms) for r in expected]
    response = client_for(finance_user).get(
        "/latency/", {"from": filters.start.date().isoformat(), "to": last}
    )
    assert response.status_code == 200
    expected = latency_rows(filters=filters, group_by="region", rows=hourly, with_trend=True)
    assert [(r.group, r.requests, r.total_p95_ms, r.trend_p95_ms) for r in response.context["rows"]] == [
        (r.group, r.requests, r.total_p95_ms, r.trend_p95_ms) for r in expected
    ]
    charts = response.context["charts"]
    assert charts["heatmap_p95_ms"] == latency_charts(filters=filters, rows=hourly).heatmap_p95_ms
    assert len(charts["days"]) == 31


def _snapshot() -> list[tuple]:
    """Every span row of both tables as strings; floats rounded."""
    rows = []
    for model in (LatencyDailySpan, LatencyHourOfDaySpan):
        fields = [f.name for f in model._meta.fields if f.name != "id"]
        rows += [
            (model.__name__, *(str(rounded(bytes(v) if isinstance(v, memoryview) else v)) for v in row))
            for row in model.objects.values_list(*fields)
        ]
    return sorted(rows)


def _rebuilt_snapshot() -> list[tuple]:
    for model in (LatencyDailySpan, LatencyHourOfDaySpan, LatencyDaily, LatencyHourOfDay):
        model.objects.all().delete()
    rollup_refresh_range(start=START - timedelta(days=1), end=START + timedelta(days=DAYS + 1))
    return _snapshot()


@pytest.mark.slow
def test_late_rows_re_imports_and_emptied_days_leave_what_a_rebuild_builds(generated):
    late = requests_random_store(n=80, seed=32, start=START + timedelta(days=12, hours=5), hours=30)
    late += requests_random_store(n=5, seed=33, start=START + timedelta(days=20), hours=2, backend_region="brazilsouth")
    late_hours = {r.time.replace(minute=0, second=0, microsecond=0) for r in late}
    rollup_refresh_hours(hours=late_hours)
    incremental = _snapshot()
    rollup_refresh_hours(hours=late_hours)  # a re-import names the same hours again
    assert _snapshot() == incremental
    assert _rebuilt_snapshot() == incremental
    assert LatencyDailySpan.objects.filter(backend_region="brazilsouth", span_days=32).exists()

    # A whole day emptied (retention of a wrong import, say): every span over it loses it.
    emptied = START + timedelta(days=20)
    GatewayRequest.objects.filter(time__gte=emptied, time__lt=emptied + timedelta(days=1)).delete()
    rollup_refresh_range(start=emptied, end=emptied + timedelta(days=1))
    assert not LatencyDailySpan.objects.filter(backend_region="brazilsouth").exists()
    incremental = _snapshot()
    assert _rebuilt_snapshot() == incremental
    filters = _whole_days(0, DAYS)
    assert (
        sum(r.requests for r in latency_rows(filters=filters, group_by="region"))
        == GatewayRequest.objects.count()
    )


@pytest.mark.slow
def test_refreshing_days_in_any_order_builds_what_a_full_rebuild_builds(generated):
    rebuilt = _snapshot()
    LatencyDailySpan.objects.all().delete()
    LatencyHourOfDaySpan.objects.all().delete()
    days = [datetime.combine((START + timedelta(days=i)).date(), time.min, tzinfo=UTC) for i in range(DAYS)]
    random.Random(4).shuffle(days)
    for day in days:
        latency_daily_refresh(days=[day])
    assert _snapshot() == rebuilt
