from datetime import datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import gateway_request
from tests.support.latency_data import RegionProfile, exact_percentile, requests_generate
from usage.models import GatewayRequest, NativeLog, UsageHourly
from usage.rollups.histograms import (
    bucket_index,
    bucket_width,
    histogram_count,
    histogram_merge,
    histogram_percentile,
)
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range

H = datetime.fromisoformat("2026-03-02T10:00:00+00:00")


def _snapshot() -> list[tuple]:
    fields = [f.name for f in UsageHourly._meta.fields if f.name != "id"]
    return sorted(tuple(str(v) for v in row) for row in UsageHourly.objects.values_list(*fields))


def test_refreshing_twice_gives_the_same_rows(db):
    requests_generate(
        profiles=[
            RegionProfile("swedencentral", 6.0, 0.5, throttle_rate=0.1),
            RegionProfile("eastus", 5.0, 0.3),
        ],
        start=H,
        hours=3,
        per_hour=20,
        seed=1,
        streaming_share=0.3,
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=3))
    first = _snapshot()
    rollup_refresh_range(start=H, end=H + timedelta(hours=3))
    assert _snapshot() == first
    assert sum(UsageHourly.objects.values_list("requests", flat=True)) == 120


def test_a_late_row_lands_in_its_own_hour_exactly_once(db):
    GatewayRequest.objects.bulk_create([gateway_request(time=H + timedelta(minutes=5))])
    rollup_refresh_hours(hours=[H])
    late = gateway_request(time=H - timedelta(hours=5, minutes=1), total_time_ms=2000.0)
    GatewayRequest.objects.bulk_create([late])
    rollup_refresh_hours(hours=[late.time, H])
    rollup_refresh_hours(hours=[late.time])
    by_hour = {row.hour: row for row in UsageHourly.objects.all()}
    assert set(by_hour) == {H, H - timedelta(hours=6)}
    old = by_hour[H - timedelta(hours=6)]
    assert old.requests == 1
    assert old.total_time_hist == {str(bucket_index(2000.0)): 1}


def test_an_hour_whose_rows_are_gone_is_emptied(db):
    GatewayRequest.objects.bulk_create([gateway_request(time=H)])
    rollup_refresh_hours(hours=[H])
    GatewayRequest.objects.all().delete()
    rollup_refresh_hours(hours=[H])
    assert not UsageHourly.objects.exists()


def test_it_splits_rows_by_status_class_and_streaming(db):
    GatewayRequest.objects.bulk_create(
        [
            gateway_request(time=H, response_code=200),
            gateway_request(time=H, response_code=429),
            gateway_request(time=H, response_code=503),
            gateway_request(time=H, response_code=400),
            gateway_request(time=H, response_code=None),
            gateway_request(time=H, response_code=200, is_streaming=True),
        ]
    )
    rollup_refresh_hours(hours=[H])
    got = sorted(UsageHourly.objects.values_list("status_class", "is_streaming", "requests"))
    assert got == [
        ("2xx", False, 1),
        ("2xx", True, 1),
        ("429", False, 1),
        ("4xx", False, 1),
        ("5xx", False, 1),
        ("unknown", False, 1),
    ]


def test_histograms_match_the_raw_rows(db):
    requests = requests_generate(
        profiles=[RegionProfile("swedencentral", 6.5, 0.8)], start=H, hours=2, per_hour=300, seed=7
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=2))
    rows = list(UsageHourly.objects.all())
    for attribute, values in (
        ("total_time_hist", [r.total_time_ms for r in requests]),
        ("backend_time_hist", [r.backend_time_ms for r in requests]),
        ("overhead_hist", [r.total_time_ms - r.backend_time_ms for r in requests]),
        ("native_duration_hist", [max(r.backend_time_ms - 5.0, 0.5) for r in requests]),
    ):
        merged = histogram_merge(getattr(row, attribute) for row in rows)
        assert histogram_count(merged) == len(requests), attribute
        # Each bucket computed in SQL agrees with the Python bucket of every raw value.
        expected: dict[str, int] = {}
        for value in values:
            key = str(bucket_index(value))
            expected[key] = expected.get(key, 0) + 1
        assert merged == expected, attribute
        for quantile in (0.5, 0.95, 0.99):
            exact = exact_percentile(values, quantile)
            assert abs(histogram_percentile(merged, quantile) - exact) <= bucket_width(exact)


def test_it_joins_native_durations_by_apim_request_id(db):
    GatewayRequest.objects.bulk_create(
        [gateway_request(time=H, apim_request_id="x-1"), gateway_request(time=H, apim_request_id="")]
    )
    NativeLog.objects.create(correlation_id="x-1", time=H, duration_ms=321.0)
    rollup_refresh_hours(hours=[H])
    row = UsageHourly.objects.get()
    assert row.native_duration_hist == {str(bucket_index(321.0)): 1}
    assert histogram_count(row.total_time_hist) == 2


