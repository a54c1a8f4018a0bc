"""LatencySubscriptionDaily and LatencySubscriptionRegionDaily (the same summed over deployments,
models and APIM regions): what the latency pages read when filtered to one APIM subscription.

The rollup is held to a fresh aggregation: its rows to UsageHourly summed in Python, and every
answer the selectors and the API give from it to the answer computed from UsageHourly (and the
request counts to the request table), after late rows, re-imports, emptied hours and migrations.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from tests.support.latency_data import SUBSCRIPTIONS, requests_random_store, rounded
from tests.support.latency_expected import hour_entry, hour_entry_add
from tests.support.module_rows import module_rows
from tests.support.rollup_snapshot import rollup_snapshot
from usage.latency.charts import latency_charts
from usage.latency.filters import LatencyFilters
from usage.latency.groups import GROUPINGS, latency_rows
from usage.latency.reads import latency_rollup_rows
from usage.models import (
    GatewayRequest,
    LatencyDaily,
    LatencyHourOfDay,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    UsageHourly,
)
from usage.rollups.histograms import (
    BUCKET_COUNT,
    histogram_lanes,
    histogram_lanes_of,
    histogram_merge,
    histogram_pack,
    histogram_pack_lanes,
    histogram_segment,
    histogram_unpack,
    histograms_join,
    histograms_pack,
    histograms_pack_lanes,
    histograms_segments,
    histograms_unpack,
    segment_lanes,
)
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range

H = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 3
_HISTOGRAMS = {
    "total_time_hist": "total_time_by_hour",
    "backend_time_hist": "backend_time_by_hour",
    "native_duration_hist": "native_duration_by_hour",
    "overhead_hist": "overhead_by_hour",
}
_DIMS = ("apim_subscription_id", "deployment", "model", "backend_region", "apim_region", "is_streaming")
_REGION_DIMS = ("apim_subscription_id", "backend_region", "is_streaming")
ROLLUPS = {LatencySubscriptionDaily: _DIMS, LatencySubscriptionRegionDaily: _REGION_DIMS}


histograms = st.dictionaries(
    st.integers(0, BUCKET_COUNT - 1).map(str), st.integers(0, 2**40), max_size=BUCKET_COUNT
)


@given(st.dictionaries(st.integers(0, 23).map(str), histograms, max_size=24))
def test_packing_lanes_gives_the_bytes_packing_dicts_gives(by_hour):
    for histogram in by_hour.values():
        assert histogram_lanes_of(histogram) == histogram_lanes(histogram_pack(histogram))
        assert histogram_pack_lanes(histogram_lanes_of(histogram)) == histogram_pack(histogram)
    packed = histograms_pack(by_hour)
    assert histograms_pack_lanes({int(hour): histogram_lanes_of(h) for hour, h in by_hour.items()}) == packed
    segments = {int(hour): histogram_segment(int(hour), histogram_lanes_of(h)) for hour, h in by_hour.items()}
    assert histograms_join({hour: segment for hour, segment in segments.items() if segment}) == packed
    assert histograms_segments(packed) == {hour: segment for hour, segment in segments.items() if segment}
    for hour, segment in histograms_segments(packed).items():
        assert segment_lanes(segment) == histogram_lanes_of(by_hour[str(hour)])


@pytest.fixture(scope="module")
def _generated(django_db_setup, django_db_blocker):
    with module_rows(django_db_blocker):
        requests = requests_random_store(n=1500, seed=5, start=H, hours=DAYS * 24)
        rollup_refresh_range(start=H, end=H + timedelta(days=DAYS))
        yield requests


@pytest.fixture
def generated(db, _generated):
    """The module's requests and rollups; what a test changes is rolled back after it."""
    return _generated


def _snapshot() -> dict[str, list[tuple]]:
    """Every row of both rollups as strings; floats rounded (SQL float sums depend on the order
    rows are scanned in)."""
    snapshot = {}
    for model in ROLLUPS:
        fields = ["day", *(f.name for f in model._meta.fields if f.name not in ("id", "day"))]
        snapshot[model.__name__] = sorted(
            tuple(str(rounded(bytes(v) if isinstance(v, memoryview) else v)) for v in row)
            for row in model.objects.values_list(*fields)
        )
    return snapshot


def _rollups_delete() -> None:
    for model in ROLLUPS:
        model.objects.all().delete()


def _expected_from_usage_hourly(dims: tuple[str, ...]) -> dict[tuple, dict]:
    """{(day, ``dims``' values): {hour of day: measures}} summed from UsageHourly in Python."""
    expected: dict[tuple, dict] = defaultdict(dict)
    for row in UsageHourly.objects.order_by("hour", "id"):
        hour = row.hour.astimezone(UTC)
        entry = expected[(hour.date(), *(getattr(row, d) for d in dims))].setdefault(
            str(hour.hour), hour_entry(_HISTOGRAMS)
        )
        hour_entry_add(entry, row, _HISTOGRAMS)
    return dict(expected)


