"""Two overlapping pulls never ingest the same window twice; a dead worker's lock frees itself."""

import os
import threading
import time
from collections import Counter

import pytest
import redis
from django.db import connection

from tests.support.log_analytics_fixtures import END, START, totals
from usage.ingestion.locks import LeaseLock, RedisLock, lock_hold
from usage.ingestion.log_analytics import log_analytics_pull
from usage.ingestion.tables import GATEWAY
from usage.models import IngestionLease

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def in_thread(target) -> threading.Thread:
    """Run ``target`` in a thread with its own database connection, closed at the end."""

    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def redis_url():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete("aoai:lock:ingest:log_analytics", "aoai:lock:test")
    yield TEST_REDIS_URL
    client.delete("aoai:lock:ingest:log_analytics", "aoai:lock:test")
    client.close()


@pytest.fixture(params=["redis", "database"])
def lock_backend(request, settings, emulator):
    if request.param == "redis":
        settings.REDIS_URL = request.getfixturevalue("redis_url")
    else:
        settings.REDIS_URL = ""
    return request.param


@pytest.mark.django_db(transaction=True)
def test_a_second_pull_while_one_runs_does_nothing_and_no_window_is_read_twice(emulator, lock_backend):
    emulator.hold()  # the first pull will wait inside its first query, holding the lock
    first_result = {}
    first = in_thread(lambda: first_result.update(r=log_analytics_pull(since=START, until=END)))
    deadline = time.monotonic() + 10
    while not emulator.queries and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emulator.queries, "the first pull never queried"

    second = log_analytics_pull(since=START, until=END)
    assert all(table.busy for table in second.tables)
    assert second.stored == 0

    emulator.release()
    first.join(timeout=60)
    assert first_result["r"].ok
    windows = Counter((q["table"], q["timespan"]) for q in emulator.queries)
    assert len(windows) == 9 and set(windows.values()) == {1}
    assert totals()["requests"] == next(t for t in first_result["r"].tables if t.table == GATEWAY).stored


@pytest.mark.django_db(transaction=True)
def test_the_ingest_command_waits_for_a_running_pull_instead_of_skipping(emulator, lock_backend):
    from django.core.management import call_command

    emulator.hold()
    worker = in_thread(lambda: log_analytics_pull(since=START, until=END))
    while not emulator.queries:
        time.sleep(0.02)
    threading.Timer(0.5, emulator.release).start()
    call_command(
        "ingest", "--since", START.isoformat(), "--until", END.isoformat(), "--no-progress", "--wait", "30"
    )
    worker.join(timeout=60)
    # The command ran after the first pull: everything it read again was a duplicate.
    assert totals()["requests"] > 0


def test_a_redis_lock_is_exclusive_and_expires_when_its_holder_stops_renewing(redis_url):
    holder = RedisLock(name="test", ttl=1, url=redis_url)
    other = RedisLock(name="test", ttl=1, url=redis_url)
    assert holder.acquire(wait=0)
    assert not other.acquire(wait=0)
    time.sleep(1.2)  # the holder "died": no renewal
    assert other.acquire(wait=0)
    other.release()
    holder.release()  # releasing a lock it lost is harmless


@pytest.mark.django_db
def test_a_database_lease_is_exclusive_and_expires_when_its_holder_stops_renewing():
    holder = LeaseLock(name="test", ttl=0.5)
    other = LeaseLock(name="test", ttl=0.5)
    assert holder.acquire(wait=0)
    assert not other.acquire(wait=0)
    holder.renew()
    assert not other.acquire(wait=0)
    time.sleep(0.6)
    assert other.acquire(wait=0)
    with pytest.raises(Exception, match="taken over"):
        holder.renew()
    other.release()
    assert not IngestionLease.objects.exists()


@pytest.mark.django_db
def test_lock_hold_yields_none_when_busy(settings):
    settings.REDIS_URL = ""
    with lock_hold(name="x") as first:
        assert first is not None
        with lock_hold(name="x") as second:
            assert second is None
    with lock_hold(name="x") as again:
        assert again is not None
