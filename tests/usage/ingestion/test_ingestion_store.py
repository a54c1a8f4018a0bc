"""rows_store: bulk, idempotent, atomic per batch, joins whichever partner arrives first."""

import copy
import gc
from datetime import UTC, datetime, timedelta

import pytest

from usage.demo.data import generate_logs
from usage.ingestion import conflicts, store
from usage.ingestion.cells import Rejection
from usage.ingestion.rows import PARSERS
from usage.ingestion.selectors import ingestion_unmatched_counts, ingestion_unmatched_counts_scan
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, LlmLogChunk, NativeLog, RejectedRow, UsageHourly

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
END = datetime(2026, 11, 2, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=40, seed=7)


def _store_all(logs, *, order=(GATEWAY, NATIVE, LLM_LOG), batch_size=store.BATCH_SIZE):
    return {table: rows_store(table=table, rows=logs[table], batch_size=batch_size) for table in order}


def _totals():
    return {
        "requests": GatewayRequest.objects.count(),
        "native": NativeLog.objects.count(),
        "chunks": LlmLogChunk.objects.count(),
        "rejected": RejectedRow.objects.count(),
        "rollup_requests": sum(UsageHourly.objects.values_list("requests", flat=True)),
        "unmatched": ingestion_unmatched_counts(),
        "unmatched_scan": ingestion_unmatched_counts_scan(),
        "ids": sorted(GatewayRequest.objects.values_list("correlation_id", flat=True)),
    }


def test_it_stores_every_table_and_rejects_malformed_rows_with_reasons(db, logs):
    results = _store_all(logs)
    gateway = results[GATEWAY]
    assert gateway.rows_read == len(logs[GATEWAY])
    assert gateway.stored == 40 == GatewayRequest.objects.count()
    assert gateway.rejected == 2
    assert set(gateway.reasons) == {"CorrelationId: missing", "TimeGenerated: not a datetime"}
    assert results[NATIVE].stored == NativeLog.objects.count() > 30
    assert results[NATIVE].reasons == {"CorrelationId: longer than 64 characters": 1}
    assert results[LLM_LOG].reasons == {"SequenceNumber: not an integer": 1}
    assert RejectedRow.objects.count() == 4
    assert set(RejectedRow.objects.values_list("source", flat=True)) == {GATEWAY, NATIVE, LLM_LOG}
    rejected = RejectedRow.objects.get(source=GATEWAY, reason__startswith="TimeGenerated")
    assert (
        "yesterday-ish" in rejected.raw
        and rejected.reason == "TimeGenerated: not a datetime: 'yesterday-ish'"
    )
    for table, result in results.items():
        assert result.rows_read == result.stored + result.duplicates + result.rejected, table
    # The rollup of the hour counts every request once.
    assert sum(UsageHourly.objects.values_list("requests", flat=True)) == 40


def test_storing_the_same_rows_three_times_changes_nothing(db, logs, write_path):
    first = _store_all(logs)
    totals = _totals()
    for _ in range(2):
        again = _store_all(logs)
        assert _totals() == totals
        for table, result in again.items():
            assert result.stored == 0
            assert result.duplicates == first[table].stored + first[table].duplicates
            assert result.rejected == first[table].rejected
            assert result.correlation_ids == set()


def test_native_rows_join_whether_they_arrive_before_or_after_the_gateway_rows(db, logs):
    native_first = rows_store(table=NATIVE, rows=logs[NATIVE])
    assert native_first.correlation_ids == set()  # nothing to join yet
    waiting = ingestion_unmatched_counts()
    assert waiting[NATIVE] == NativeLog.objects.count()

    gateway = rows_store(table=GATEWAY, rows=logs[GATEWAY])
    assert gateway.correlation_ids == set(GatewayRequest.objects.values_list("correlation_id", flat=True))
    after = ingestion_unmatched_counts()
    bypassed_apim = NativeLog.objects.exclude(
        correlation_id__in=GatewayRequest.objects.values("apim_request_id")
    ).count()
    assert after[NATIVE] == bypassed_apim < waiting[NATIVE]
    # The other order gives the same join.
    totals = _totals()
    GatewayRequest.objects.all().delete()
    NativeLog.objects.all().delete()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    with_request_id = GatewayRequest.objects.exclude(apim_request_id="").count()
    assert ingestion_unmatched_counts()[GATEWAY] == with_request_id > 0
    late_native = rows_store(table=NATIVE, rows=logs[NATIVE])
    joined = set(
        GatewayRequest.objects.filter(
            apim_request_id__in=NativeLog.objects.values("correlation_id")
        ).values_list("correlation_id", flat=True)
    )
    assert late_native.correlation_ids == joined and joined
    assert ingestion_unmatched_counts()[GATEWAY] == with_request_id - len(joined)
    assert _totals()["unmatched"] == totals["unmatched"]