def _nonzero(histogram: dict) -> dict:
    return {key: count for key, count in histogram.items() if count}


@pytest.mark.slow
@pytest.mark.parametrize("model", ROLLUPS, ids=lambda model: model.__name__)
def test_rows_are_usage_hourly_without_products_and_status_classes_per_day(generated, model):
    dims = ROLLUPS[model]
    expected = _expected_from_usage_hourly(dims)
    rows = {(r.day, *(getattr(r, d) for d in dims)): r for r in model.objects.all()}
    assert rows.keys() == expected.keys()
    assert len({key[1] for key in rows}) == len(SUBSCRIPTIONS)
    for key, row in rows.items():
        hours = expected[key]
        assert set(row.measures_by_hour) == set(hours)
        by_hour = {column: histograms_unpack(getattr(row, column)) for column in _HISTOGRAMS.values()}
        for hour, entry in hours.items():
            requests, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = (
                row.measures_by_hour[hour]
            )
            assert (requests, throttled, errors, tps_tokens) == (
                entry["requests"],
                entry["throttled"],
                entry["errors"],
                entry["tps_tokens"],
            )
            assert tps_ms == pytest.approx(entry["tps_ms"])
            assert (datetime.fromisoformat(seen) if seen else None, rl_requests, rl_tokens) == (
                entry["seen"] or (None, None, None)
            )
            for column, by_hour_column in _HISTOGRAMS.items():
                assert by_hour[by_hour_column].get(hour, {}) == _nonzero(histogram_merge(entry[column]))
        # Day totals: the sums of the hours.
        assert row.requests == sum(e["requests"] for e in hours.values())
        assert (row.throttled, row.errors, row.tps_completion_tokens) == (
            sum(e["throttled"] for e in hours.values()),
            sum(e["errors"] for e in hours.values()),
            sum(e["tps_tokens"] for e in hours.values()),
        )
        assert row.tps_backend_ms == pytest.approx(sum(e["tps_ms"] for e in hours.values()))
        for column in _HISTOGRAMS:
            merged = histogram_merge(h for e in hours.values() for h in e[column])
            assert histogram_unpack(getattr(row, column)) == _nonzero(merged), column
        latest = max((e["seen"] for e in hours.values() if e["seen"]), default=None, key=lambda s: s[0])
        assert (row.last_seen_at, row.ratelimit_remaining_requests, row.ratelimit_remaining_tokens) == (
            latest or (None, None, None)
        )
    assert sum(r.requests for r in rows.values()) == GatewayRequest.objects.count()


SUBSCRIPTION_FILTERS = [
    LatencyFilters(start=H, end=H + timedelta(days=DAYS), subscription="sub-a"),
    LatencyFilters(start=H + timedelta(days=1), end=H + timedelta(days=2), subscription="sub-b"),
    LatencyFilters(start=H, end=H + timedelta(days=DAYS), subscription="sub-c", deployment="gpt-4o-mini"),
    LatencyFilters(start=H, end=H + timedelta(days=2), subscription="sub-a", model="gpt-4o", streaming=False),
    LatencyFilters(start=H, end=H + timedelta(days=DAYS), subscription="sub-b", streaming=True),
    LatencyFilters(start=H, end=H + timedelta(days=DAYS), subscription="sub-none"),
]
FILTER_IDS = [
    "whole range",
    "one day",
    "deployment",
    "model, non-streaming",
    "streaming",
    "unknown subscription",
]


