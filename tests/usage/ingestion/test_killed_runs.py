"""``kill -9`` of a running ``import_logs --workers 2`` or ``ingest``: no worker process is left
behind, the next run starts at once (the dead process's lock is taken over) and closes the killed
run as abandoned. PostgreSQL only: the commands run in subprocesses sharing the test database."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tests.support.log_analytics_fixtures import END, START
from usage.demo.data import generate_logs
from usage.ingestion.files import logs_file_import
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest, IngestionRun

ROOT = Path(__file__).resolve().parents[3]


def _env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    return dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL="",
        CELERY_BROKER_URL="",
        **extra,
    )


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (read from /proc: no psutil needed)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[-1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"  # a zombie has exited
    except OSError:
        return False


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the subprocess needs a database it can share (PostgreSQL)")


@pytest.mark.django_db(transaction=True)
def test_kill_9_of_import_logs_leaves_no_worker_and_the_next_import_closes_its_run(
    postgresql, tmp_path, settings
):
    settings.REDIS_URL = ""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    logs = generate_logs(
        start=start, end=start.replace(hour=6), requests_per_hour=120, seed=5, malformed=False
    )
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for table in (NATIVE, LLM_LOG, GATEWAY):
            for row in logs[table]:
                out.write(json.dumps({"Type": table, **row}) + "\n")
    command = [sys.executable, "manage.py", "import_logs", str(path), "--workers", "2", "--batch-size", "50"]
    parent = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(_children(parent.pid)) >= 2, 60), "the workers never started"
        workers = _children(parent.pid)
        time.sleep(1.0)  # storing batches
        assert parent.poll() is None, parent.communicate()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _wait_for(lambda: not any(map(_alive, workers)), 5), "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    killed = IngestionRun.objects.get(path=str(path))
    assert killed.status == "running"  # nobody could say otherwise yet

    result = logs_file_import(path=path, lock_wait=0)  # the dead process's lock is taken over at once
    assert not result.busy and result.error == ""
    killed.refresh_from_db()
    assert killed.status == "failed" and killed.error.startswith("abandoned: its process")
    assert GatewayRequest.objects.count() == len(logs[GATEWAY])


@pytest.mark.django_db(transaction=True)
def test_kill_9_of_ingest_then_ingest_again_at_once(postgresql, emulator, settings):
    """A backfill killed inside its first query, database lease (no Redis), the default lease of
    two minutes: the next ``ingest`` does not wait for it."""
    emulator.hold()
    args = ["--since", START.isoformat(), "--until", END.isoformat(), "--no-progress"]
    env = _env(
        LOG_ANALYTICS_ENDPOINT=emulator.endpoint,
        LOG_ANALYTICS_WORKSPACE_ID=settings.LOG_ANALYTICS_WORKSPACE_ID,
        LOG_ANALYTICS_CREDENTIAL="static",
        LOG_ANALYTICS_ALLOW_HTTP="true",
    )
    killed = subprocess.Popen(
        [sys.executable, "manage.py", "ingest", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert _wait_for(lambda: emulator.queries, 60), killed.communicate()
    finally:
        killed.kill()
        killed.wait()
        emulator.release()
    assert IngestionRun.objects.get().status == "running"

    began = time.monotonic()
    call_command("ingest", *args, "--wait", "0")
    assert time.monotonic() - began < 60
    assert GatewayRequest.objects.count() > 0
    first = IngestionRun.objects.order_by("id").first()
    assert first.status == "failed" and first.error.startswith("abandoned: its process")
    assert not IngestionRun.objects.filter(status="running").exists()
