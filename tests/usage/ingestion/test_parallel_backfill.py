"""`ingest --parallel`: a range split into per-table windows that Celery workers take.

In this process (no broker: the tasks run here, one after the other) for the watermark and the
retries; with two real `celery worker` processes sharing one range for the rest.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Max, Min, Sum
from kombu import pools as kombu_pools

from aoai_portal.celery import app
from tests.support.log_analytics_fixtures import END, START, reference_totals, totals, watermarks
from usage.ingestion import backfill as backfill_module
from usage.ingestion.backfill import backfill_if_behind, backfill_spans, backfill_start
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import IngestionBackfill, IngestionRun, IngestionWindow, LatencyDaily, LatencyPendingHour

ROOT = Path(__file__).resolve().parents[3]
FAILING = START + timedelta(hours=1)  # the second of the three one-hour windows
COUNTS = ("rows_stored", "duplicates", "conflicts", "skipped", "rejected")


@pytest.fixture
def queued(settings, monkeypatch) -> Iterator[list[int]]:
    """Windows queued for workers, as if a broker were configured (none takes them here)."""
    ids: list[int] = []
    # Celery reads its configuration from the settings once, on first use: read it before the
    # setting changes, or this process would keep sending tasks to a broker after the test.
    eager = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(backfill_module, "_windows_queue", ids.extend)
    yield ids
    app.conf.task_always_eager = eager


def ingest(*args: str) -> str:
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "ingest", "--since", START.isoformat(), "--until", END.isoformat(), "--parallel", "--no-progress",
            *args, stdout=out, stderr=err,
        )  # fmt: skip
    except CommandError as exc:
        raise CommandError(f"{exc}\n{err.getvalue()}") from exc
    return out.getvalue()


def assert_counts_add_up() -> None:
    for table in (GATEWAY, LLM_LOG, NATIVE):
        for name, runs in (
            ("windows", IngestionWindow.objects.filter(table=table)),
            ("runs", IngestionRun.objects.filter(table=table)),
        ):
            sums = runs.aggregate(read=Sum("rows_read"), **{n: Sum(n) for n in COUNTS})
            assert sums["read"] == sum(sums[n] for n in COUNTS), (table, name, sums)
            assert sums["read"] > 0


@pytest.mark.django_db(transaction=True)
def test_a_window_that_keeps_failing_is_retried_shown_and_holds_the_watermark_before_it(
    emulator, settings, client_for, admin_user
):
    reference = reference_totals(emulator)
    settings.INGEST_RETRIES = 0  # one query per attempt: the retries are the task's
    settings.INGEST_WINDOW_RETRIES = 2
    emulator.fail_next("server_error", table=GATEWAY, start=FAILING, times=100)

    with pytest.raises(CommandError, match="some windows failed"):
        ingest()

    failing = IngestionWindow.objects.get(table=GATEWAY, window_start=FAILING)
    assert (failing.status, failing.attempts) == ("failed", 3)
    assert "HTTP 500" in failing.error
    failed_runs = IngestionRun.objects.filter(table=GATEWAY, window_start=FAILING, status="failed")
    assert failed_runs.count() == 3
    # The window after it was stored, but the watermark stops before the gap.
    assert IngestionWindow.objects.get(table=GATEWAY, window_start=END - timedelta(hours=1)).status == "ok"
    assert watermarks() == {NATIVE: END, LLM_LOG: END, GATEWAY: FAILING}
    assert IngestionBackfill.objects.get().finished_at is not None

    page = client_for(admin_user).get("/ingestion/").content.decode()
    assert "Backfill" in page and "failed after 3 attempts" in page and "HTTP 500" in page

    # Once the window answers, a re-run stores it and the watermark goes over it; nothing doubled.
    emulator.failures_clear()
    ingest()
    assert watermarks() == {NATIVE: END, LLM_LOG: END, GATEWAY: END}
    assert totals() == reference
    assert_counts_add_up()

    out = ingest()
    assert totals() == reference
    assert f"{GATEWAY}: 3 of 3 windows" in out and " 0 stored" in out
    assert_counts_add_up()


@pytest.mark.django_db(transaction=True)
def test_a_window_is_retried_until_it_succeeds_without_leaving_a_gap(emulator, settings):
    reference = reference_totals(emulator)
    settings.INGEST_RETRIES = 0
    emulator.fail_next("server_error", table=NATIVE, start=FAILING, times=2)

    ingest()

    window = IngestionWindow.objects.get(table=NATIVE, window_start=FAILING)
    assert (window.status, window.attempts) == ("ok", 3)
    statuses = IngestionRun.objects.filter(table=NATIVE, window_start=FAILING).values_list(
        "status", flat=True
    )
    assert sorted(statuses) == ["failed", "failed", "ok"]
    assert watermarks() == {NATIVE: END, LLM_LOG: END, GATEWAY: END}
    assert totals() == reference
    assert_counts_add_up()


@pytest.mark.django_db(transaction=True)
def test_the_quota_alerts_are_evaluated_once_a_backfill_not_once_a_window(emulator, monkeypatch):
    import quotas.tasks

    queued = []
    monkeypatch.setattr(quotas.tasks, "quota_alerts_enqueue", lambda: queued.append(1))
    ingest()
    assert IngestionWindow.objects.count() == 9 and len(queued) == 1

    ingest()  # all duplicates: nothing stored, nothing to evaluate
    assert len(queued) == 1


@pytest.mark.django_db(transaction=True)
def test_a_backfill_holds_the_ingestion_lock_until_its_last_window(emulator, settings, queued):
    from usage.ingestion.locks import INGEST_LOCK, lock_holder
    from usage.ingestion.log_analytics import log_analytics_pull

    backfill = backfill_start(spans=backfill_spans(since=START, until=END, now=END), lock_wait=0)
    assert backfill is not None and lock_holder(name=INGEST_LOCK) == backfill.lock_holder
    # Only the first table's windows are queued; a regular pull keeps off, and so does another backfill.
    assert backfill.tables[backfill.phase] == NATIVE
    assert queued == list(
        backfill.windows.filter(table=NATIVE).order_by("window_start").values_list("pk", flat=True)
    )
    assert all(t.busy for t in log_analytics_pull(since=START, until=END).tables)
    assert backfill_start(spans=backfill_spans(since=START, until=END, now=END)) is None

    # Each table's windows are queued once the table before has ended; the last one frees the lock.
    for table in backfill.tables:
        IngestionWindow.objects.filter(table=table).update(status="ok")
        backfill_module._phase_advance(backfill_id=backfill.pk)
        backfill_module._phase_advance(backfill_id=backfill.pk)  # a second window ending: queues nothing
    assert sorted(queued) == sorted(backfill.windows.values_list("pk", flat=True))
    backfill.refresh_from_db()
    assert backfill.finished_at is not None and lock_holder(name=INGEST_LOCK) == ""


@pytest.mark.django_db(transaction=True)
def test_the_beat_pull_far_behind_starts_a_backfill(emulator, settings, queued):
    from usage.tasks import ingest_pull

    settings.INGEST_PARALLEL_BEHIND_WINDOWS = 2
    settings.INGEST_START_LOOKBACK_SECONDS = 3 * 3600  # no watermark yet: 3 windows behind
    assert "backfill" in ingest_pull()
    backfill = IngestionBackfill.objects.get()
    assert backfill.windows.filter(table=GATEWAY).count() >= 3
    assert ingest_pull() == {"backfill": backfill.pk}  # running: the next beat leaves it be
    assert IngestionBackfill.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_beat_pull_pulls_itself_when_not_far_behind(emulator, settings, queued):
    from usage.tasks import ingest_pull

    settings.INGEST_PARALLEL_BEHIND_WINDOWS = 6
    settings.INGEST_START_LOOKBACK_SECONDS = 3 * 3600
    assert backfill_if_behind() is None
    assert "backfill" not in ingest_pull()
    assert not IngestionBackfill.objects.exists()


@pytest.mark.django_db
def test_the_window_of_a_dead_worker_is_taken_over_and_a_live_claim_is_left_alone(emulator, queued):
    from django.utils import timezone

    from usage.ingestion.runs import _host

    backfill = backfill_start(spans=backfill_spans(tables=[NATIVE], since=START, until=END, now=END))
    first, second = backfill.windows.order_by("window_start")[:2]
    ended = subprocess.Popen(["true"])
    ended.wait()  # reaped: its pid names no process now
    dead = f"{_host()}:{ended.pid}:dead"
    live = f"{_host()}:{os.getppid()}:live"
    IngestionWindow.objects.filter(pk=first.pk).update(status="running", holder=dead, attempts=1)
    IngestionWindow.objects.filter(pk=second.pk).update(
        status="running", holder=live, attempts=1, heartbeat_at=timezone.now()
    )

    assert backfill_module.backfill_window_run(window_id=first.pk).status == "ok"
    assert backfill_module.backfill_window_run(window_id=second.pk).status == "taken"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts, first.holder.split(":")[1]) == ("ok", 2, str(os.getpid()))
    assert (second.status, second.holder) == ("running", live)
    assert backfill_module.backfill_window_run(window_id=first.pk).status == "ok"  # delivered twice: nothing
    assert IngestionRun.objects.filter(window_start=first.window_start).count() == 1


# --- two real worker processes --------------------------------------------------------------


@pytest.fixture
def broker(settings):
    """This process queues tasks on the test Redis (as a web process would); the workers take them."""
    if connection.vendor != "postgresql":
        pytest.skip("workers need a database they can share (PostgreSQL)")
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    redis.Redis.from_url(url).flushdb()
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.update(broker_url=url, task_always_eager=False)
    _producers_forget()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REDIS_URL = url  # the lock of this process and of the workers: the same Redis
    yield url
    _producers_forget()
    app.conf.update(broker_url=saved[0], task_always_eager=saved[1])


def _producers_forget() -> None:
    """Drop the connections and producers Celery keeps for the broker it was configured with.

    kombu keeps them in process-wide registries keyed by connection: closing the app's pool alone
    left a closed pool registered, and a later test of this process that sent a task failed with
    "Acquire on closed pool"; ``pools.reset`` closes and forgets them all."""
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def workers_start(*, count: int, broker_url: str, emulator, settings, logs: Path) -> list[subprocess.Popen]:
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_BROKER_URL=broker_url,
        REDIS_URL=broker_url,
        LOG_ANALYTICS_ENDPOINT=emulator.endpoint,
        LOG_ANALYTICS_WORKSPACE_ID=settings.LOG_ANALYTICS_WORKSPACE_ID,
        LOG_ANALYTICS_CREDENTIAL="static",
        LOG_ANALYTICS_ALLOW_HTTP="true",
        INGEST_WINDOW_SECONDS=str(settings.INGEST_WINDOW_SECONDS),
        INGEST_RETRIES="0",
        INGEST_BACKOFF_SECONDS="1",
        INGEST_WINDOW_RETRIES="3",
    )
    command = [sys.executable, "-m", "celery", "-A", "aoai_portal", "worker", "--pool=solo", "-l", "warning"]
    command += ["--without-mingle", "--without-gossip"]
    workers = [
        subprocess.Popen(
            [*command, "-n", f"backfill{i}@%h"],
            cwd=ROOT,
            env=env,
            stderr=(logs / f"worker{i}.log").open("wb"),
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + 60
    while len(app.control.ping(timeout=1)) < count:  # both listen before the first task is queued
        if time.monotonic() > deadline:
            workers_stop(workers)
            pytest.fail("the workers did not start")
        if any(w.poll() is not None for w in workers):
            workers_stop(workers)
            pytest.fail("a worker exited: " + "".join(p.read_text() for p in logs.glob("worker*.log")))
    return workers


def workers_stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never left behind to take the next test's tasks
            worker.kill()
            worker.wait()


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_a_range_and_retry_a_failing_window(emulator, settings, broker, tmp_path):
    reference = reference_totals(emulator)
    settings.INGEST_WINDOW_SECONDS = 1800  # 6 windows per table
    emulator.fail_next("server_error", table=GATEWAY, start=FAILING, times=2)
    workers = workers_start(count=2, broker_url=broker, emulator=emulator, settings=settings, logs=tmp_path)
    try:
        out = ingest()
    finally:
        workers_stop(workers)

    assert f"{GATEWAY}: 6 of 6 windows" in out
    pids = {holder.split(":")[1] for holder in IngestionWindow.objects.values_list("holder", flat=True)}
    assert pids == {str(worker.pid) for worker in workers}  # both took windows
    failing = IngestionWindow.objects.get(table=GATEWAY, window_start=FAILING)
    assert (failing.status, failing.attempts) == ("ok", 3)
    assert IngestionRun.objects.filter(table=GATEWAY, window_start=FAILING, status="failed").count() == 2
    assert watermarks() == {NATIVE: END, LLM_LOG: END, GATEWAY: END}
    assert totals() == reference
    assert_counts_add_up()
    # The latency rollups of every window's hours were refreshed once, at the end.
    assert not LatencyPendingHour.objects.exists() and LatencyDaily.objects.exists()
    # No table's windows ran beside another table's: join partners first, then their requests.
    spans = {
        table: IngestionRun.objects.filter(table=table).aggregate(
            start=Min("started_at"), end=Max("finished_at")
        )
        for table in (NATIVE, LLM_LOG, GATEWAY)
    }
    assert spans[NATIVE]["end"] <= spans[LLM_LOG]["start"]
    assert spans[LLM_LOG]["end"] <= spans[GATEWAY]["start"]
