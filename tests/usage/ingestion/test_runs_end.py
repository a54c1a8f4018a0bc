"""Runs end: a live run renews its lease, a dead one frees it within the lease (at once on this
host) and is closed as abandoned, a run that did nothing because of the lock says so with a
non-zero exit, and the ingestion page never answers 500."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from tests.support.log_analytics_fixtures import END, START
from usage.ingestion import runs
from usage.ingestion.files import logs_file_import
from usage.ingestion.locks import INGEST_LOCK, LeaseLock, RedisLock, lock_heartbeat, lock_hold
from usage.ingestion.runs import run_start, runs_abandoned_close
from usage.models import (
    GatewayRequest,
    IngestionLease,
    IngestionRun,
    IngestionWatermark,
    LatencyPendingHour,
    RejectedRow,
    UnmatchedRow,
)

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_KEY = f"aoai:lock:{INGEST_LOCK}"


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(REDIS_KEY)
    yield client
    client.delete(REDIS_KEY)
    client.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _holder(pid: int) -> str:
    return f"{runs._host()}:{pid}:deadbeef"


@pytest.mark.django_db(transaction=True)
def test_a_live_run_renews_its_lease_and_heartbeat_well_within_the_lease(settings):
    settings.REDIS_URL = ""
    settings.INGEST_LEASE_SECONDS = 1
    with lock_hold(name=INGEST_LOCK) as lock:
        run = run_start(source="file", path="live.json")
        started = run.heartbeat_at
        with lock_heartbeat(lock=lock):
            time.sleep(2.5)  # more than twice the lease
            assert not LeaseLock(name=INGEST_LOCK, ttl=1).acquire(wait=0)
            # A second run's sweep leaves a run with a fresh heartbeat alone.
            assert runs_abandoned_close() == 0
    run.refresh_from_db()
    assert run.status == "running" and run.heartbeat_at > started + timedelta(seconds=1)


@pytest.mark.parametrize("backend", ["database", "redis"])
@pytest.mark.django_db(transaction=True)
def test_a_lock_whose_holder_process_died_on_this_host_is_taken_over_at_once(settings, backend, request):
    dead = _holder(_dead_pid())
    if backend == "redis":
        client = request.getfixturevalue("redis_client")
        client.set(REDIS_KEY, dead, px=3_600_000)
        lock = RedisLock(name=INGEST_LOCK, ttl=60, url=TEST_REDIS_URL)
    else:
        IngestionLease.objects.create(
            name=INGEST_LOCK, holder=dead, expires_at=timezone.now() + timedelta(hours=1)
        )
        lock = LeaseLock(name=INGEST_LOCK, ttl=60)
    assert lock.acquire(wait=0)
    assert lock.holder_name() == lock.holder
    lock.release()

    # A live holder keeps it (this process's parent is alive and on this host).
    alive = _holder(os.getppid())
    if backend == "redis":
        client.set(REDIS_KEY, alive, px=3_600_000)
        other = RedisLock(name=INGEST_LOCK, ttl=60, url=TEST_REDIS_URL)
    else:
        IngestionLease.objects.create(
            name=INGEST_LOCK, holder=alive, expires_at=timezone.now() + timedelta(hours=1)
        )
        other = LeaseLock(name=INGEST_LOCK, ttl=60)
    assert not other.acquire(wait=0)
    other.release()


@pytest.mark.django_db(transaction=True)
def test_ingest_says_why_and_fails_while_another_run_holds_the_lock_then_runs_once_its_lease_expired(
    emulator, settings
):
    """A run on another host died: its lease (short here) expires, then the next run goes on and
    closes the dead run as abandoned."""
    settings.INGEST_LEASE_SECONDS = 2
    elsewhere = "other-host/4026531836:4242:cafe0001"
    IngestionLease.objects.create(
        name=INGEST_LOCK, holder=elsewhere, expires_at=timezone.now() + timedelta(seconds=2)
    )
    dead_run = IngestionRun.objects.create(source="log_analytics", table="x", holder=elsewhere)
    IngestionRun.objects.filter(pk=dead_run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=5))
    args = ["ingest", "--since", START.isoformat(), "--until", END.isoformat(), "--no-progress"]

    with pytest.raises(CommandError, match=r"nothing done: another ingestion run \(other-host.*holds"):
        call_command(*args, "--wait", "0")
    assert GatewayRequest.objects.count() == 0

    call_command(*args, "--wait", "10")
    assert GatewayRequest.objects.count() > 0
    dead_run.refresh_from_db()
    assert dead_run.status == "failed" and dead_run.error.startswith("abandoned: no heartbeat since")


@pytest.mark.django_db(transaction=True)
def test_import_logs_fails_saying_why_when_another_run_holds_the_lock(settings, tmp_path):
    settings.REDIS_URL = ""
    path = tmp_path / "x.jsonl"
    path.write_text('{"Type": "ApiManagementGatewayLogs", "CorrelationId": "c1"}\n')
    with lock_hold(name=INGEST_LOCK) as held:
        assert held is not None
        with pytest.raises(CommandError, match=r"holds the ingestion lock; nothing imported from .*x\.jsonl"):
            call_command("import_logs", str(path), str(path), "--wait", "0.3")
    assert not IngestionRun.objects.exists() and not RejectedRow.objects.exists()
    call_command("import_logs", str(path), "--wait", "0")
    assert IngestionRun.objects.get().status == "ok"


@pytest.mark.django_db
def test_a_file_import_closes_the_runs_a_killed_import_left_running(settings, tmp_path):
    settings.REDIS_URL = ""
    dead = IngestionRun.objects.create(source="file", path="killed.json", holder=_holder(_dead_pid()))
    old = IngestionRun.objects.create(source="file", path="old.json")  # before holders existed
    IngestionRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(hours=1))
    path = tmp_path / "x.jsonl"
    path.write_text('{"Type": "ApiManagementGatewayLogs", "CorrelationId": "c1"}\n')
    logs_file_import(path=path)
    dead.refresh_from_db()
    old.refresh_from_db()
    assert (dead.status, old.status) == ("failed", "failed")
    assert dead.error.startswith("abandoned: its process") and old.error.startswith("abandoned: no heartbeat")
    assert not IngestionRun.objects.filter(status="running").exists()


ODD = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]


def test_the_ingestion_page_never_answers_500(client_for, admin_user):
    url = reverse("usage:ingestion_status")
    assert client_for(admin_user).get(url).status_code == 200  # nothing at all

    for table, mark in zip(("ApiManagementGatewayLogs", "AzureDiagnostics"), ODD, strict=True):
        IngestionWatermark.objects.create(table=table, watermark=mark)
    odd_runs = [
        dict(
            source="log_analytics", table="ApiManagementGatewayLogs", window_start=ODD[0], window_end=ODD[1]
        ),
        dict(source="log_analytics", table="AzureDiagnostics", window_start=ODD[1], window_end=ODD[0]),
        dict(source="log_analytics", table="ApiManagementGatewayLlmLog", status="weird", rows_read=-5),
        dict(source="file", path="x" * 5000, reasons=["not", "a", "dict"], skipped_categories="text"),
        dict(source="file", reasons={"a": "not a number", "b": None}, skipped_categories={"Audit": -1}),
        dict(source="", table="", status="failed", error="\u0000\ud7ff" + "e" * 10_000, heartbeat_at=ODD[1]),
        dict(source="log_analytics", table="NoSuchTable", status="running", heartbeat_at=ODD[0]),
    ]
    for fields in odd_runs:
        run = IngestionRun.objects.create(**{k: v for k, v in fields.items() if k != "error"})
        IngestionRun.objects.filter(pk=run.pk).update(error=fields.get("error", "").replace("\u0000", ""))
    IngestionRun.objects.filter(source="file").update(started_at=ODD[0], finished_at=ODD[1])
    IngestionRun.objects.filter(table="NoSuchTable").update(started_at=ODD[1])
    RejectedRow.objects.create(source="", reason="", raw="", fingerprint="f" * 64)
    LatencyPendingHour.objects.create(hour=ODD[0])
    # The only stored request, at the first moment of year 1: the unmatched window starts before it.
    GatewayRequest.objects.create(correlation_id="ancient", time=ODD[0], apim_request_id="gone")
    UnmatchedRow.objects.create(
        table="ApiManagementGatewayLogs", row_key="ancient", partner_key="gone", time=ODD[0]
    )
    response = client_for(admin_user).get(url)
    assert response.status_code == 200