def test_llm_chunks_arriving_first_touch_their_request_when_it_arrives(db, logs):
    chunks = rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    assert chunks.correlation_ids == set()
    assert ingestion_unmatched_counts()[LLM_LOG] == LlmLogChunk.objects.count() > 0
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    assert ingestion_unmatched_counts()[LLM_LOG] == 0
    # Chunks arriving after their request touch it.
    LlmLogChunk.objects.all().delete()
    late = rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    assert late.correlation_ids == set(LlmLogChunk.objects.values_list("correlation_id", flat=True))


def test_it_stores_a_repeated_llm_chunk_once(db, logs):
    chunk = next(row for row in logs[LLM_LOG] if row.get("SequenceNumber") == 1)
    other = {**chunk, "SequenceNumber": 2}
    result = rows_store(table=LLM_LOG, rows=[chunk, dict(chunk), other, dict(chunk)])
    assert (result.stored, result.duplicates) == (2, 2)
    again = rows_store(table=LLM_LOG, rows=[other, chunk])
    assert (again.stored, again.duplicates) == (0, 2)
    assert LlmLogChunk.objects.filter(correlation_id=chunk["CorrelationId"]).count() == 2


def test_a_batch_killed_midway_leaves_nothing_and_a_rerun_gives_identical_totals(db, logs, monkeypatch):
    def store_everything():
        rows_store(table=GATEWAY, rows=logs[GATEWAY], batch_size=10)
        rows_store(table=NATIVE, rows=logs[NATIVE])
        rows_store(table=LLM_LOG, rows=logs[LLM_LOG])

    store_everything()
    clean_totals = _totals()
    for model in (GatewayRequest, NativeLog, LlmLogChunk, RejectedRow, UsageHourly):
        model.objects.all().delete()

    real_write = store.requests_write
    calls = {"n": 0}

    def dying_write(*, rows, write):
        calls["n"] += 1
        written = real_write(rows=rows, write=write)
        if calls["n"] == 3:  # killed after its rows, usage, flags and rollups were written
            raise SystemExit("worker killed")
        return written

    monkeypatch.setattr(store, "requests_write", dying_write)
    with pytest.raises(SystemExit):
        rows_store(table=GATEWAY, rows=logs[GATEWAY], batch_size=10)
    # Two whole batches survived, the third left nothing behind.
    assert GatewayRequest.objects.count() == 20
    monkeypatch.setattr(store, "requests_write", real_write)

    store_everything()
    assert _totals() == clean_totals


def test_a_source_that_dies_midway_keeps_whole_batches_only(db, logs):
    def rows_then_crash():
        yield from logs[GATEWAY][:25]
        raise ConnectionError("Log Analytics went away")

    with pytest.raises(ConnectionError):
        rows_store(table=GATEWAY, rows=rows_then_crash(), batch_size=10)
    assert GatewayRequest.objects.count() == 20
    result = rows_store(table=GATEWAY, rows=logs[GATEWAY], batch_size=10)
    assert result.duplicates == 20 and GatewayRequest.objects.count() == 40


# Out of their column's range: in binary COPY format the driver would wrap an integer around (2**40
# stored as 0 in an ``integer``) or fail outside the database; each must refuse its row instead.
OUT_OF_RANGE = [
    (GATEWAY, "response_code", 2**40),  # integer
    (GATEWAY, "response_code", -(2**31) - 1),
    (GATEWAY, "request_size", 2**63),  # bigint
    (GATEWAY, "retry_after_ms", 2**70),
    (NATIVE, "request_length", 2**63),
    (NATIVE, "response_length", -(2**63) - 1),
]


@pytest.mark.parametrize(("table", "field", "value"), OUT_OF_RANGE)
def test_a_row_the_database_refuses_is_rejected_and_the_batch_goes_on(
    db, logs, write_path, monkeypatch, table, field, value
):
    parse = PARSERS[table]
    poisoned = logs[table][3]["CorrelationId"]
    unreadable = _rejected(logs[table], table)  # rows the parser itself rejects

    def parse_with_poison(row):
        parsed = parse(row)
        if getattr(parsed, "correlation_id", None) == poisoned:
            parsed = copy.copy(parsed)
            setattr(parsed, field, value)
        return parsed

    monkeypatch.setitem(PARSERS, table, parse_with_poison)
    result = rows_store(table=table, rows=logs[table])
    model = GatewayRequest if table == GATEWAY else NativeLog
    assert result.rejected == unreadable + 1 and result.reasons["refused by the database"] == 1
    assert result.stored == len(logs[table]) - unreadable - 1
    assert not model.objects.filter(correlation_id=poisoned).exists()
    assert model.objects.count() == result.stored
    assert RejectedRow.objects.filter(
        reason__startswith="refused by the database", raw__contains=poisoned
    ).exists()


