"""UnmatchedRow, the rows waiting for their join partner that the ingestion status page counts:
kept by ingestion, equal to anti-joining the log tables, idempotent, shrunk by late partners."""

import importlib
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from usage.demo.data import generate_logs
from usage.ingestion import store
from usage.ingestion.selectors import (
    ingestion_unmatched_counts,
    ingestion_unmatched_counts_scan,
    ingestion_unmatched_since,
)
from usage.ingestion.status import ingestion_table_statuses
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, LlmLogChunk, NativeLog, UnmatchedRow

START = datetime(2026, 11, 2, 0, tzinfo=UTC)
END = datetime(2026, 11, 4, 12, tzinfo=UTC)
TABLES = (GATEWAY, NATIVE, LLM_LOG)


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=2, seed=11)


def _part(rows, part, parts):
    """Every ``parts``-th row starting at ``part``: the rows of one table arrive in several pulls."""
    return rows[part::parts]


def _windows():
    """Moments to count from: before everything, inside the data (hour boundaries and not), after."""
    return [
        None,
        START - timedelta(days=1),
        START + timedelta(hours=30, minutes=17),
        END,
        END + timedelta(days=1),
    ]


def _assert_counts_equal_the_scan():
    for since in _windows():
        assert ingestion_unmatched_counts(since=since) == ingestion_unmatched_counts_scan(since=since), since


def _entries():
    return sorted(UnmatchedRow.objects.values_list("table", "row_key", "partner_key", "time"))


@pytest.mark.parametrize("order", list(itertools.permutations(TABLES)))
def test_counts_equal_the_scan_whatever_order_the_tables_arrive_in(db, logs, order):
    seen_waiting = set()
    for table in order:
        rows_store(table=table, rows=logs[table], batch_size=37)
        _assert_counts_equal_the_scan()
        seen_waiting.update(t for t, n in ingestion_unmatched_counts().items() if n)
    assert seen_waiting  # the comparison was not between zeros only


def test_counts_equal_the_scan_when_the_tables_arrive_interleaved_in_parts(db, logs):
    parts = 4
    for part in range(parts):
        for table in (LLM_LOG, NATIVE, GATEWAY) if part % 2 else TABLES:
            rows_store(table=table, rows=_part(logs[table], part, parts), batch_size=50)
            _assert_counts_equal_the_scan()


def test_a_late_partner_reduces_the_count(db, logs):
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    waiting = ingestion_unmatched_counts()
    assert waiting[GATEWAY] == GatewayRequest.objects.exclude(apim_request_id="").count() > 0
    assert waiting[LLM_LOG] == 0
    rows_store(table=NATIVE, rows=_part(logs[NATIVE], 0, 2))
    half = ingestion_unmatched_counts()
    assert 0 < half[GATEWAY] < waiting[GATEWAY]
    rows_store(table=NATIVE, rows=_part(logs[NATIVE], 1, 2))
    assert ingestion_unmatched_counts()[GATEWAY] < half[GATEWAY]
    _assert_counts_equal_the_scan()


def test_a_late_gateway_row_ends_the_wait_of_its_native_row_and_llm_chunks(db, logs):
    rows_store(table=NATIVE, rows=logs[NATIVE])
    rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    assert ingestion_unmatched_counts()[NATIVE] == NativeLog.objects.count()
    assert ingestion_unmatched_counts()[LLM_LOG] == LlmLogChunk.objects.count() > 0
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    assert ingestion_unmatched_counts()[LLM_LOG] == 0
    assert ingestion_unmatched_counts()[NATIVE] < NativeLog.objects.count()
    _assert_counts_equal_the_scan()


@pytest.mark.parametrize("copy_path", [True, False])
def test_storing_a_window_again_changes_nothing(db, logs, monkeypatch, copy_path):
    monkeypatch.setattr(store, "COPY_FAST_PATH", copy_path)
    for table in TABLES:
        rows_store(table=table, rows=_part(logs[table], 0, 2))
    entries = _entries()
    assert entries
    for table in TABLES:
        rows_store(table=table, rows=_part(logs[table], 0, 2))
        assert _entries() == entries
    # The rest of the rows, then everything again: the same as storing it all once.
    for table in TABLES:
        rows_store(table=table, rows=logs[table])
    entries = _entries()
    for table in (NATIVE, LLM_LOG, GATEWAY):
        rows_store(table=table, rows=logs[table], batch_size=29)
    assert _entries() == entries
    _assert_counts_equal_the_scan()


