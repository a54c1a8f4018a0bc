"""``/metrics``: Prometheus text, behind a bearer token, counted from what the database holds."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.support.log_analytics_fixtures import END, START
from usage.ingestion import backfill as backfill_module
from usage.ingestion.backfill import backfill_spans, backfill_start
from usage.ingestion.log_analytics import log_analytics_pull
from usage.ingestion.runs import run_counts
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import IngestionRun, LatencyPendingHour, RejectedRow

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"


@pytest.fixture
def token(settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def rows_total(samples, table, outcome):
    return samples[("aoai_ingestion_rows_total", (("outcome", outcome), ("table", table)))]


def test_it_is_absent_without_a_token(client, settings):
    settings.PORTAL_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_it_refuses_a_wrong_token(client, token, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert b"aoai_" not in response.content


def test_it_counts_a_pull_from_the_database(client, token, emulator, logs):
    result = log_analytics_pull(since=START, until=END)
    assert result.ok

    before = (timezone.now() - END).total_seconds()
    samples = scrape(client)
    after = (timezone.now() - END).total_seconds()
    for table in (GATEWAY, LLM_LOG, NATIVE):
        outcome = next(t for t in result.tables if t.table == table)
        assert rows_total(samples, table, "stored") == outcome.stored
        assert rows_total(samples, table, "duplicate") == outcome.duplicates
        assert rows_total(samples, table, "rejected") == outcome.rejected
        assert rows_total(samples, table, "conflict") == 0
        # Every table's watermark is END.
        assert before <= samples[("aoai_ingestion_lag_seconds", (("table", table),))] <= after
        assert samples[("aoai_ingestion_pull_windows_total", (("status", "ok"), ("table", table)))] == 3
        assert samples[("aoai_ingestion_last_success_timestamp_seconds", (("table", table),))] > 0
    rejected = RejectedRow.objects.filter(source=GATEWAY).count()
    assert rejected and rows_total(samples, GATEWAY, "rejected") == rejected
    by_reason = sum(
        value
        for (name, labels), value in samples.items()
        if name == "aoai_ingestion_rejected_rows_total" and ("table", GATEWAY) in labels
    )
    assert by_reason == rejected

    # A second pull of the same range reads every row again: all duplicates, nothing stored twice.
    log_analytics_pull(since=START, until=END)
    again = scrape(client)
    assert rows_total(again, GATEWAY, "stored") == rows_total(samples, GATEWAY, "stored")
    assert rows_total(again, GATEWAY, "duplicate") > rows_total(samples, GATEWAY, "duplicate")


def test_it_adds_file_imports_rejections_pending_rollups_and_review_queue(client, token, logs):
    stored = rows_store(table=GATEWAY, rows=logs[GATEWAY])
    bad = rows_store(table=NATIVE, rows=[{"TimeGenerated": "not a time", "CorrelationId": "x"}])
    assert bad.rejected == 1
    IngestionRun.objects.create(
        source="file",
        status="ok",
        tables={GATEWAY: run_counts(stored), NATIVE: run_counts(bad)},
    )
    IngestionRun.objects.create(source="log_analytics", table=GATEWAY, status="failed")
    LatencyPendingHour.objects.create(hour=START)

    samples = scrape(client)
    assert rows_total(samples, GATEWAY, "stored") == stored.stored > 0
    assert rows_total(samples, NATIVE, "rejected") == 1
    assert samples[("aoai_ingestion_pull_windows_total", (("status", "failed"), ("table", GATEWAY)))] == 1
    assert samples[("aoai_rollup_latency_pending_hours", ())] == 1
    assert samples[("aoai_review_items", (("state", "open"),))] >= 0
    assert ("aoai_ingestion_lag_seconds", (("table", GATEWAY),)) not in samples  # never pulled


def test_it_counts_split_windows_retries_and_throttling_from_the_runs(client, token, emulator, settings):
    settings.INGEST_BACKOFF_SECONDS = 0
    emulator.fail_next("throttle", table=GATEWAY, retry_after=0, times=2)
    emulator.fail_next("server_error", table=NATIVE)
    emulator.fail_next("partial", table=LLM_LOG)
    assert log_analytics_pull(since=START, until=END).ok

    samples = scrape(client)
    assert samples[("aoai_ingestion_pull_throttled_total", (("table", GATEWAY),))] == 2
    assert samples[("aoai_ingestion_pull_retries_total", (("table", GATEWAY),))] == 2
    assert samples[("aoai_ingestion_pull_throttled_total", (("table", NATIVE),))] == 0
    assert samples[("aoai_ingestion_pull_retries_total", (("table", NATIVE),))] == 1
    assert samples[("aoai_ingestion_pull_windows_total", (("status", "split"), ("table", LLM_LOG)))] == 1
    assert samples[("aoai_ingestion_pull_windows_total", (("status", "ok"), ("table", LLM_LOG)))] == 4
    # Counted on the window's run: what any process reads back from the database.
    throttled_run = IngestionRun.objects.get(table=GATEWAY, throttled__gt=0)
    assert (throttled_run.retries, throttled_run.throttled, throttled_run.status) == (2, 2, "ok")

    # Retries exhausted: the failed window keeps its count too.
    emulator.fail_next("throttle", table=GATEWAY, retry_after=0, times=settings.INGEST_RETRIES + 1)
    assert not log_analytics_pull(since=START, until=END, tables=[GATEWAY]).ok
    again = scrape(client)
    assert (
        again[("aoai_ingestion_pull_throttled_total", (("table", GATEWAY),))]
        == 2 + settings.INGEST_RETRIES + 1
    )
    assert again[("aoai_ingestion_pull_windows_total", (("status", "failed"), ("table", GATEWAY)))] == 1


def backfill_windows(samples, table, state):
    return samples[("aoai_backfill_windows", (("state", state), ("table", table)))]


def backfill_retries(samples, table):
    return samples[("aoai_backfill_window_retries_total", (("table", table),))]


def ingest_parallel() -> None:
    call_command(
        "ingest", "--since", START.isoformat(), "--until", END.isoformat(), "--parallel", "--no-progress",
        stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip


def test_it_counts_a_planned_backfill_s_windows_as_pending(client, token, emulator, monkeypatch):
    assert ("aoai_backfill_windows", (("state", "pending"), ("table", GATEWAY))) not in scrape(client)
    monkeypatch.setattr(backfill_module, "_windows_queue", lambda ids: None)  # no worker takes them
    assert backfill_start(spans=backfill_spans(since=START, until=END, now=END)) is not None

    samples = scrape(client)
    for table in (GATEWAY, LLM_LOG, NATIVE):
        assert backfill_windows(samples, table, "pending") == 3
        for state in ("running", "retrying", "ok", "failed"):
            assert backfill_windows(samples, table, state) == 0
        assert backfill_retries(samples, table) == 0


@pytest.mark.django_db(transaction=True)
def test_it_counts_a_backfill_s_failed_window_and_its_retries(client, token, emulator, settings):
    settings.INGEST_RETRIES = 0  # one query per attempt: the retries are the window's
    settings.INGEST_WINDOW_RETRIES = 2
    failing = START + timedelta(hours=1)
    emulator.fail_next("server_error", table=GATEWAY, start=failing, times=100)
    emulator.fail_next("server_error", table=NATIVE, start=failing, times=1)
    with pytest.raises(CommandError, match="some windows failed"):
        ingest_parallel()

    samples = scrape(client)
    assert (backfill_windows(samples, GATEWAY, "failed"), backfill_windows(samples, GATEWAY, "ok")) == (1, 2)
    assert (backfill_windows(samples, NATIVE, "failed"), backfill_windows(samples, NATIVE, "ok")) == (0, 3)
    assert backfill_windows(samples, LLM_LOG, "ok") == 3
    assert backfill_retries(samples, GATEWAY) == 2  # three attempts
    assert backfill_retries(samples, NATIVE) == 1
    assert backfill_retries(samples, LLM_LOG) == 0
    # Every attempt is a pull window too.
    assert samples[("aoai_ingestion_pull_windows_total", (("status", "failed"), ("table", GATEWAY)))] == 3

    # A later backfill stores the window: the gauge follows it, the retries stay counted.
    emulator.failures_clear()
    ingest_parallel()
    again = scrape(client)
    assert (backfill_windows(again, GATEWAY, "failed"), backfill_windows(again, GATEWAY, "ok")) == (0, 3)
    assert backfill_retries(again, GATEWAY) == 2
    assert again[("aoai_ingestion_lag_seconds", (("table", GATEWAY),))] == pytest.approx(
        (timezone.now() - END).total_seconds(), abs=60
    )
