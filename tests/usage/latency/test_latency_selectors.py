from datetime import datetime, timedelta

import pytest

from tests.support.latency_data import RegionProfile, exact_percentile, requests_generate
from tests.support.module_rows import module_rows
from usage.latency.charts import latency_charts
from usage.latency.filters import LatencyFilterError, LatencyFilters, latency_filters_parse
from usage.latency.groups import latency_rows
from usage.rollups.histograms import bucket_width
from usage.rollups.hourly import rollup_refresh_range

H = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
PROFILES = [
    RegionProfile("swedencentral", mu=6.9, sigma=0.6, throttle_rate=0.10, error_rate=0.02),
    RegionProfile("eastus", mu=6.0, sigma=0.3, throttle_rate=0.0, error_rate=0.05),
    RegionProfile("japaneast", mu=7.5, sigma=0.9, backend_share=0.6, throttle_rate=0.25),
]


@pytest.fixture(scope="module")
def _generated(django_db_setup, django_db_blocker):
    """30 hours of generated requests and their rollups, built once for the module (rolled back at
    its end); the tests that need an empty window are in test_latency_selectors_small.py."""
    with module_rows(django_db_blocker):
        requests = requests_generate(
            profiles=PROFILES, start=H, hours=30, per_hour=25, seed=42, streaming_share=0.3
        )
        rollup_refresh_range(start=H, end=H + timedelta(hours=30))
        yield requests


@pytest.fixture
def generated(_generated, db):
    return _generated


def _filters(**extra) -> LatencyFilters:
    return LatencyFilters(start=H, end=H + timedelta(days=2), **extra)


def _assert_close(estimate: float, values: list[float], quantile: float) -> None:
    exact = exact_percentile(values, quantile)
    assert abs(estimate - exact) <= bucket_width(exact), (quantile, estimate, exact)


def test_percentiles_per_region_are_within_one_bucket_of_the_exact_ones(generated):
    rows = latency_rows(filters=_filters(), group_by="region")
    assert {(r.group, r.streaming) for r in rows} == {(p.region, s) for p in PROFILES for s in (False, True)}
    for row in rows:
        raw = [r for r in generated if r.backend_region == row.group and r.is_streaming == row.streaming]
        assert row.requests == len(raw)
        for name, values in (
            ("total", [r.total_time_ms for r in raw]),
            ("backend", [r.backend_time_ms for r in raw]),
            ("native", [max(r.backend_time_ms - 5.0, 0.5) for r in raw]),
            ("overhead", [r.total_time_ms - r.backend_time_ms for r in raw]),
        ):
            for quantile, suffix in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                _assert_close(getattr(row, f"{name}_{suffix}_ms"), values, quantile)


def test_the_median_follows_the_generating_distribution(generated):
    rows = {r.group: r for r in latency_rows(filters=_filters(streaming=False), group_by="region")}
    import math

    for profile in PROFILES:
        # Median of a lognormal is exp(mu); ~500 samples keep the estimate within ~10%.
        assert rows[profile.region].total_p50_ms == pytest.approx(math.exp(profile.mu), rel=0.12)


def test_shares_of_throttled_and_failed_requests_match_the_raw_rows(generated):
    for row in latency_rows(filters=_filters(), group_by="region"):
        raw = [r for r in generated if r.backend_region == row.group and r.is_streaming == row.streaming]
        assert row.throttled_share == pytest.approx(sum(r.response_code == 429 for r in raw) / len(raw))
        assert row.error_share == pytest.approx(sum(r.response_code >= 500 for r in raw) / len(raw))
    eastus = next(
        r for r in latency_rows(filters=_filters(streaming=False), group_by="region") if r.group == "eastus"
    )
    assert eastus.throttled_share == 0 and eastus.error_share > 0


def test_streaming_and_non_streaming_are_never_mixed(generated):
    non_streaming = latency_rows(filters=_filters(streaming=False), group_by="deployment")
    streaming = latency_rows(filters=_filters(streaming=True), group_by="deployment")
    assert [r.streaming for r in non_streaming] == [False]
    assert [r.streaming for r in streaming] == [True]
    assert non_streaming[0].requests + streaming[0].requests == len(generated)
    assert non_streaming[0].requests == sum(not r.is_streaming for r in generated)
    assert streaming[0].tokens_per_second is None
    raw = [r for r in generated if not r.is_streaming and r.response_code == 200]
    expected = sum(r.completion_tokens for r in raw) / (sum(r.backend_time_ms for r in raw) / 1000)
    assert non_streaming[0].tokens_per_second == pytest.approx(expected, rel=1e-3)


