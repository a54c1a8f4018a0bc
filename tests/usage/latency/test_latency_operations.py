"""Trends per API operation and per deployment (LatencyOperationDaily): kept with the other latency
rollups, by the hourly refresh and by new requests alike, and read per day of the range."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import gateway_request
from usage.latency.filters import LatencyFilters
from usage.latency.operations import latency_operation_trends
from usage.models import GatewayRequest, LatencyOperationDaily
from usage.rollups.histograms import bucket_index
from usage.rollups.hourly import rollup_refresh_range
from usage.rollups.latency_operations import latency_operations_rebuild

pytestmark = pytest.mark.django_db
D1 = datetime(2026, 3, 2, tzinfo=UTC)
TWO_DAYS = LatencyFilters(start=D1, end=D1 + timedelta(days=2))


def _store(**fields) -> GatewayRequest:
    request = gateway_request(**fields)
    request.save()
    return request


def _traffic() -> None:
    """Day 1: four chat calls (one 429 answered by APIM) and two embeddings (one 5xx) in two
    deployments; day 2: two chat calls. Total times tell the groups apart."""
    for minute, code in enumerate((200, 200, 200, 429)):
        _store(
            time=D1 + timedelta(hours=10, minutes=minute),
            operation_id="ChatCompletions_Create",
            response_code=code,
            total_time_ms=2000.0,
        )
    for minute, code in enumerate((200, 503)):
        _store(
            time=D1 + timedelta(hours=23, minutes=minute),
            operation_id="embeddings_create",
            operation="embeddings",
            deployment="text-embedding-3-small",
            model="text-embedding-3-small",
            response_code=code,
            total_time_ms=100.0,
        )
    for minute in range(2):
        _store(
            time=D1 + timedelta(days=1, hours=1, minutes=minute),
            operation_id="ChatCompletions_Create",
            total_time_ms=4000.0,
            is_streaming=True,
        )
    rollup_refresh_range(start=D1, end=D1 + timedelta(days=2))


def test_it_gives_p95_and_429_and_5xx_shares_per_operation_and_day():
    _traffic()
    trends = latency_operation_trends(filters=TWO_DAYS, by="operation")
    assert trends.days == ["2026-03-02", "2026-03-03"]
    series = {s.group: s for s in trends.series}
    assert list(series) == ["ChatCompletions_Create", "embeddings_create"]  # busiest first
    chat, embeddings = series["ChatCompletions_Create"], series["embeddings_create"]
    assert chat.requests == 6 and embeddings.requests == 2
    assert chat.throttled_pct == [25.0, 0.0] and chat.error_pct == [0.0, 0.0]
    assert embeddings.throttled_pct == [0.0, None] and embeddings.error_pct == [50.0, None]
    assert chat.p95_ms[0] == pytest.approx(2000, rel=0.07) and chat.p95_ms[1] == pytest.approx(4000, rel=0.07)
    assert embeddings.p95_ms == [pytest.approx(100, rel=0.07), None]


def test_a_range_that_cuts_a_day_counts_only_its_hours():
    _traffic()
    trends = latency_operation_trends(
        filters=LatencyFilters(start=D1 + timedelta(hours=11), end=D1 + timedelta(days=2)), by="operation"
    )
    series = {s.group: s for s in trends.series}
    assert series["ChatCompletions_Create"].requests == 2  # the four at 10:00 are before the range
    assert series["ChatCompletions_Create"].throttled_pct == [None, 0.0]
    assert series["embeddings_create"].requests == 2 and series["embeddings_create"].error_pct == [50.0, None]


def test_it_groups_by_deployment_and_follows_the_filters():
    _traffic()
    by_deployment = latency_operation_trends(filters=TWO_DAYS, by="deployment")
    assert {s.group: s.requests for s in by_deployment.series} == {"gpt-4o": 6, "text-embedding-3-small": 2}
    streaming = LatencyFilters(start=D1, end=D1 + timedelta(days=2), streaming=True)
    assert {s.group: s.requests for s in latency_operation_trends(filters=streaming).series} == {
        "ChatCompletions_Create": 2
    }
    embeddings = LatencyFilters(start=D1, end=D1 + timedelta(days=2), deployment="text-embedding-3-small")
    assert [s.group for s in latency_operation_trends(filters=embeddings).series] == ["embeddings_create"]
    # A range of hours leaves out the hours of its days outside it (23:00 on day 1 here).
    morning = LatencyFilters(start=D1, end=D1 + timedelta(hours=12))
    assert [s.group for s in latency_operation_trends(filters=morning).series] == ["ChatCompletions_Create"]


def test_a_refreshed_hour_replaces_that_hour_and_keeps_the_rest_of_the_day():
    _traffic()
    GatewayRequest.objects.filter(operation_id="embeddings_create").update(response_code=200)
    rollup_refresh_range(start=D1 + timedelta(hours=23), end=D1 + timedelta(hours=24))
    row = LatencyOperationDaily.objects.get(day=D1.date(), operation="embeddings_create")
    assert (row.requests, row.errors) == (2, 0)
    chat = LatencyOperationDaily.objects.get(day=D1.date(), operation="ChatCompletions_Create")
    assert (chat.requests, chat.throttled) == (4, 1) and set(chat.hours) == {"10"}
    assert chat.total_time_hist == {str(bucket_index(2000.0)): 4}


def test_new_requests_reach_it_through_the_incremental_path_and_a_rebuild_changes_nothing():
    from usage.rollups.delta import RollupDelta, rollup_add

    request = gateway_request(time=D1 + timedelta(hours=5), operation_id="", operation="responses")
    request.save()
    delta = RollupDelta()
    delta.add([request], {})
    rollup_add(delta)
    row = LatencyOperationDaily.objects.get(day=D1.date())
    assert (row.operation, row.requests) == ("responses", 1)  # the URL's operation without an OperationId
    before = list(LatencyOperationDaily.objects.values("operation", "requests", "total_time_hist", "hours"))
    latency_operations_rebuild()
    assert (
        list(LatencyOperationDaily.objects.values("operation", "requests", "total_time_hist", "hours"))
        == before
    )


def test_it_shows_the_busiest_groups_only():
    for n in range(10):
        for _ in range(n + 1):
            _store(time=D1 + timedelta(hours=1), operation_id=f"op_{n}")
    rollup_refresh_range(start=D1, end=D1 + timedelta(hours=2))
    trends = latency_operation_trends(filters=TWO_DAYS)
    assert trends.groups == 10 and [s.group for s in trends.series] == [f"op_{n}" for n in range(9, 1, -1)]
