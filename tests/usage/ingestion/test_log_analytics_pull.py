"""The Log Analytics pull: real azure-monitor-query SDK, over HTTP, against the local emulator."""

import time
from datetime import timedelta

import pytest

from tests.support.log_analytics_fixtures import END, START, reference_totals, totals, watermarks
from usage.ingestion import parallel
from usage.ingestion.log_analytics import log_analytics_pull
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, IngestionRun, NativeLog, RejectedRow

pytestmark = pytest.mark.django_db


def pull(**kwargs):
    return log_analytics_pull(since=START, until=END, **kwargs)


def test_it_pulls_every_table_and_reads_each_served_row_once(emulator, logs):
    emulator.add_rows(
        NATIVE,
        [
            {
                "TimeGenerated": START + timedelta(minutes=5),
                "CorrelationId": "kv-1",
                "ResourceProvider": "MICROSOFT.KEYVAULT",
                "Category": "AuditEvent",
            }
        ],
    )
    result = pull()

    assert result.ok, result.as_dict()
    for table in (GATEWAY, LLM_LOG, NATIVE):
        outcome = next(t for t in result.tables if t.table == table)
        assert outcome.rows_read == len(logs[table])
        assert outcome.rows_read == outcome.stored + outcome.duplicates + outcome.rejected
        assert outcome.watermark == END
    gateway_ids = {row["CorrelationId"] for row in logs[GATEWAY]}
    stored_ids = set(GatewayRequest.objects.values_list("correlation_id", flat=True))
    assert stored_ids and stored_ids <= gateway_ids
    assert len(stored_ids) == next(t.stored for t in result.tables if t.table == GATEWAY)
    # Only Azure OpenAI RequestResponse rows are asked for: the Key Vault row never arrives.
    assert not NativeLog.objects.filter(correlation_id="kv-1").exists()
    assert not RejectedRow.objects.filter(raw__contains="kv-1").exists()
    # The generator's malformed rows are kept with their reason, not dropped.
    assert RejectedRow.objects.filter(source=GATEWAY).exists()
    assert watermarks() == {GATEWAY: END, LLM_LOG: END, NATIVE: END}
    # One window per hour per table, each recorded as a run.
    assert IngestionRun.objects.filter(source="log_analytics", status="ok").count() == 9


def test_it_waits_for_retry_after_when_throttled_then_succeeds(emulator):
    emulator.fail_next("throttle", table=GATEWAY, retry_after=1)
    began = time.monotonic()
    result = pull(tables=[GATEWAY])
    elapsed = time.monotonic() - began

    assert result.ok
    assert elapsed >= 1.0
    assert [q["table"] for q in emulator.queries].count(GATEWAY) == 4  # 3 windows + the throttled try
    assert watermarks()[GATEWAY] == END


@pytest.mark.parametrize("status", [500, 503])
def test_it_retries_a_server_error_then_succeeds(emulator, status):
    emulator.fail_next("server_error", table=NATIVE, status=status)
    result = pull(tables=[NATIVE])

    assert result.ok
    assert result.tables[0].rows_read == emulator.row_count(NATIVE)
    assert len(emulator.queries) == 4


def test_it_gives_up_after_its_retries_and_keeps_the_watermark(emulator, settings):
    emulator.fail_next("server_error", table=GATEWAY, times=settings.INGEST_RETRIES + 1)
    result = pull(tables=[GATEWAY])

    assert not result.ok
    assert "HTTP 500" in result.tables[0].error
    assert watermarks() == {}
    assert GatewayRequest.objects.count() == 0
    failed = IngestionRun.objects.get(status="failed")
    assert failed.window_start == START and "HTTP 500" in failed.error

    assert pull(tables=[GATEWAY]).ok  # the next run starts again at the failed window
    assert watermarks()[GATEWAY] == END


def test_it_splits_a_window_that_answers_a_partial_result(emulator):
    reference = reference_totals(emulator)
    emulator.fail_next("partial", table=GATEWAY)
    result = pull()

    assert result.ok
    gateway = next(t for t in result.tables if t.table == GATEWAY)
    assert gateway.splits == 1
    split = IngestionRun.objects.get(status="partial")
    assert "split in halves" in split.error and "partial result" in split.error
    assert (split.window_end - split.window_start) == timedelta(hours=1)
    halves = IngestionRun.objects.filter(
        table=GATEWAY, status="ok", window_start__gte=split.window_start, window_end__lte=split.window_end
    )
    assert sorted(run.window_end - run.window_start for run in halves) == [timedelta(minutes=30)] * 2
    assert totals() == reference


