"""``usage.db.bulk.rows_update``: the PostgreSQL fast path stores exactly what ``bulk_update`` stores."""

import datetime as dt
from decimal import Decimal

import pytest

import usage.db.bulk
from tests.factories import gateway_request_create
from usage.db.bulk import rows_update
from usage.models import GatewayRequest

pytestmark = pytest.mark.django_db

FIELDS = [
    "model",
    "prompt_tokens",
    "response_code",
    "total_time_ms",
    "is_streaming",
    "is_request_success",
    "content_filter",
    "cost",
    "usage_computed_at",
    "usage_note",
]


def _requests(prefix: str, count: int) -> list[GatewayRequest]:
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    return [
        gateway_request_create(
            correlation_id=f"{prefix}-{i}", time=start + dt.timedelta(minutes=i), apim_subscription_id="sub-a"
        )
        for i in range(count)
    ]


def _change(rows: list[GatewayRequest]) -> None:
    for i, row in enumerate(rows):
        row.model = f"gpt-4o-{i}" if i % 2 else 'it\'s "quoted" {braces}, NULL'
        row.prompt_tokens = i * 7
        row.response_code = None if i % 3 == 0 else 200 + i
        row.total_time_ms = None if i % 4 == 0 else i / 3
        row.is_streaming = bool(i % 2)
        row.is_request_success = None if i % 5 == 0 else bool(i % 2)
        row.content_filter = {} if i % 2 else {"hate": {"filtered": True, "severity": "safe"}, "note": "ü ☃"}
        row.cost = Decimal("0.00012345") * i
        row.usage_computed_at = dt.datetime(2026, 11, 25, 12, i % 60, tzinfo=dt.UTC)
        row.usage_note = "" if i % 2 else "tokens estimated"
        row.apim_subscription_id = "not written"  # a field not listed stays as stored


def _stored(prefix: str) -> list[tuple]:
    return list(
        GatewayRequest.objects.filter(correlation_id__startswith=f"{prefix}-")
        .order_by("time")
        .values_list("apim_subscription_id", *FIELDS)
    )


def test_it_stores_the_same_values_on_the_fast_and_the_portable_path(monkeypatch):
    fast, portable = _requests("fast", 13), _requests("portable", 13)
    _change(fast)
    _change(portable)

    assert rows_update(rows=fast, fields=FIELDS) == 13
    monkeypatch.setattr(usage.db.bulk, "UNNEST_FAST_PATH", False)
    assert rows_update(rows=portable, fields=FIELDS, batch_size=5) == 13

    stored_fast, stored_portable = _stored("fast"), _stored("portable")
    assert stored_fast == stored_portable
    assert stored_fast[1][1:4] == ("gpt-4o-1", 7, 201)
    assert stored_fast[0][1] == 'it\'s "quoted" {braces}, NULL'
    assert stored_fast[0][7] == {"hate": {"filtered": True, "severity": "safe"}, "note": "ü ☃"}
    assert stored_fast[3][8] == Decimal("0.00037035")
    assert {row[0] for row in stored_fast} == {"sub-a"}


def test_it_writes_more_rows_than_one_chunk(monkeypatch):
    monkeypatch.setattr(usage.db.bulk, "CHUNK", 4)
    rows = _requests("chunked", 10)
    for i, row in enumerate(rows):
        row.prompt_tokens = 1000 + i

    assert rows_update(rows=rows, fields=["prompt_tokens"]) == 10
    assert list(
        GatewayRequest.objects.filter(correlation_id__startswith="chunked-")
        .order_by("time")
        .values_list("prompt_tokens", flat=True)
    ) == [1000 + i for i in range(10)]


def test_it_does_nothing_without_rows():
    assert rows_update(rows=[], fields=FIELDS) == 0


def test_rows_with_their_time_deferred_or_moved_in_time_are_still_found():
    # PostgreSQL matches the partitioned request table on (id, time) when the rows carry the time.
    _requests("partial", 3)
    rows = list(
        GatewayRequest.objects.filter(correlation_id__startswith="partial-").only("id", "prompt_tokens")
    )
    for row in rows:
        row.prompt_tokens = 7
    assert rows_update(rows=rows, fields=["prompt_tokens"]) == 3
    moved = list(GatewayRequest.objects.filter(correlation_id__startswith="partial-"))
    for row in moved:
        row.time += dt.timedelta(days=40)  # into another month, so another partition
    rows_update(rows=moved, fields=["time"])
    assert sorted(GatewayRequest.objects.filter(prompt_tokens=7).values_list("time__month", flat=True)) == [
        11,
        11,
        11,
    ]
