"""Latency selectors on a few requests each (an otherwise empty window); the generated-data tests
are in test_latency_selectors.py."""

from datetime import datetime, timedelta

from tests.factories import gateway_request
from usage.latency.filters import LatencyFilters
from usage.latency.groups import latency_rows
from usage.models import GatewayRequest
from usage.rollups.histograms import bucket_width
from usage.rollups.hourly import rollup_refresh_range

H = datetime.fromisoformat("2026-03-02T00:00:00+00:00")


def _filters(**extra) -> LatencyFilters:
    return LatencyFilters(start=H, end=H + timedelta(days=2), **extra)

def test_a_range_percentile_is_not_an_average_of_hourly_percentiles(db):
    # One fast busy hour and one slow quiet hour: the p50 over both is fast.
    GatewayRequest.objects.bulk_create(
        [gateway_request(time=H, total_time_ms=100.0) for _ in range(99)]
        + [gateway_request(time=H + timedelta(hours=1), total_time_ms=5000.0)]
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=2))
    (row,) = latency_rows(filters=_filters(), group_by="region")
    assert abs(row.total_p50_ms - 100.0) <= bucket_width(100.0)


def test_filters_narrow_the_rows(db):
    GatewayRequest.objects.bulk_create(
        [
            gateway_request(time=H, deployment="a", model="gpt-4o", apim_subscription_id="s1"),
            gateway_request(time=H, deployment="b", model="gpt-4o-mini", apim_subscription_id="s2"),
            gateway_request(time=H - timedelta(hours=1), deployment="a"),
        ]
    )
    rollup_refresh_range(start=H - timedelta(hours=1), end=H + timedelta(hours=1))

    def requests(**extra) -> int:
        return sum(r.requests for r in latency_rows(filters=_filters(**extra), group_by="region"))

    assert requests() == 2
    assert requests(deployment="a") == 1
    assert requests(model="gpt-4o-mini") == 1
    assert requests(subscription="s1") == 1
    assert requests(subscription="nobody") == 0


def test_headroom_is_the_last_seen_value_in_the_range(db):
    GatewayRequest.objects.bulk_create(
        [
            gateway_request(
                time=H + timedelta(hours=3), ratelimit_remaining_requests=7, ratelimit_remaining_tokens=70
            ),
            gateway_request(
                time=H + timedelta(hours=1), ratelimit_remaining_requests=9, ratelimit_remaining_tokens=90
            ),
        ]
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=4))
    (row,) = latency_rows(filters=_filters(), group_by="region")
    assert (row.ratelimit_remaining_requests, row.ratelimit_remaining_tokens) == (7, 70)