def test_it_splits_windows_above_the_row_limit_until_each_fits(emulator, logs):
    emulator.row_limit = 7
    result = pull(tables=[GATEWAY])

    assert result.ok
    outcome = result.tables[0]
    assert outcome.splits > 0
    assert outcome.rows_read == len(logs[GATEWAY])
    assert all(run.rows_read <= 7 for run in IngestionRun.objects.filter(status="ok"))
    assert watermarks()[GATEWAY] == END


def test_it_splits_windows_above_the_size_limit_until_each_fits(emulator, logs):
    emulator.byte_limit = 40_000  # a few generated rows with bodies
    result = pull(tables=[GATEWAY])

    assert result.ok
    assert result.tables[0].splits > 0
    assert result.tables[0].rows_read == len(logs[GATEWAY])
    assert "data size limit" in IngestionRun.objects.filter(status="partial").first().error


def test_it_splits_a_window_that_times_out(emulator, logs):
    emulator.fail_next("timeout", table=LLM_LOG)
    result = pull(tables=[LLM_LOG])

    assert result.ok and result.tables[0].splits == 1
    assert result.tables[0].rows_read == len(logs[LLM_LOG])


def test_a_window_that_cannot_be_split_further_fails_without_moving_the_watermark(emulator, settings):
    settings.INGEST_MIN_WINDOW_SECONDS = 1800
    emulator.row_limit = 1
    result = pull(tables=[GATEWAY])

    assert not result.ok
    assert "cannot split further" in result.tables[0].error
    assert watermarks() == {}


def test_pulling_the_same_window_three_times_gives_the_same_totals(emulator):
    results = []
    for _ in range(3):
        result = pull()
        assert result.ok
        results.append(totals())
    assert results[0]["requests"] > 0
    assert results[0] == results[1] == results[2]
    last = log_analytics_pull(since=START, until=END)
    assert sum(t.stored for t in last.tables) == 0  # everything read again was a duplicate


def test_the_watermark_does_not_advance_when_storing_fails(emulator, monkeypatch):
    reference = reference_totals(emulator)
    real_store = parallel.rows_store
    calls = []

    def failing_store(**kwargs):
        calls.append(kwargs["table"])
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_store(**kwargs)

    monkeypatch.setattr(parallel, "rows_store", failing_store)
    result = pull(tables=[GATEWAY])

    assert not result.ok and "database went away" in result.tables[0].error
    assert watermarks()[GATEWAY] == START + timedelta(hours=1)  # the first window only
    assert IngestionRun.objects.get(status="failed").window_start == START + timedelta(hours=1)

    monkeypatch.setattr(parallel, "rows_store", real_store)
    assert pull().ok
    assert totals() == reference


def test_the_incremental_pull_stops_at_the_delay_margin_and_rereads_the_overlap(emulator, settings):
    settings.INGEST_DELAY_SECONDS = 300
    settings.INGEST_OVERLAP_SECONDS = 600
    settings.INGEST_START_LOOKBACK_SECONDS = 3 * 3600
    now = END + timedelta(minutes=5)

    first = log_analytics_pull(tables=[GATEWAY], now=now)
    assert first.ok
    assert watermarks()[GATEWAY] == END  # now - delay
    before = GatewayRequest.objects.count()

    # A row that reached the workspace late, with a time just before the watermark.
    late_time = END - timedelta(minutes=4)
    emulator.add_rows(
        GATEWAY, [dict(emulator_row(emulator), CorrelationId="late-arrival", TimeGenerated=late_time)]
    )
    second = log_analytics_pull(tables=[GATEWAY], now=now + timedelta(minutes=5))

    assert second.ok
    assert GatewayRequest.objects.filter(correlation_id="late-arrival").exists()
    assert GatewayRequest.objects.count() == before + 1
    run = IngestionRun.objects.filter(table=GATEWAY, status="ok").latest("id")
    assert run.window_start == END - timedelta(minutes=10)  # watermark - overlap


def emulator_row(server) -> dict:
    return next(r for r in server._tables[GATEWAY] if r.values.get("CorrelationId")).values


def test_join_partners_are_pulled_first_so_each_request_is_accounted_once(emulator, logs, monkeypatch):
    from usage.accounting import services

    accounted: list[str] = []
    account = services.usage_for_request

    def counting(row, **kwargs):
        accounted.append(row.correlation_id)
        return account(row, **kwargs)

    monkeypatch.setattr(services, "usage_for_request", counting)
    result = pull()

    assert result.ok, result.as_dict()
    first_query = {}
    for number, query in enumerate(emulator.queries):
        first_query.setdefault(query["table"], number)
    assert sorted(first_query, key=first_query.get) == [NATIVE, LLM_LOG, GATEWAY]
    stored = set(GatewayRequest.objects.values_list("correlation_id", flat=True))
    assert NativeLog.objects.exists() and stored
    # Gateway rows arrive after their partners: one usage computation per request, not one per table.
    assert sorted(accounted) == sorted(stored)
