"""Latency rollups built from an empty database: refreshing piece by piece in any order, and the
migrations that backfill them.

Kept apart from test_latency_spans and test_latency_subscription_daily, whose requests are built
once per module and would be in the way here.
"""

import random
from datetime import timedelta

import pytest

from tests.support.latency_data import requests_random_store
from tests.support.migrations_replay import migration_replay
from tests.usage.rollups import test_latency_spans as spans
from tests.usage.rollups import test_latency_subscription_daily as subscription
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range
from usage.rollups.latency import latency_daily_refresh

H = subscription.H


@pytest.mark.slow
def test_refreshing_hours_one_by_one_in_any_order_builds_what_a_full_rebuild_builds(db):
    requests = requests_random_store(n=300, seed=3, start=H + timedelta(hours=10), hours=30)
    hours = sorted({r.time.replace(minute=0, second=0, microsecond=0) for r in requests})
    random.Random(1).shuffle(hours)
    for hour in hours:
        rollup_refresh_hours(hours=[hour])
    incremental = subscription._snapshot()
    for rows in incremental.values():
        assert {row[0] for row in rows} == {str(H.date()), str((H + timedelta(days=1)).date())}
    assert subscription._rebuilt_snapshot() == incremental
    subscription._rollups_delete()
    latency_daily_refresh(days=[H, H + timedelta(days=1)])
    assert subscription._snapshot() == incremental


@pytest.mark.django_db(transaction=True)
def test_the_subscription_migration_backfills_what_a_refresh_writes():
    requests_random_store(n=400, seed=21, start=H + timedelta(hours=3), hours=40)
    rollup_refresh_range(start=H, end=H + timedelta(days=2))
    expected = subscription._snapshot()
    assert all(expected.values())
    # Replays 0015 and every later migration: 0019 backfills LatencySubscriptionRegionDaily.
    migration_replay("usage", before="0014_unmatched_rows", migration="0015_latency_subscription_daily")
    assert subscription._snapshot() == expected


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_spans_migration_backfills_what_a_refresh_writes():
    start = spans.START
    requests_random_store(n=600, seed=34, start=start, hours=20 * 24)
    rollup_refresh_range(start=start, end=start + timedelta(days=20))
    expected = spans._snapshot()
    assert expected
    migration_replay("usage", before="0016_lz4_toast_compression", migration="0017_latency_spans")
    assert spans._snapshot() == expected
