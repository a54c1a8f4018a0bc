"""Batches stored by worker processes (usage.ingestion.parallel.BatchStore) leave the database as
one process storing them one after the other does: requests, usage and cost, joins, flags,
unmatched entries and every rollup."""

import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from audit.models import Flag
from tests.support.rollup_snapshot import ROLLUP_TABLES, rollup_snapshot
from usage.demo.data import generate_logs
from usage.ingestion.parallel import BatchStore, inherited_connections_forget, workers_available
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import (
    GatewayRequest,
    LatencyPendingHour,
    LlmLogChunk,
    NativeLog,
    RejectedRow,
    UnmatchedRow,
)
from usage.rollups.deferral import latency_rollups_deferred

START = datetime(2026, 11, 2, 22, tzinfo=UTC)
END = datetime(2026, 11, 3, 1, tzinfo=UTC)
BATCH = 60
# Tables kept from the stored rows, compared whole.
SUMMARIES = (*ROLLUP_TABLES, UnmatchedRow)

# Worker processes commit for real: the test database is emptied after each test.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=120, seed=21)


def _store(logs, *, workers: int, order=(NATIVE, LLM_LOG, GATEWAY)) -> dict:
    with latency_rollups_deferred(), BatchStore(workers=workers, source="test", batch_size=BATCH) as store:
        for table in order:
            rows = logs[table]
            for start in range(0, len(rows), BATCH):  # as import_logs: one batch per call
                store.submit(table=table, rows=rows[start : start + BATCH])
    counts = {table: (r.rows_read, r.stored, r.duplicates, r.rejected) for table, r in store.results.items()}
    return {**counts, "workers": store.workers}


def _state() -> dict:
    request_fields = [
        f.name
        for f in GatewayRequest._meta.fields
        if f.name not in ("id", "ingested_at", "usage_computed_at")  # times of the write
    ]
    state = rollup_snapshot(SUMMARIES)
    state["requests"] = sorted(map(str, GatewayRequest.objects.values_list(*request_fields)))
    state["flags"] = sorted(Flag.objects.values_list("request__correlation_id", "source", "name", "severity"))
    state["counts"] = [m.objects.count() for m in (NativeLog, LlmLogChunk, RejectedRow, LatencyPendingHour)]
    return state


def _empty() -> None:
    with connection.cursor() as cursor:
        for model in (Flag, GatewayRequest, NativeLog, LlmLogChunk, RejectedRow, *SUMMARIES):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")


@pytest.mark.slow
@pytest.mark.parametrize("order", [(NATIVE, LLM_LOG, GATEWAY), (GATEWAY, NATIVE, LLM_LOG)])
def test_two_workers_store_what_one_process_stores(logs, order):
    one = _store(logs, workers=1, order=order)
    expected = _state()
    requests = GatewayRequest.objects.count()
    assert requests > 300
    assert UnmatchedRow.objects.filter(table=GATEWAY).count() < requests / 10  # joined
    assert Flag.objects.exists()
    _empty()

    two = _store(logs, workers=2, order=order)
    assert (one.pop("workers"), two.pop("workers")) == (1, 2)
    assert two == one
    assert _state() == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_results_count_rows_without_keeping_their_ids(logs, workers):
    """Over a long import the results would otherwise hold the id of every request refreshed."""
    with latency_rollups_deferred(), BatchStore(workers=workers, source="test", batch_size=BATCH) as store:
        for table in (NATIVE, GATEWAY):
            for start in range(0, len(logs[table]), BATCH):
                store.submit(table=table, rows=logs[table][start : start + BATCH])
    assert store.results[GATEWAY].stored == GatewayRequest.objects.count() > 300
    assert store.results[NATIVE].stored == NativeLog.objects.count()
    assert all(result.correlation_ids == set() for result in store.results.values())


def test_a_table_waits_for_the_batches_of_the_one_before(logs, monkeypatch):
    """A native batch and the gateway batch of the same requests, each slow to commit: run side by
    side, each would read the other's rows before they commit and neither would join them."""
    import usage.ingestion.store

    _store(logs, workers=1, order=(NATIVE, GATEWAY))
    expected = _state()
    _empty()

    original = usage.ingestion.store.unmatched_rows_update

    def slow_commit(**kwargs):  # the last step of a batch, before its commit
        time.sleep(0.5)
        original(**kwargs)

    # Patched before the workers fork, so they inherit it.
    monkeypatch.setattr(usage.ingestion.store, "unmatched_rows_update", slow_commit)
    with latency_rollups_deferred(), BatchStore(workers=2, source="test", batch_size=10_000) as store:
        for table in (NATIVE, GATEWAY):
            store.submit(table=table, rows=logs[table])
    assert _state() == expected


def test_a_window_stored_again_by_two_workers_changes_nothing(logs):
    _store(logs, workers=2)
    before = _state()
    counts = _store(logs, workers=2)
    assert counts[GATEWAY][1] == 0 and counts[GATEWAY][2] == len(logs[GATEWAY]) - counts[GATEWAY][3]
    assert _state() == before


def test_a_failing_batch_raises_from_the_block(logs, monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError("database gone")

    # Patched before the workers fork, so they inherit it.
    monkeypatch.setattr("usage.ingestion.parallel.rows_store", refuse)
    with pytest.raises(RuntimeError, match="database gone"):
        with BatchStore(workers=2, source="test", batch_size=BATCH) as store:
            store.submit(table=NATIVE, rows=logs[NATIVE][:BATCH])


def _store_as_a_celery_child(logs, queue) -> None:
    inherited_connections_forget()  # the test's own session: closing it would end it
    try:
        queue.put(("stored", _store(logs, workers=2)))
    except BaseException as error:
        queue.put(("failed", repr(error)))


def test_a_celery_prefork_child_stores_with_workers(logs):
    """The pull runs in a Celery prefork child: a daemonic billiard process, which the standard
    library would not let fork ("daemonic processes are not allowed to have children")."""
    import billiard

    one = _store(logs, workers=1)
    expected = _state()
    _empty()

    queue = billiard.Queue()
    child = billiard.Process(target=_store_as_a_celery_child, args=(logs, queue), daemon=True)
    child.start()
    outcome = queue.get(timeout=120)
    child.join(30)
    assert outcome == ("stored", {**one, "workers": 2})  # forked its own workers
    assert _state() == expected


def test_batches_travel_to_the_workers_unchanged(logs):
    """Rows read from JSON go by marshal; rows with other values (the SDK's datetimes) by pickle."""
    from usage.ingestion.parallel import _rows_pack, _rows_unpack

    json_rows = logs[GATEWAY][:50]
    assert _rows_pack(json_rows)[0] == "marshal"
    assert _rows_unpack(_rows_pack(json_rows)) == json_rows
    sdk_rows = [{**row, "TimeGenerated": START} for row in json_rows]
    assert _rows_pack(sdk_rows)[0] == "pickle"
    assert _rows_unpack(_rows_pack(sdk_rows)) == sdk_rows


def test_inside_a_transaction_or_on_sqlite_batches_are_stored_in_this_process(monkeypatch):
    from django.db import transaction

    assert workers_available(2) == 2
    assert workers_available(0) == 1
    with transaction.atomic():  # workers would not see the transaction's rows
        assert workers_available(2) == 1
    monkeypatch.setattr(connection, "vendor", "sqlite")  # one writer at a time
    assert workers_available(2) == 1