def test_tokens_per_second_counts_only_successful_non_streaming_completions(db):
    GatewayRequest.objects.bulk_create(
        [
            gateway_request(time=H, completion_tokens=100, backend_time_ms=1000.0),
            gateway_request(time=H, completion_tokens=300, backend_time_ms=1000.0),
            gateway_request(time=H, completion_tokens=500, backend_time_ms=100.0, is_streaming=True),
            gateway_request(time=H, completion_tokens=500, backend_time_ms=100.0, operation="embeddings"),
            gateway_request(time=H, completion_tokens=0, backend_time_ms=100.0, response_code=429),
        ]
    )
    rollup_refresh_hours(hours=[H])
    rows = UsageHourly.objects.filter(is_streaming=False)
    assert sum(r.tps_completion_tokens for r in rows) == 400
    assert sum(r.tps_backend_ms for r in rows) == 2000.0


def test_it_keeps_the_latest_rate_limit_headroom_of_the_hour(db):
    GatewayRequest.objects.bulk_create(
        [
            gateway_request(
                time=H + timedelta(minutes=1), ratelimit_remaining_requests=10, ratelimit_remaining_tokens=900
            ),
            gateway_request(
                time=H + timedelta(minutes=50), ratelimit_remaining_requests=3, ratelimit_remaining_tokens=200
            ),
            gateway_request(time=H + timedelta(minutes=59)),  # no headroom headers logged
        ]
    )
    rollup_refresh_hours(hours=[H])
    row = UsageHourly.objects.get()
    assert (row.ratelimit_remaining_requests, row.ratelimit_remaining_tokens) == (3, 200)
    assert row.last_seen_at == H + timedelta(minutes=50)


def test_the_number_of_queries_does_not_grow_with_the_rows(db):
    requests_generate(profiles=[RegionProfile("eastus", 5.0, 0.3)], start=H, hours=3, per_hour=5, seed=2)
    # Once first: a first refresh inserts the per-subscription latency rows, later ones update them
    # through rows_update's own cursor (which CaptureQueriesContext does not see), so both measured
    # refreshes below are of the same kind.
    rollup_refresh_range(start=H, end=H + timedelta(hours=3))
    with CaptureQueriesContext(connection) as small:
        rollup_refresh_range(start=H, end=H + timedelta(hours=3))
    requests_generate(profiles=[RegionProfile("eastus", 5.0, 0.3)], start=H, hours=3, per_hour=200, seed=3)
    with CaptureQueriesContext(connection) as large:
        rollup_refresh_range(start=H, end=H + timedelta(hours=3))
    assert len(large) == len(small)


def test_the_daily_latency_rollup_follows_refreshed_hours(db):
    from usage.models import LatencyDaily

    GatewayRequest.objects.bulk_create(
        [
            gateway_request(time=H, response_code=429),
            gateway_request(time=H + timedelta(hours=1)),
            gateway_request(time=H + timedelta(hours=1), response_code=503),
        ]
    )
    rollup_refresh_hours(hours=[H, H + timedelta(hours=1)])
    day = LatencyDaily.objects.get()
    assert (day.requests, day.throttled, day.errors) == (3, 1, 1)
    assert day.requests_by_hour == {"10": 1, "11": 2}
    GatewayRequest.objects.filter(response_code=429).delete()
    rollup_refresh_hours(hours=[H])
    day = LatencyDaily.objects.get()
    assert (day.requests, day.throttled, day.requests_by_hour) == (2, 0, {"11": 2})


def _daily_snapshot() -> list[tuple]:
    from usage.models import LatencyDaily

    fields = [f.name for f in LatencyDaily._meta.fields if f.name != "id"]
    return sorted(tuple(str(v) for v in row) for row in LatencyDaily.objects.values_list(*fields))


def test_refreshing_hours_one_by_one_builds_the_same_days_as_a_full_rebuild(db):
    from usage.rollups.latency import latency_daily_refresh

    requests = requests_generate(
        profiles=[
            RegionProfile("swedencentral", 6.0, 0.5, throttle_rate=0.1),
            RegionProfile("eastus", 5.0, 0.3),
        ],
        start=H + timedelta(hours=10),
        hours=8,
        per_hour=6,
        seed=3,
        streaming_share=0.3,
    )
    for hour in sorted({r.time for r in requests}, reverse=True):  # any order, one hour at a time
        rollup_refresh_hours(hours=[hour])
    incremental = _daily_snapshot()
    latency_daily_refresh(days=[H, H + timedelta(days=1)])
    assert _daily_snapshot() == incremental
    assert len({row[0] for row in incremental}) == 2  # 20:00..03:59 next day spans two days
