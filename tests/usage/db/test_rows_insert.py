"""``rows_insert`` writes unsaved rows by binary COPY on PostgreSQL: the same rows ``bulk_create``
writes (JSON, bytes, decimals, times, nulls), and a value out of its column's range is refused."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction

import usage.db.copy
from tests.support.rollup_snapshot import rollup_snapshot
from usage.db.copy import rows_insert
from usage.models import LatencySubscriptionDaily, UsageDaily

pytestmark = pytest.mark.django_db


def _rows() -> list:
    return [
        UsageDaily(
            day=date(2026, 11, 2),
            apim_subscription_id="sub-1",
            deployment="gpt-4o",
            requests=3,
            total_tokens=2**40,
            cost=Decimal("0.12345678"),
        ),
        UsageDaily(day=date(2026, 11, 3), apim_subscription_id="sub-2", cost=0),
        LatencySubscriptionDaily(
            day=date(2026, 11, 2),
            apim_subscription_id="sub-1",
            is_streaming=True,
            requests=2,
            tps_backend_ms=12.5,
            total_time_hist=b"\x03\x02\x00\x00\x00\x00\x00\x00\x00",
            backend_time_hist=memoryview(b"\x01\x01\x00\x00\x00\x00\x00\x00\x00"),
            last_seen_at=datetime(2026, 11, 2, 10, 5, 1, 250, tzinfo=UTC),
            ratelimit_remaining_requests=None,
            measures_by_hour={"10": [2, 0, 0, 0, 12.5, "2026-11-02T10:05:01.000250+00:00", None, 7]},
            requests_by_hour={"10": 2},
        ),
    ]


def _written(monkeypatch, *, fast: bool) -> dict:
    monkeypatch.setattr(usage.db.copy, "ROWS_COPY_FAST_PATH", fast)
    UsageDaily.objects.all().delete()
    LatencySubscriptionDaily.objects.all().delete()
    rows = _rows()
    assert rows_insert(rows=rows[:2]) + rows_insert(rows=rows[2:]) == 3
    return rollup_snapshot((UsageDaily, LatencySubscriptionDaily))


def test_it_writes_what_bulk_create_writes(monkeypatch):
    portable = _written(monkeypatch, fast=False)
    assert _written(monkeypatch, fast=True) == portable
    assert UsageDaily.objects.get(apim_subscription_id="sub-1").cost == Decimal("0.12345678")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY is PostgreSQL's")
def test_it_refuses_a_number_out_of_range():
    with pytest.raises(DataError), transaction.atomic():
        rows_insert(rows=[UsageDaily(day=date(2026, 11, 2), requests=2**63)])
    assert not UsageDaily.objects.exists()


def test_nothing_to_insert_writes_nothing():
    assert rows_insert(rows=[]) == 0
