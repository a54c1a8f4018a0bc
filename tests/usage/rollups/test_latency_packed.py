"""Packed histograms and the LatencyHourOfDay rollup (what grouping by hour of day reads)."""

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import gateway_request
from tests.support.latency_data import RegionProfile, requests_generate
from tests.support.latency_expected import hour_entry, hour_entry_add
from usage.latency.filters import LatencyFilters
from usage.latency.groups import latency_rows
from usage.latency.reads import latency_rollup_rows
from usage.models import GatewayRequest, LatencyDaily, LatencyHourOfDay, UsageHourly
from usage.rollups.histograms import (
    BUCKET_COUNT,
    bucket_bounds,
    histogram_lanes,
    histogram_merge,
    histogram_pack,
    histogram_percentiles,
    histogram_unpack,
    histograms_lanes,
    histograms_pack,
    histograms_unpack,
)
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range
from usage.rollups.latency import latency_daily_refresh

H = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
PROFILES = [
    RegionProfile("swedencentral", mu=6.9, sigma=0.6, throttle_rate=0.10, error_rate=0.02),
    RegionProfile("eastus", mu=6.0, sigma=0.3, error_rate=0.05),
    RegionProfile("japaneast", mu=7.5, sigma=0.9, backend_share=0.6, throttle_rate=0.25),
]

histograms = st.dictionaries(
    st.integers(0, BUCKET_COUNT - 1).map(str), st.integers(0, 2**40), max_size=BUCKET_COUNT
)


def _percentiles_by_sorting(histogram: dict[str, int], quantiles) -> list[float | None]:
    """The original dict implementation of histogram_percentiles (walk the sorted buckets)."""
    total = sum(histogram.values())
    if total == 0:
        return [None for _ in quantiles]
    ranks = [max(1, math.ceil(q * total)) for q in quantiles]
    answers: list[float | None] = [None] * len(quantiles)
    seen = 0
    for key in sorted(histogram, key=int):
        seen += histogram[key]
        for position, rank in enumerate(ranks):
            if answers[position] is None and seen >= rank:
                low, high = bucket_bounds(int(key))
                answers[position] = math.sqrt(low * high) if low > 0 else high / 2
    return answers


def _nonzero(histogram: dict[str, int]) -> dict[str, int]:
    return {key: count for key, count in histogram.items() if count}


@given(histograms)
def test_a_packed_histogram_unpacks_to_the_same_counts(histogram):
    assert histogram_unpack(histogram_pack(histogram)) == _nonzero(histogram)


@given(st.lists(histograms, max_size=6))
def test_adding_lanes_merges_histograms(parts):
    lanes = sum(histogram_lanes(histogram_pack(h)) for h in parts)
    assert histogram_unpack(histogram_pack(histogram_merge(parts))) == _nonzero(histogram_merge(parts))
    from usage.rollups.histograms import histogram_from_lanes

    assert histogram_from_lanes(lanes) == _nonzero(histogram_merge(parts))


@given(histograms)
def test_percentiles_equal_the_sorted_walk(histogram):
    quantiles = (0.0, 0.5, 0.95, 0.99, 1.0)
    assert histogram_percentiles(histogram, quantiles) == _percentiles_by_sorting(histogram, quantiles)


@given(st.dictionaries(st.integers(0, 23).map(str), histograms, max_size=24))
def test_per_hour_histograms_round_trip(by_hour):
    packed = histograms_pack(by_hour)
    assert histograms_unpack(packed) == {h: _nonzero(v) for h, v in by_hour.items() if _nonzero(v)}
    assert [key for key, _ in histograms_lanes(packed)] == sorted(
        int(h) for h, v in by_hour.items() if _nonzero(v)
    )


@pytest.fixture
def generated(db):
    requests = requests_generate(
        profiles=PROFILES, start=H, hours=30, per_hour=20, seed=7, streaming_share=0.3
    )
    # Another deployment, so the hourly rows are split by deployment as well as by streaming kind.
    GatewayRequest.objects.bulk_create(
        [
            gateway_request(time=H + timedelta(hours=h, minutes=m), deployment="mini", model="gpt-4o-mini")
            for h in range(0, 30, 3)
            for m in (5, 35)
        ]
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))
    return requests


