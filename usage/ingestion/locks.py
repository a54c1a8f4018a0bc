"""Named locks so that two overlapping ingestion runs never pull the same table at once.

With ``REDIS_URL`` set the lock is a Redis lock (``SET NX PX``, released only by its owner); without
it a lease row in the database (``IngestionLease``), which works on SQLite and PostgreSQL alike.
Both expire after ``ttl`` seconds unless renewed, so a killed worker cannot block ingestion forever.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from usage.models import IngestionLease


class LockLost(Exception):
    """The lock expired and someone else may hold it: stop before storing more."""


class Lock(Protocol):
    def acquire(self, *, wait: float) -> bool: ...
    def renew(self) -> None: ...
    def release(self) -> None: ...


class RedisLock:
    def __init__(self, *, name: str, ttl: float, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._lock = self._client.lock(f"aoai:lock:{name}", timeout=ttl, thread_local=False)

    def acquire(self, *, wait: float) -> bool:
        if wait > 0:
            return bool(self._lock.acquire(blocking=True, blocking_timeout=wait))
        return bool(self._lock.acquire(blocking=False))

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


class LeaseLock:
    """A row per lock name; taking it is one conditional UPDATE or one INSERT (portable)."""

    def __init__(self, *, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = timedelta(seconds=ttl)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

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
            return False
        return True

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


def lock_for(*, name: str, ttl: float | None = None) -> Lock:
    """The lock implementation this deployment uses (Redis if configured)."""
    ttl = float(ttl if ttl is not None else settings.INGEST_LOCK_SECONDS)
    if settings.REDIS_URL:
        return RedisLock(name=name, ttl=ttl, url=settings.REDIS_URL)
    return LeaseLock(name=name, ttl=ttl)


@contextmanager
def lock_hold(*, name: str, wait: float = 0, ttl: float | None = None) -> Iterator[Lock | None]:
    """Hold the named lock for the block; yields None (and holds nothing) if it is busy."""
    lock = lock_for(name=name, ttl=ttl)
    if not lock.acquire(wait=wait):
        lock.release()  # a no-op for a lock we do not hold; closes the Redis connection
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()
