"""A refresh of more than one chunk of hours builds the latency rollups in a second thread
(``usage.rollups.latency_alongside``): the same rollups as in one thread, no hour left marked, a
failure in the second thread raised with its hours left marked for the next pending refresh, and
locks that let the two halves run side by side while every other refresh waits for both."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

import usage.rollups.hourly
import usage.rollups.latency_alongside
from tests.support.rollup_snapshot import ROLLUP_TABLES, rollup_snapshot
from usage.demo.data import generate_logs
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import LatencyHourOfDaySpan, LatencyPendingHour, UsageHourly
from usage.rollups.common import _LATENCY_LOCK_KEY, rollup_lock
from usage.rollups.deferral import latency_hours_mark, latency_pending_refresh
from usage.rollups.hourly import rollup_refresh_range
from usage.rollups.latency import latency_hours_apply

START = datetime(2026, 11, 2, 19, tzinfo=UTC)
END = START + timedelta(hours=15)  # three chunks of at most six hours (below), across midnight
CHUNK_HOURS = 6
TABLES = (*ROLLUP_TABLES, LatencyHourOfDaySpan)

pytestmark = [
    # Each chunk commits on its own, and the second thread reads what it committed.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only (two connections)"),
]


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=40, seed=31)


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(usage.rollups.hourly, "_MAX_RUN_HOURS", CHUNK_HOURS)


@pytest.fixture
def stored(logs):
    for table in (NATIVE, LLM_LOG, GATEWAY):
        rows_store(table=table, rows=logs[table])


def _rebuilt(monkeypatch, *, alongside: bool) -> dict[str, list[tuple]]:
    monkeypatch.setattr(usage.rollups.latency_alongside, "LATENCY_ALONGSIDE", alongside)
    for model in TABLES:
        model.objects.all().delete()
    rollup_refresh_range(start=START, end=END)
    return rollup_snapshot(TABLES)


def _threads_applying(monkeypatch, *, fail_on_call: int | None = None) -> list[str]:
    """Record the thread of every latency refresh of the alongside path (raising on one call)."""
    names: list[str] = []
    apply = usage.rollups.latency_alongside.latency_hours_apply

    def recorded(hours, *args, **kwargs):
        names.append(threading.current_thread().name)
        if len(names) == fail_on_call:
            raise RuntimeError("the latency half failed")
        return apply(hours, *args, **kwargs)

    monkeypatch.setattr(usage.rollups.latency_alongside, "latency_hours_apply", recorded)
    return names


def test_the_second_thread_builds_the_rollups_one_thread_builds(stored, monkeypatch):
    one_thread = _rebuilt(monkeypatch, alongside=False)
    names = _threads_applying(monkeypatch)
    alongside = _rebuilt(monkeypatch, alongside=True)
    assert names and all(name.startswith("latency-rollups") for name in names)
    assert len(names) == 3  # one per chunk
    assert alongside == one_thread
    assert one_thread["LatencyDaily"] and one_thread["LatencyDailySpan"]
    assert not LatencyPendingHour.objects.exists()


def test_inside_a_transaction_the_refresh_stays_in_one_thread(stored, monkeypatch):
    names = _threads_applying(monkeypatch)
    with transaction.atomic():
        _rebuilt(monkeypatch, alongside=True)
    assert names == []  # the alongside path never ran: its thread could not see the hourly rows
    assert not LatencyPendingHour.objects.exists()


def test_a_failed_latency_half_is_raised_and_its_hours_stay_marked(stored, monkeypatch):
    one_thread = _rebuilt(monkeypatch, alongside=False)
    _threads_applying(monkeypatch, fail_on_call=2)
    with pytest.raises(RuntimeError, match="latency half failed"):
        _rebuilt(monkeypatch, alongside=True)
    marked = set(LatencyPendingHour.objects.values_list("hour", flat=True))
    # The first chunk's latency rollups were built; the failed chunk's hours (and any the hourly
    # half wrote after it) stay marked.
    assert START + timedelta(hours=CHUNK_HOURS + 2) in marked
    assert START + timedelta(hours=2) not in marked
    assert UsageHourly.objects.filter(hour__gte=START + timedelta(hours=CHUNK_HOURS)).exists()
    monkeypatch.setattr(usage.rollups.latency_alongside, "latency_hours_apply", latency_hours_apply)
    latency_pending_refresh()
    assert not LatencyPendingHour.objects.exists()
    assert rollup_snapshot(TABLES) == one_thread


def _other_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params)


def test_the_two_halves_take_one_lock_each_and_other_refreshes_both():
    with _other_connection() as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", [_LATENCY_LOCK_KEY])  # in its transaction
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            rollup_lock(latency=False)  # the hourly half does not wait for the latency half
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            rollup_lock()  # any other refresh waits for both


def test_marking_an_hour_already_marked_locks_it_until_commit():
    hour = datetime(2026, 11, 2, 7, tzinfo=UTC)
    LatencyPendingHour.objects.create(hour=hour)
    with _other_connection() as other, transaction.atomic():
        latency_hours_mark([hour, hour])  # already marked (and twice in the list)
        other.execute("SET lock_timeout = '300ms'")
        # The second thread unmarks an hour before it reads its rows: it must wait for this
        # transaction to commit, and then read what it wrote.
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute("DELETE FROM usage_latencypendinghour WHERE hour = %s", [hour])
    assert list(LatencyPendingHour.objects.values_list("hour", flat=True)) == [hour]