_HISTOGRAM_COLUMNS = {
    "total_time_hist": "total_time_by_hour",
    "backend_time_hist": "backend_time_by_hour",
    "native_duration_hist": "native_duration_by_hour",
    "overhead_hist": "overhead_by_hour",
}


def _hours_from_usage_hourly() -> dict[tuple, dict]:
    """LatencyHourOfDay's content as a fresh aggregation of UsageHourly, in Python:
    {(day, deployment, model, streaming, hour of day): measures}."""
    expected: dict[tuple, dict] = defaultdict(lambda: hour_entry(_HISTOGRAM_COLUMNS))
    for row in UsageHourly.objects.all():
        hour = row.hour.astimezone(UTC)
        entry = expected[(hour.date(), row.deployment, row.model, row.is_streaming, str(hour.hour))]
        hour_entry_add(entry, row, _HISTOGRAM_COLUMNS)
    return dict(expected)


def test_hour_of_day_rows_are_usage_hourly_without_regions_subscriptions_and_status(generated):
    expected = _hours_from_usage_hourly()
    stored = {}
    for row in LatencyHourOfDay.objects.all():
        histograms = {
            name: histograms_unpack(getattr(row, column)) for name, column in _HISTOGRAM_COLUMNS.items()
        }
        for hour, measures in row.measures_by_hour.items():
            stored[(row.day, row.deployment, row.model, row.is_streaming, hour)] = (
                measures,
                histograms,
                hour,
            )
    assert stored.keys() == expected.keys()
    assert LatencyHourOfDay.objects.count() == len({key[:4] for key in expected})
    for key, (measures, histograms, hour) in stored.items():
        entry = expected[key]
        requests, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = measures
        assert (requests, throttled, errors, tps_tokens) == (
            entry["requests"],
            entry["throttled"],
            entry["errors"],
            entry["tps_tokens"],
        )
        assert tps_ms == pytest.approx(entry["tps_ms"])
        for name in _HISTOGRAM_COLUMNS:
            assert histograms[name].get(hour, {}) == _nonzero(histogram_merge(entry[name])), name
        last = (datetime.fromisoformat(seen) if seen else None, rl_requests, rl_tokens)
        assert last == (entry["seen"] or (None, None, None))
    assert sum(m[0][0] for m in stored.values()) == GatewayRequest.objects.count()


def test_latency_daily_histograms_are_the_sums_of_the_hourly_ones(generated):
    for row in LatencyDaily.objects.all():
        hourly = UsageHourly.objects.filter(
            hour__gte=datetime.combine(row.day, datetime.min.time(), tzinfo=UTC),
            hour__lt=datetime.combine(row.day, datetime.min.time(), tzinfo=UTC) + timedelta(days=1),
            deployment=row.deployment,
            model=row.model,
            backend_region=row.backend_region,
            apim_region=row.apim_region,
            is_streaming=row.is_streaming,
        )
        for name in ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist"):
            merged = histogram_merge(getattr(h, name) for h in hourly)
            assert histogram_unpack(getattr(row, name)) == _nonzero(merged), name
        by_hour: dict[str, list] = defaultdict(list)
        for h in hourly:
            by_hour[str(h.hour.astimezone(UTC).hour)].append(h.total_time_hist)
        assert histograms_unpack(row.total_time_by_hour) == {
            hour: _nonzero(histogram_merge(parts))
            for hour, parts in by_hour.items()
            if _nonzero(histogram_merge(parts))
        }


@pytest.mark.parametrize(
    "filters",
    [
        LatencyFilters(start=H, end=H + timedelta(days=2)),
        LatencyFilters(start=H + timedelta(hours=5), end=H + timedelta(hours=27, minutes=30)),  # partial days
        LatencyFilters(start=H, end=H + timedelta(days=2), deployment="mini"),
        LatencyFilters(start=H, end=H + timedelta(days=2), model="gpt-4o", streaming=False),
        LatencyFilters(start=H, end=H + timedelta(days=2), streaming=True),
    ],
    ids=["whole days", "partial days", "deployment", "model, non-streaming", "streaming"],
)
def test_grouping_by_hour_of_day_from_latency_hourly_equals_the_hourly_rollup(generated, filters):
    with CaptureQueriesContext(connection) as queries:
        fast = latency_rows(filters=filters, group_by="hour_of_day")
    assert len(queries) == 1 and "usage_latencyhourofday" in queries[0]["sql"]
    assert fast
    assert fast == latency_rows(
        filters=filters, group_by="hour_of_day", rows=latency_rollup_rows(filters=filters, hourly=True)
    )


