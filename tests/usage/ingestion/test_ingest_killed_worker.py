"""A worker killed (SIGKILL) in the middle of storing a window: the re-run gives identical totals."""

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from tests.support.log_analytics_fixtures import END, START, reference_totals, totals, watermarks
from usage.ingestion.log_analytics import log_analytics_pull
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import IngestionRun

ROOT = Path(__file__).resolve().parents[3]

# Runs `manage.py ingest` whose second store call of gateway rows (the table pulled last, after its
# join partners) writes half of its window's rows and then the process kills itself with SIGKILL: no exception handler, no cleanup, the lock is left behind.
DYING_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    from django.core.management import call_command
    from usage.ingestion import parallel

    real_store = parallel.rows_store
    calls = []

    def store_then_die(*, rows, **kwargs):
        if kwargs["table"] == "ApiManagementGatewayLogs":
            calls.append(1)
        if len(calls) == 2:
            real_store(rows=rows[: len(rows) // 2], **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        return real_store(rows=rows, **kwargs)

    parallel.rows_store = store_then_die
    call_command("ingest", "--since", sys.argv[1], "--until", sys.argv[2], "--no-progress")
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_window_then_rerun_gives_identical_totals(emulator, settings):
    worker = _dying_worker_run(emulator, settings, workers=1)
    assert worker.returncode == -signal.SIGKILL, worker.stderr

    # Killed in the second window of the gateway table: its partners' tables were done, and of
    # the gateway table only the first window counts as done.
    assert watermarks() == {NATIVE: END, LLM_LOG: END, GATEWAY: START + timedelta(hours=1)}
    assert IngestionRun.objects.filter(status="running").count() == 1
    half_done = totals()

    # The re-run takes over the dead process's lock at once, closes its run, completes the window.
    rerun = log_analytics_pull(since=START, until=END, lock_wait=10)
    assert rerun.ok
    after_rerun = totals()
    assert after_rerun["requests"] > half_done["requests"]
    assert IngestionRun.objects.filter(status="running").count() == 0
    assert "abandoned" in IngestionRun.objects.get(status="failed").error

    # Nothing is missing and nothing doubled: one more full pull finds only duplicates.
    again = log_analytics_pull(since=START, until=END)
    assert again.ok and again.stored == 0
    assert totals() == after_rerun


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_mid_batch_fails_the_window_and_the_rerun_completes_it(emulator, settings):
    """INGEST_WORKERS=2: the worker process storing the batch dies; the pull goes on, reports the
    window as failed and keeps the watermark before it."""
    reference = reference_totals(emulator)
    worker = _dying_worker_run(emulator, settings, workers=2)
    assert worker.returncode == 1, worker.stderr  # the command reports the failed table
    assert "storing failed" in worker.stdout + worker.stderr
    # Each worker counts its own calls: the one that dies stores its second gateway window.
    marks = watermarks()
    assert marks[NATIVE] == marks[LLM_LOG] == END and START < marks[GATEWAY] < END
    assert IngestionRun.objects.filter(status="running").count() == 0
    failed = IngestionRun.objects.get(status="failed")
    assert "storing failed" in failed.error and failed.window_start == marks[GATEWAY]

    assert log_analytics_pull(since=START, until=END, workers=2).ok
    assert totals() == reference
    again = log_analytics_pull(since=START, until=END, workers=2)
    assert again.ok and again.stored == 0


def _dying_worker_run(emulator, settings, *, workers: int) -> subprocess.CompletedProcess:
    if connection.vendor != "postgresql":
        pytest.skip("the worker subprocess needs a database it can share (PostgreSQL)")
    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        LOG_ANALYTICS_ENDPOINT=emulator.endpoint,
        LOG_ANALYTICS_WORKSPACE_ID=settings.LOG_ANALYTICS_WORKSPACE_ID,
        LOG_ANALYTICS_CREDENTIAL="static",
        LOG_ANALYTICS_ALLOW_HTTP="true",
        INGEST_WINDOW_SECONDS="3600",
        INGEST_LEASE_SECONDS="2",
        REDIS_URL="",
        CELERY_BROKER_URL="",
        INGEST_WORKERS=str(workers),
    )
    return subprocess.run(
        [sys.executable, "-c", DYING_WORKER, START.isoformat(), END.isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