@pytest.mark.slow
@pytest.mark.parametrize("filters", SUBSCRIPTION_FILTERS, ids=FILTER_IDS)
def test_subscription_answers_from_the_daily_rollup_equal_the_hourly_rollup(generated, filters):
    hourly = latency_rollup_rows(filters=filters, hourly=True)
    with CaptureQueriesContext(connection) as queries:
        rows = latency_rollup_rows(filters=filters)
    assert len(queries) == 1 and "usage_latencysubscriptiondaily" in queries[0]["sql"]
    with CaptureQueriesContext(connection) as queries:
        latency_rollup_rows(filters=filters, regions_only=True)
    # Summed over deployments, models and APIM regions: only when none of them is filtered on.
    by_region = not (filters.deployment or filters.model)
    assert len(queries) == 1
    assert ("usage_latencysubscriptionregiondaily" in queries[0]["sql"]) == by_region
    for group_by in GROUPINGS:
        for with_trend in (False, True):
            assert latency_rows(filters=filters, group_by=group_by, with_trend=with_trend) == latency_rows(
                filters=filters, group_by=group_by, rows=hourly, with_trend=with_trend
            ), (group_by, with_trend)
        assert latency_rows(filters=filters, group_by=group_by, rows=rows) == latency_rows(
            filters=filters, group_by=group_by, rows=hourly
        ), group_by
    assert latency_charts(filters=filters) == latency_charts(filters=filters, rows=hourly)
    requests = GatewayRequest.objects.filter(
        time__gte=filters.start, time__lt=filters.end, apim_subscription_id=filters.subscription
    )
    if filters.deployment:
        requests = requests.filter(deployment=filters.deployment)
    if filters.model:
        requests = requests.filter(model=filters.model)
    if filters.streaming is not None:
        requests = requests.filter(is_streaming=filters.streaming)
    region_rows = latency_rows(filters=filters, group_by="region")
    assert sum(r.requests for r in region_rows) == requests.count()
    if filters.subscription != "sub-none":
        assert region_rows


@pytest.mark.slow
@pytest.mark.parametrize(
    "filters",
    [
        LatencyFilters(start=H, end=H + timedelta(days=DAYS), subscription="sub-a"),
        LatencyFilters(
            start=H + timedelta(hours=5), end=H + timedelta(hours=50, minutes=30), subscription="sub-b"
        ),
        LatencyFilters(start=H, end=H + timedelta(days=2), subscription="sub-c", streaming=False),
    ],
    ids=["whole days", "partial days", "non-streaming"],
)
def test_grouping_a_subscription_by_hour_of_day_reads_the_daily_rollup(generated, filters):
    with CaptureQueriesContext(connection) as queries:
        fast = latency_rows(filters=filters, group_by="hour_of_day")
    assert len(queries) == 1 and "usage_latencysubscriptiondaily" in queries[0]["sql"]
    assert fast
    assert fast == latency_rows(
        filters=filters, group_by="hour_of_day", rows=latency_rollup_rows(filters=filters, hourly=True)
    )


@pytest.mark.slow
def test_a_partial_day_range_with_a_subscription_reads_the_hourly_rollup(generated):
    filters = LatencyFilters(start=H + timedelta(hours=5), end=H + timedelta(hours=30), subscription="sub-a")
    with CaptureQueriesContext(connection) as queries:
        rows = latency_rows(filters=filters, group_by="region")
    assert "usage_usagehourly" in queries[0]["sql"]
    assert (
        sum(r.requests for r in rows)
        == (
            GatewayRequest.objects.filter(
                time__gte=filters.start, time__lt=filters.end, apim_subscription_id="sub-a"
            )
        ).count()
    )


@pytest.mark.slow
def test_the_api_answers_a_subscription_as_the_hourly_rollup_does(generated, client_for, finance_user):
    filters = SUBSCRIPTION_FILTERS[0]
    for group_by in ("region", "hour_of_day", "day", "apim_region"):
        response = client_for(finance_user).get(
            "/api/v1/latency",
            {"from": "2026-03-02", "to": "2026-03-04", "group_by": group_by, "subscription": "sub-a"},
        )
        assert response.status_code == 200, response.content
        expected = latency_rows(
            filters=filters, group_by=group_by, rows=latency_rollup_rows(filters=filters, hourly=True)
        )
        answer = response.json()["rows"]
        assert [(r["group"], r["streaming"], r["requests"]) for r in answer] == [
            (r.group, r.streaming, r.requests) for r in expected
        ]
        assert [r["total_p95_ms"] for r in answer] == [r.total_p95_ms for r in expected]
        assert [r["native_p99_ms"] for r in answer] == [r.native_p99_ms for r in expected]


@pytest.mark.slow
def test_the_page_filtered_to_a_subscription_shows_its_requests(generated, client_for, finance_user):
    with CaptureQueriesContext(connection) as queries:
        response = client_for(finance_user).get(
            "/latency/", {"from": "2026-03-02", "to": "2026-03-04", "subscription": "sub-b"}
        )
    assert response.status_code == 200
    assert not any("usage_usagehourly" in q["sql"] for q in queries)
    # Grouped by region (the default), the page reads the rows summed over the other dimensions.
    assert any("usage_latencysubscriptionregiondaily" in q["sql"] for q in queries)
    assert not any("usage_latencysubscriptiondaily" in q["sql"] for q in queries)
    shown = sum(r.requests for r in response.context["rows"])
    assert shown == GatewayRequest.objects.filter(apim_subscription_id="sub-b").count()


def _rebuilt_snapshot() -> dict[str, list[tuple]]:
    _rollups_delete()
    rollup_refresh_range(start=H - timedelta(days=1), end=H + timedelta(days=DAYS + 1))
    return _snapshot()