def test_rows_the_database_refuses_get_no_entry(db, logs, monkeypatch):
    """A batch redone row by row (one row refused) keeps entries for the rows written only."""
    from usage.ingestion.rows import PARSERS, GatewayRow

    parse = PARSERS[GATEWAY]
    poisoned = next(r["CorrelationId"] for r in logs[GATEWAY] if r.get("CorrelationId"))

    def parse_with_poison(row):
        parsed = parse(row)
        if isinstance(parsed, GatewayRow) and parsed.correlation_id == poisoned:
            parsed.response_code = 2**40  # out of the column's range (integer)
        return parsed

    monkeypatch.setitem(PARSERS, GATEWAY, parse_with_poison)
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    assert not UnmatchedRow.objects.filter(row_key=poisoned).exists()
    _assert_counts_equal_the_scan()


def test_the_status_page_numbers_equal_a_direct_computation(db, logs, client_for, admin_user):
    rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    rows_store(table=GATEWAY, rows=_part(logs[GATEWAY], 0, 2))
    rows_store(table=NATIVE, rows=_part(logs[NATIVE], 0, 3))
    since = ingestion_unmatched_since(days=settings.INGEST_UNMATCHED_DAYS)
    assert START < since < END  # the window cuts the data
    expected = ingestion_unmatched_counts_scan(since=since)
    assert all(expected.values())
    assert expected != ingestion_unmatched_counts_scan()  # rows before the window are left out
    statuses = {status.table: status.unmatched for status in ingestion_table_statuses()}
    assert statuses == expected

    response = client_for(admin_user).get("/ingestion/")
    assert response.status_code == 200
    assert [(s.table, s.unmatched) for s in response.context["tables"]] == [
        (table, expected[table]) for table in statuses
    ]


def test_the_count_does_not_read_the_log_tables(db, logs):
    for table in TABLES:
        rows_store(table=table, rows=logs[table])
    with CaptureQueriesContext(connection) as queries:
        ingestion_unmatched_counts(since=START)
    assert len(queries) == 1
    sql = queries[0]["sql"]
    assert UnmatchedRow._meta.db_table in sql
    for model in (GatewayRequest, NativeLog, LlmLogChunk):
        assert f'"{model._meta.db_table}"' not in sql


def test_the_migration_backfills_the_rows_stored_before_it(db, logs):
    """Rows stored before the table existed (here: entries wiped) get theirs from the backfill."""
    for table in (NATIVE, GATEWAY, LLM_LOG):
        rows_store(table=table, rows=_part(logs[table], 0, 2))
    entries = _entries()
    # Rows written straight to the tables (as a bench or an old import did) have no entries yet.
    GatewayRequest.objects.create(
        correlation_id="lonely", apim_request_id="nobody", time=END, ingested_at=END
    )
    NativeLog.objects.create(correlation_id="stray", time=END, ingested_at=END)
    LlmLogChunk.objects.create(
        correlation_id="orphan", request_id="r", sequence_number=2, time=END, ingested_at=END
    )
    UnmatchedRow.objects.all().delete()

    migration = importlib.import_module("usage.migrations.0014_unmatched_rows")
    migration.backfill(apps, None)
    assert set(entries) < set(_entries())
    assert {(t, k) for t, k, _, _ in _entries()} - {(t, k) for t, k, _, _ in entries} == {
        (GATEWAY, "lonely"),
        (NATIVE, "stray"),
        (LLM_LOG, '["orphan", "r", 2]'),
    }
    _assert_counts_equal_the_scan()
    migration.backfill(apps, None)  # twice: nothing more
    assert len(_entries()) == len(entries) + 3


def test_request_retention_forgets_the_entries_of_the_rows_it_removes(db, logs, settings):
    from usage.db.partitions import requests_partition_forget
    from usage.retention import requests_retention_apply

    old = generate_logs(
        start=datetime(2026, 8, 10, tzinfo=UTC),
        end=datetime(2026, 8, 10, 6, tzinfo=UTC),
        requests_per_hour=6,
        seed=5,
    )
    for table in TABLES:  # old rows with and without partners, and recent ones
        rows_store(table=table, rows=_part(old[table], 0, 2 if table == GATEWAY else 1))
        rows_store(table=table, rows=_part(logs[table], 0, 2 if table == NATIVE else 1))
    assert UnmatchedRow.objects.filter(time__lt=datetime(2026, 9, 1, tzinfo=UTC)).count() > 0
    _assert_counts_equal_the_scan()

    settings.REQUEST_RETENTION_MONTHS = 2
    requests_partition_forget()
    result = requests_retention_apply(now=datetime(2026, 11, 15, 12, tzinfo=UTC))
    requests_partition_forget()
    assert result.requests and result.native_logs
    assert not UnmatchedRow.objects.filter(time__lt=datetime(2026, 9, 1, tzinfo=UTC)).exists()
    assert ingestion_unmatched_counts() == ingestion_unmatched_counts_scan()
    assert ingestion_unmatched_counts()[GATEWAY] > 0  # the recent waiting rows stay