def test_hour_of_day_and_day_groupings_cover_every_request_once(generated):
    by_hour = latency_rows(filters=_filters(streaming=False), group_by="hour_of_day")
    by_day = latency_rows(filters=_filters(streaming=False), group_by="day")
    total = sum(not r.is_streaming for r in generated)
    assert [r.group for r in by_hour] == list(range(24))
    assert sum(r.requests for r in by_hour) == total
    assert [r.group for r in by_day] == ["2026-03-02", "2026-03-03"]
    assert sum(r.requests for r in by_day) == total
    # Hours 0..5 appear on both days (30 hours generated), so twice as many requests.
    assert by_hour[0].requests > by_hour[12].requests


def test_charts_give_p95_per_region_and_hour_and_per_day(generated):
    charts = latency_charts(filters=_filters())
    assert charts.streaming is False
    assert charts.regions == ["eastus", "japaneast", "swedencentral"]
    assert len(charts.heatmap_p95_ms[0]) == 24 and charts.days == ["2026-03-02", "2026-03-03"]
    japan = charts.regions.index("japaneast")
    raw = [
        r.total_time_ms
        for r in generated
        if r.backend_region == "japaneast" and not r.is_streaming and r.time.hour == 7
    ]
    _assert_close(charts.heatmap_p95_ms[japan][7], raw, 0.95)
    assert charts.heatmap_requests[japan][7] == len(raw)
    assert all(value is not None for value in charts.trend_p95_ms[japan])


def test_filters_parse_dates_and_flags():
    filters = latency_filters_parse(params={"from": "2026-03-01", "to": "2026-03-31", "streaming": "false"})
    assert filters.start == datetime.fromisoformat("2026-03-01T00:00:00+00:00")
    assert filters.end == datetime.fromisoformat("2026-04-01T00:00:00+00:00")
    assert filters.streaming is False
    now = datetime.fromisoformat("2026-03-10T12:00:00+00:00")
    default = latency_filters_parse(params={}, now=now)
    assert (default.start.isoformat(), default.end.isoformat()) == (
        "2026-03-04T00:00:00+00:00",
        "2026-03-11T00:00:00+00:00",
    )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "03/01/2026"}, "'from' must be a date"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "'to' must be after 'from'"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most"),
        ({"streaming": "sometimes"}, "'streaming' must be"),
    ],
)
def test_filters_reject_nonsense_with_a_message(params, message):
    with pytest.raises(LatencyFilterError, match=message):
        latency_filters_parse(params=params)


def test_the_daily_and_hourly_rollups_give_the_same_answers(generated):
    from usage.latency.reads import latency_rollup_rows

    filters = _filters()
    daily = latency_rollup_rows(filters=filters)
    hourly = latency_rollup_rows(filters=filters, hourly=True)
    assert "day" in daily[0] and "hour" in hourly[0]
    assert len(daily) < len(hourly)
    for group_by in ("region", "apim_region", "deployment", "model", "day"):
        assert latency_rows(filters=filters, group_by=group_by, rows=daily, with_trend=True) == latency_rows(
            filters=filters, group_by=group_by, rows=hourly, with_trend=True
        ), group_by
    assert latency_charts(filters=filters, rows=daily) == latency_charts(filters=filters, rows=hourly)


def test_a_partial_day_reads_the_hourly_rollup_and_a_subscription_its_daily_one(generated):
    from usage.latency.reads import latency_rollup_rows

    by_subscription = latency_rollup_rows(filters=_filters(subscription="sub-a"))
    assert "day" in by_subscription[0] and "requests_by_hour" in by_subscription[0]
    partial = LatencyFilters(start=H + timedelta(hours=5), end=H + timedelta(hours=7))
    rows = latency_rollup_rows(filters=partial)
    assert "hour" in rows[0]
    assert sum(r.requests for r in latency_rows(filters=partial, group_by="region")) == sum(
        1 for r in generated if H + timedelta(hours=5) <= r.time < H + timedelta(hours=7)
    )


def test_grouping_by_hour_of_day_gives_the_same_answers_from_either_rollup(generated):
    from usage.latency.reads import latency_rollup_rows

    filters = _filters()
    split = latency_rollup_rows(filters=filters, by_hour_of_day=True)
    hourly = latency_rollup_rows(filters=filters, hourly=True)
    assert "hour_of_day" in split[0]
    assert latency_rows(filters=filters, group_by="hour_of_day", rows=split) == latency_rows(
        filters=filters, group_by="hour_of_day", rows=hourly
    )
    assert latency_rows(filters=filters, group_by="hour_of_day") == latency_rows(
        filters=filters, group_by="hour_of_day", rows=hourly
    )