@pytest.mark.slow
def test_late_rows_and_re_imports_update_the_right_hours_exactly_once(generated):
    late = requests_random_store(n=60, seed=9, start=H + timedelta(hours=30), hours=3)
    # A late row with dimensions never seen before (new subscription, new region).
    late += requests_random_store(
        n=3, seed=10, start=H + timedelta(hours=70), hours=1, apim_subscription_id="sub-late"
    )
    late_hours = {r.time.replace(minute=0, second=0, microsecond=0) for r in late}
    rollup_refresh_hours(hours=late_hours)
    incremental = _snapshot()
    rollup_refresh_hours(hours=late_hours)  # a re-import names the same hours again
    assert _snapshot() == incremental
    assert _rebuilt_snapshot() == incremental
    assert LatencySubscriptionDaily.objects.filter(apim_subscription_id="sub-late").exists()
    filters = LatencyFilters(start=H, end=H + timedelta(days=DAYS), subscription="sub-late")
    assert sum(r.requests for r in latency_rows(filters=filters, group_by="model")) == 3


@pytest.mark.slow
def test_a_whole_day_refreshed_in_place_gives_the_rows_of_a_rebuild(generated):
    day = H + timedelta(days=1)
    # One subscription leaves the day and a new one arrives: none of its stored rows is kept as is.
    gone = SUBSCRIPTIONS[0]
    of_day = GatewayRequest.objects.filter(time__gte=day, time__lt=day + timedelta(days=1))
    assert of_day.filter(apim_subscription_id=gone).exists()
    of_day.filter(apim_subscription_id=gone).delete()
    requests_random_store(
        n=4, seed=13, start=day + timedelta(hours=5), hours=2, apim_subscription_id="sub-new"
    )
    with CaptureQueriesContext(connection) as queries:
        rollup_refresh_range(start=day, end=day + timedelta(days=1))
    in_place = _snapshot() | rollup_snapshot((LatencyDaily, LatencyHourOfDay))
    assert not LatencySubscriptionDaily.objects.filter(day=day.date(), apim_subscription_id=gone).exists()
    assert LatencySubscriptionRegionDaily.objects.filter(
        day=day.date(), apim_subscription_id="sub-new"
    ).exists()
    # The day's stored per-subscription rows were replaced without being read (the spans read
    # the day's LatencyDaily and LatencyHourOfDay rows once they are rebuilt).
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    for table in ("usage_latencysubscriptiondaily", "usage_latencysubscriptionregiondaily"):
        assert not [sql[:300] for sql in reads if f'FROM "{table}"' in sql]
    assert _rebuilt_snapshot() | rollup_snapshot((LatencyDaily, LatencyHourOfDay)) == in_place


@pytest.mark.slow
def test_emptied_hours_disappear_and_rows_left_without_hours_are_dropped(generated):
    hour = H + timedelta(hours=30)
    GatewayRequest.objects.filter(time__gte=hour, time__lt=hour + timedelta(hours=1)).delete()
    # One subscription keeps only that hour on the next day... then loses it too.
    extra = requests_random_store(n=2, seed=12, start=hour, hours=1, apim_subscription_id="sub-brief")
    rollup_refresh_hours(hours=[hour])
    assert LatencySubscriptionDaily.objects.filter(apim_subscription_id="sub-brief").count() >= 1
    GatewayRequest.objects.filter(pk__in=[r.pk for r in extra]).delete()
    rollup_refresh_hours(hours=[hour])
    assert not LatencySubscriptionDaily.objects.filter(apim_subscription_id="sub-brief").exists()
    day_rows = LatencySubscriptionDaily.objects.filter(day=hour.date())
    assert day_rows and all("6" not in row.measures_by_hour for row in day_rows)
    assert any("7" in row.measures_by_hour for row in day_rows)
    incremental = _snapshot()
    assert _rebuilt_snapshot() == incremental
    assert sum(r.requests for r in LatencySubscriptionDaily.objects.all()) == GatewayRequest.objects.count()


@pytest.mark.slow
def test_requests_by_hour_are_each_hours_requests(generated):
    late = requests_random_store(n=40, seed=13, start=H + timedelta(hours=30), hours=2)
    rollup_refresh_hours(hours={r.time.replace(minute=0, second=0, microsecond=0) for r in late})
    rows = [row for model in ROLLUPS for row in model.objects.all()]
    assert {type(row) for row in rows} == set(ROLLUPS)
    for row in rows:
        assert row.requests_by_hour == {hour: measures[0] for hour, measures in row.measures_by_hour.items()}
        assert sum(row.requests_by_hour.values()) == row.requests
