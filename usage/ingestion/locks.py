"""Named locks so that two overlapping ingestion runs never store at once.

With ``REDIS_URL`` set the lock is a Redis lock (``SET NX PX``, released only by its owner); without
it a lease row in the database (``IngestionLease``), which works on SQLite and PostgreSQL alike.
Both expire after ``ttl`` seconds (``INGEST_LEASE_SECONDS``, 2 minutes) unless renewed; a live run
renews its lock every quarter of that from a heartbeat thread (``lock_heartbeat``), however long
one query or one batch takes. So a killed run blocks ingestion for at most the lease, and not at
all when its process was on this host: the holder is named ``host:pid:token`` and a lock whose
holder process is gone is taken over at once (``runs.holder_gone``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from usage.models import IngestionLease

from .runs import holder_gone, holder_new, runs_heartbeat

logger = logging.getLogger(__name__)

# The one lock every ingestion run (a pull, a file import) stores under: two runs storing at once
# could each miss the other's join partners (see parallel.py, which keeps its own batches apart).
INGEST_LOCK = "ingest:log_analytics"


class LockLost(Exception):
    """The lock expired and someone else may hold it: stop before storing more."""


class Lock(Protocol):
    def acquire(self, *, wait: float) -> bool: ...
    def renew(self) -> None: ...
    def release(self) -> None: ...
    def close(self) -> None: ...
    def holder_name(self) -> str: ...


# Delete the key only if it still holds the dead holder's token (someone may have taken it since).
_DELETE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisLock:
    def __init__(self, *, name: str, ttl: float, url: str, holder: str | None = None) -> None:
        import redis

        self.holder = holder or holder_new()
        self._key = f"aoai:lock:{name}"
        self._client = redis.Redis.from_url(url)
        self._lock = self._client.lock(self._key, timeout=ttl, thread_local=False)

    def acquire(self, *, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            if self._lock.acquire(blocking=False, token=self.holder):
                return True
            if self._own_adopt():
                return True
            if self._dead_holder_evict():
                continue
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _own_adopt(self) -> bool:
        """The key already holds our holder name (another process of a shared holder took it):
        renew it as ours."""
        from redis.exceptions import LockError

        self._lock.local.token = self.holder.encode()
        try:
            self._lock.reacquire()
        except LockError:
            self._lock.local.token = None
            return False
        return True

    def _dead_holder_evict(self) -> bool:
        current = self._client.get(self._key)
        if current is None:
            return True  # freed meanwhile: try again
        if not holder_gone(_text(current)):
            return False
        return bool(self._client.eval(_DELETE_IF, 1, self._key, current))

    def holder_name(self) -> str:
        current = self._client.get(self._key)
        return _text(current) if current else ""

    def renew(self) -> None:
        from redis.exceptions import LockError

        try:
            self._lock.reacquire()
        except LockError as exc:
            raise LockLost(str(exc)) from exc

    def release(self) -> None:
        from redis.exceptions import LockError

        try:
            self._lock.release()
        except LockError:
            pass  # expired meanwhile: nothing of ours left to release
        finally:
            self._client.close()

    def close(self) -> None:
        self._client.close()


class LeaseLock:
    """A row per lock name; taking it is one conditional UPDATE or one INSERT (portable)."""

    def __init__(self, *, name: str, ttl: float, holder: str | None = None) -> None:
        self.name = name
        self.ttl = timedelta(seconds=ttl)
        self.holder = holder or holder_new()

    def _try(self) -> bool:
        now = timezone.now()
        with transaction.atomic():
            taken = IngestionLease.objects.filter(name=self.name, expires_at__lte=now).update(
                holder=self.holder, expires_at=now + self.ttl
            )
        if taken:
            return True
        try:
            with transaction.atomic():
                IngestionLease.objects.create(name=self.name, holder=self.holder, expires_at=now + self.ttl)
        except IntegrityError:
            with transaction.atomic():  # already ours (a shared holder): renew it
                if IngestionLease.objects.filter(name=self.name, holder=self.holder).update(
                    expires_at=now + self.ttl
                ):
                    return True
            return self._dead_holder_evict(now)
        return True

    def _dead_holder_evict(self, now: datetime) -> bool:
        """Take over a lease whose holder process, on this host, is gone."""
        holder = self.holder_name()
        if not holder or not holder_gone(holder):
            return False
        with transaction.atomic():
            return bool(
                IngestionLease.objects.filter(name=self.name, holder=holder).update(
                    holder=self.holder, expires_at=now + self.ttl
                )
            )

    def holder_name(self) -> str:
        return IngestionLease.objects.filter(name=self.name).values_list("holder", flat=True).first() or ""

    def acquire(self, *, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            if self._try():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def renew(self) -> None:
        renewed = IngestionLease.objects.filter(name=self.name, holder=self.holder).update(
            expires_at=timezone.now() + self.ttl
        )
        if not renewed:
            raise LockLost(f"lease {self.name} was taken over")

    def release(self) -> None:
        IngestionLease.objects.filter(name=self.name, holder=self.holder).delete()

    def close(self) -> None:
        pass


def lock_for(*, name: str, ttl: float | None = None, holder: str | None = None) -> Lock:
    """The lock implementation this deployment uses (Redis if configured).

    ``holder``: hold it under that name rather than a new one of this process. Processes that
    share a holder name share the lock: each can take it while another holds it (the windows of
    one backfill, ``backfill.py``), and whichever releases it frees it for all.
    """
    ttl = float(ttl if ttl is not None else settings.INGEST_LEASE_SECONDS)
    if settings.REDIS_URL:
        return RedisLock(name=name, ttl=ttl, url=settings.REDIS_URL, holder=holder)
    return LeaseLock(name=name, ttl=ttl, holder=holder)


def lock_holder(*, name: str) -> str:
    """Who holds the named lock now (``host:pid:token``), or "" if nobody (or unknown)."""
    lock = lock_for(name=name)
    try:
        return lock.holder_name()
    except Exception:
        return ""
    finally:
        lock.release()  # holds nothing; closes the Redis connection


@contextmanager
def lock_hold(
    *, name: str, wait: float = 0, ttl: float | None = None, holder: str | None = None, release: bool = True
) -> Iterator[Lock | None]:
    """Hold the named lock for the block; yields None (and holds nothing) if it is busy.
    ``release=False``: still held at the end of the block, until it expires or is released (a
    backfill's windows, which take it in turn)."""
    lock = lock_for(name=name, ttl=ttl, holder=holder)
    if not lock.acquire(wait=wait):
        lock.release()  # a no-op for a lock we do not hold; closes the Redis connection
        yield None
        return
    try:
        yield lock
    finally:
        if release:
            lock.release()
        else:
            lock.close()


class _Heartbeat:
    def __init__(self, *, lock: Lock | None, interval: float) -> None:
        self.lock = lock
        self.interval = interval
        self.lost: LockLost | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-heartbeat", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.beat()
        finally:
            connections.close_all()  # this thread's own

    def beat(self) -> None:
        if self.lock is not None and self.lost is None:
            try:
                self.lock.renew()
            except LockLost as exc:  # the run finds out at its next lock.renew() and stops
                self.lost = exc
                logger.error("ingestion lock lost: %s", exc)
            except Exception:  # a database or Redis hiccup: try again at the next beat
                logger.warning("renewing the ingestion lock failed", exc_info=True)
        try:
            runs_heartbeat()
        except Exception:
            logger.warning("ingestion run heartbeat failed", exc_info=True)


@contextmanager
def lock_heartbeat(*, lock: Lock | None, interval: float | None = None) -> Iterator[None]:
    """For the block, renew ``lock`` and the heartbeat of this process's running runs every
    ``interval`` seconds (a quarter of ``INGEST_LEASE_SECONDS``) from a daemon thread.

    Enter it after forking worker processes (``BatchStore``): a fork copies no thread.
    """
    beat = _Heartbeat(
        lock=lock, interval=interval if interval is not None else float(settings.INGEST_LEASE_SECONDS) / 4
    )
    beat._thread.start()
    try:
        yield
    finally:
        beat._stop.set()
        beat._thread.join(timeout=30)


def _text(value: bytes | str) -> str:
    """A Redis value as text (the client answers bytes unless built to decode)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
