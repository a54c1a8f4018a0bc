"""latency_rollups_deferred: long imports refresh the latency rollups once a minute and at the end
instead of after every batch, mark the hours in each batch's transaction, and end with what a
rebuild builds; hours a killed worker left pending are refreshed by the next import."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError
from django.db.models import Sum

from tests.support.rollup_snapshot import rollup_snapshot
from usage.demo.data import generate_logs
from usage.ingestion.files import logs_file_import
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import (
    GatewayRequest,
    LatencyDaily,
    LatencyDailySpan,
    LatencyHourOfDay,
    LatencyHourOfDaySpan,
    LatencyPendingHour,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    UsageHourly,
)
from usage.rollups.common import hour_floor
from usage.rollups.deferral import latency_rollups_deferred
from usage.rollups.latency import latency_daily_refresh

START = datetime(2026, 11, 2, 21, tzinfo=UTC)  # crosses midnight: two days, and their spans
END = datetime(2026, 11, 3, 2, tzinfo=UTC)
LATENCY_TABLES = (
    LatencyDaily,
    LatencyHourOfDay,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    LatencyDailySpan,
    LatencyHourOfDaySpan,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=40, seed=8)


def _latency_snapshot() -> dict[str, list[tuple]]:
    return rollup_snapshot(LATENCY_TABLES)


def _rebuilt_snapshot() -> list[tuple]:
    for model in LATENCY_TABLES:
        model.objects.all().delete()
    days = {hour_floor(h).replace(hour=0) for h in UsageHourly.objects.values_list("hour", flat=True)}
    latency_daily_refresh(days=days)
    return _latency_snapshot()


def _store_all(logs, batch_size: int = 100) -> None:
    for table in (NATIVE, LLM_LOG, GATEWAY):
        rows = logs[table]
        for start in range(0, len(rows), batch_size):  # as import_logs: one call per batch
            rows_store(table=table, rows=rows[start : start + batch_size], batch_size=batch_size)


def _request_hours() -> set[datetime]:
    return {hour_floor(t) for t in GatewayRequest.objects.values_list("time", flat=True)}


def test_a_deferred_import_marks_its_hours_and_ends_with_what_a_rebuild_builds(logs):
    with latency_rollups_deferred(every_seconds=3600):
        _store_all(logs)
        # Usage is current batch by batch; the latency rollups wait, their hours marked.
        assert UsageHourly.objects.aggregate(n=Sum("requests"))["n"] == GatewayRequest.objects.count()
        assert not LatencyDaily.objects.exists()
        assert set(LatencyPendingHour.objects.values_list("hour", flat=True)) == _request_hours()
    assert not LatencyPendingHour.objects.exists()
    deferred = _latency_snapshot()
    assert LatencyDaily.objects.aggregate(n=Sum("requests"))["n"] == GatewayRequest.objects.count()
    assert all(deferred.values())  # every latency table has rows
    assert _rebuilt_snapshot() == deferred


def test_without_deferral_every_batch_refreshes_the_latency_rollups(logs):
    _store_all(logs)
    assert not LatencyPendingHour.objects.exists()
    immediate = _latency_snapshot()
    assert LatencyDaily.objects.aggregate(n=Sum("requests"))["n"] == GatewayRequest.objects.count()
    assert _rebuilt_snapshot() == immediate


def test_the_tick_refreshes_the_pending_hours_once_the_interval_has_passed(logs):
    with latency_rollups_deferred(every_seconds=0):  # every batch is a minute later
        rows_store(table=NATIVE, rows=logs[NATIVE])
        rows_store(table=GATEWAY, rows=logs[GATEWAY][:200], batch_size=100)
        assert not LatencyPendingHour.objects.exists()
        assert LatencyDaily.objects.aggregate(n=Sum("requests"))["n"] == GatewayRequest.objects.count()
    assert _rebuilt_snapshot() == _latency_snapshot()


def test_hours_left_pending_by_a_killed_worker_are_refreshed_by_the_next_import(logs, tmp_path):
    class Killed(Exception):
        pass

    with pytest.raises(Killed), latency_rollups_deferred(every_seconds=3600):
        _store_all(logs)
        raise Killed  # the batches committed; the refresh at the end never ran
    assert LatencyPendingHour.objects.count() == len(_request_hours())
    assert not LatencyDaily.objects.exists()

    # The next import (a file with nothing new in it) refreshes them first.
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    logs_file_import(path=empty)
    assert not LatencyPendingHour.objects.exists()
    assert LatencyDaily.objects.aggregate(n=Sum("requests"))["n"] == GatewayRequest.objects.count()
    assert _rebuilt_snapshot() == _latency_snapshot()


def test_a_failed_batch_leaves_no_mark_behind(logs, monkeypatch):
    import usage.ingestion.store

    def failing(*args, **kwargs):
        # A lost connection: the one failure the store does not turn into rejected rows.
        raise OperationalError("database went away")

    # The last step of a batch's transaction, after its hours were marked.
    monkeypatch.setattr(usage.ingestion.store, "unmatched_rows_update", failing)
    with latency_rollups_deferred(every_seconds=3600):
        with pytest.raises(OperationalError):
            rows_store(table=GATEWAY, rows=logs[GATEWAY][:50])
        assert not LatencyPendingHour.objects.exists()
        assert not GatewayRequest.objects.exists()


def test_nested_blocks_refresh_once_at_the_outer_end(logs):
    with latency_rollups_deferred(every_seconds=3600):
        with latency_rollups_deferred(every_seconds=0):
            rows_store(table=GATEWAY, rows=logs[GATEWAY][:100])
        assert LatencyPendingHour.objects.exists()  # the inner block neither ticked nor refreshed
    assert not LatencyPendingHour.objects.exists()
    assert LatencyDaily.objects.exists()


def test_hours_of_another_window_are_left_alone(logs):
    """A pending refresh replaces only the marked hours: the other hours of the day keep theirs."""
    _store_all(logs)
    before = LatencyDaily.objects.aggregate(n=Sum("requests"))["n"]
    LatencyPendingHour.objects.create(hour=END + timedelta(hours=5))  # an hour with no requests
    with latency_rollups_deferred():
        pass
    assert not LatencyPendingHour.objects.exists()
    assert LatencyDaily.objects.aggregate(n=Sum("requests"))["n"] == before
    assert _rebuilt_snapshot() == _latency_snapshot()