def _rounded(value):
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, dict):
        return {key: _rounded(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _snapshot(model) -> list[tuple]:
    """Every row as strings; floats rounded (the SQL sums of tps_backend_ms behind them depend on
    the order PostgreSQL scans rows in, which differs between one hour and a run of hours)."""
    fields = [f.name for f in model._meta.fields if f.name != "id"]
    return sorted(tuple(str(_rounded(v)) for v in row) for row in model.objects.values_list(*fields))


@pytest.mark.slow
def test_refreshing_hours_one_by_one_builds_the_same_hour_of_day_rows_as_a_full_rebuild(db):
    requests = requests_generate(
        profiles=PROFILES[:2],
        start=H + timedelta(hours=20),
        hours=8,
        per_hour=6,
        seed=3,
        streaming_share=0.3,
    )
    for hour in sorted({r.time for r in requests}, reverse=True):  # any order, one hour at a time
        rollup_refresh_hours(hours=[hour])
    incremental = _snapshot(LatencyHourOfDay)
    assert len(incremental) == 4  # 2 days x streaming or not
    LatencyHourOfDay.objects.all().delete()
    latency_daily_refresh(days=[H, H + timedelta(days=1)])
    assert _snapshot(LatencyHourOfDay) == incremental
    LatencyHourOfDay.objects.all().delete()
    rollup_refresh_range(start=H, end=H + timedelta(days=2))
    assert _snapshot(LatencyHourOfDay) == incremental


def test_refreshing_twice_changes_nothing_and_emptied_hours_disappear(generated):
    before = (_snapshot(LatencyHourOfDay), _snapshot(LatencyDaily))
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))
    assert (_snapshot(LatencyHourOfDay), _snapshot(LatencyDaily)) == before
    GatewayRequest.objects.filter(time__gte=H + timedelta(hours=4), time__lt=H + timedelta(hours=5)).delete()
    rollup_refresh_hours(hours=[H + timedelta(hours=4)])
    for model in (LatencyDaily, LatencyHourOfDay):
        hours = [set(row.measures_by_hour) for row in model.objects.filter(day=H.date())]
        assert hours and all("4" not in h for h in hours) and any("5" in h for h in hours)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_migration_packs_existing_rows_and_builds_latency_hour_of_day():
    """Migrating 0011 -> 0012 turns the JSON histograms into what a refresh now writes and builds
    LatencyHourOfDay from LatencyDaily's per-hour entries."""
    requests_generate(profiles=PROFILES, start=H, hours=30, per_hour=5, seed=11, streaming_share=0.3)
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))
    expected = (_snapshot(LatencyDaily), _snapshot(LatencyHourOfDay))
    old_json = {
        row.pk: {
            **{
                name: histogram_unpack(getattr(row, name))
                for name in ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist")
            },
            "total_time_by_hour": histograms_unpack(row.total_time_by_hour),
        }
        for row in LatencyDaily.objects.all()
    }
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([("usage", "0011_gatewayrequest_partitioned")])
        old_apps = executor.loader.project_state([("usage", "0011_gatewayrequest_partitioned")]).apps
        OldLatencyDaily = old_apps.get_model("usage", "LatencyDaily")
        assert OldLatencyDaily.objects.count() == len(old_json)
        for pk, values in old_json.items():  # what 0011 stored: JSON dicts
            OldLatencyDaily.objects.filter(pk=pk).update(**values)
        executor = MigrationExecutor(connection)
        executor.migrate([("usage", "0012_latency_packed_hour_of_day")])
    finally:
        MigrationExecutor(connection).migrate(leaves)
    assert (_snapshot(LatencyDaily), _snapshot(LatencyHourOfDay)) == expected