def test_the_copy_path_stores_what_the_portable_path_stores(db, logs, monkeypatch):
    """Every column of every request and native row, through the binary COPY and through the ORM."""

    def stored():
        return (
            sorted(GatewayRequest.objects.values_list(*_columns(GatewayRequest)).order_by()),
            sorted(NativeLog.objects.values_list(*_columns(NativeLog)).order_by()),
        )

    results = {}
    for path in ("portable", "copy"):
        monkeypatch.setattr(store, "COPY_FAST_PATH", path == "copy")
        _store_all(logs, order=(NATIVE, GATEWAY))
        results[path] = stored()
        GatewayRequest.objects.all().delete()
        NativeLog.objects.all().delete()
    assert results["copy"] == results["portable"]
    requests, natives = results["copy"]
    assert len(requests) == len(logs[GATEWAY]) - _rejected(logs[GATEWAY], GATEWAY)
    assert len(natives) == len(logs[NATIVE]) - _rejected(logs[NATIVE], NATIVE)


def _columns(model) -> list[str]:
    # Not the ids (a sequence) nor the times of writing: the rest must be equal.
    skipped = {"id", "ingested_at", "usage_computed_at", "created_at", "updated_at"}
    return [f.attname for f in model._meta.concrete_fields if f.attname not in skipped]


def _rejected(rows, table) -> int:
    return sum(isinstance(PARSERS[table](row), Rejection) for row in rows)


def test_rows_another_writer_stored_meanwhile_count_as_duplicates(db, logs, write_path, monkeypatch):
    rows_store(table=NATIVE, rows=logs[NATIVE][:10])
    # The other writer's rows are not visible to the existing-key query (they landed after it).
    monkeypatch.setattr(conflicts, "stored_hashes", lambda table, keys: {})
    result = rows_store(table=NATIVE, rows=logs[NATIVE][:15])
    assert (result.stored, result.duplicates, result.rejected) == (5, 10, 0)
    assert NativeLog.objects.count() == 15


def test_it_refuses_an_unknown_table(db):
    with pytest.raises(ValueError, match="unknown table"):
        rows_store(table="AppRequests", rows=[])


def test_gateway_rows_keep_headers_bodies_and_the_join_key(db, logs):
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    row = next(r for r in logs[GATEWAY] if r.get("BackendResponseHeaders") and r.get("ResponseBody"))
    request = GatewayRequest.objects.get(correlation_id=row["CorrelationId"])
    assert request.response_body == row["ResponseBody"]
    assert request.apim_request_id == request.response_headers["apim-request-id"]
    assert request.apim_subscription_id == row["ApimSubscriptionId"]


def test_unmatched_counts_look_only_at_rows_since_the_window_start(db):
    """The status page counts recent rows only; a row before ``since`` is not counted, one after is."""
    from usage.ingestion.selectors import ingestion_unmatched_since

    old, new = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    for n, moment in enumerate((old, new, new)):
        GatewayRequest.objects.create(
            correlation_id=f"c{n}", apim_request_id=f"a{n}", time=moment, ingested_at=moment
        )
    NativeLog.objects.create(correlation_id="stray-old", time=old, ingested_at=old)
    NativeLog.objects.create(correlation_id="stray-new", time=new, ingested_at=new)
    NativeLog.objects.create(correlation_id="a2", time=new, ingested_at=new)  # partner of c2

    since = ingestion_unmatched_since(days=2)
    assert since == new - timedelta(days=2)
    assert ingestion_unmatched_counts_scan(since=since) == {GATEWAY: 1, NATIVE: 1, LLM_LOG: 0}
    assert ingestion_unmatched_counts_scan() == {GATEWAY: 2, NATIVE: 2, LLM_LOG: 0}


def test_the_cycle_collector_runs_rarer_only_while_rows_are_stored(db, logs, monkeypatch):
    before = gc.get_threshold()
    during = []
    real_batch_store = store._batch_store

    def recording_batch_store(table, batch):
        during.append(gc.get_threshold())
        if len(during) == 2:
            raise ConnectionError("the source went away")
        return real_batch_store(table, batch)

    monkeypatch.setattr(store, "_batch_store", recording_batch_store)
    with pytest.raises(ConnectionError):
        rows_store(table=NATIVE, rows=logs[NATIVE], batch_size=10)
    assert during[0][0] > before[0]
    assert gc.get_threshold() == before  # restored, an error included
