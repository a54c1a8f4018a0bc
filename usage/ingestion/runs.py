"""Ingestion runs that end: who runs them, their heartbeat, and closing the ones whose process died.

Every run (a Log Analytics window, a file import) records its ``holder``, the process that runs it,
as ``host:pid:token`` where ``host`` is the host name and the process's PID namespace (two
containers may share a host name, never a PID namespace). While it runs, a heartbeat thread
(``locks.lock_heartbeat``) refreshes its ``heartbeat_at``. A run left ``running`` whose process
is gone (known for processes of this host) or whose heartbeat is older than
``INGEST_LEASE_SECONDS`` is marked failed with the error "abandoned: ..." by the next run, which
holds the ingestion lock.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from usage.models import IngestionRun, IngestionWindow

ABANDONED = "abandoned"


@cache
def _host() -> str:
    name = socket.gethostname()[:64] or "localhost"
    try:  # "pid:[4026531836]": a PID namespace of its own per container
        namespace = os.readlink("/proc/self/ns/pid").split("[")[-1].rstrip("]")
    except OSError:
        return name
    return f"{name}/{namespace}"


def holder_new() -> str:
    """A holder name for one lock or one process: ``host:pid:token``."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_process: dict[int, str] = {}


def process_holder() -> str:
    """This process's holder name (a forked child gets its own)."""
    pid = os.getpid()
    if pid not in _process:
        _process.clear()
        _process[pid] = holder_new()
    return _process[pid]


def holder_gone(holder: str) -> bool:
    """True when ``holder`` is a process of this host (and PID namespace) that no longer exists.
    False when it lives, or when it cannot be known (another host, an unreadable name)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    except OSError:
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet still answers ``kill(pid, 0)``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def run_start(**fields: object) -> IngestionRun:
    """A new ``running`` run held by this process."""
    return IngestionRun.objects.create(holder=process_holder(), heartbeat_at=timezone.now(), **fields)


def runs_heartbeat() -> int:
    """This process's running runs (and the backfill windows it claimed) are alive: refresh their
    heartbeat."""
    now = timezone.now()
    IngestionWindow.objects.filter(status=IngestionWindow.Status.RUNNING, holder=process_holder()).update(
        heartbeat_at=now
    )
    return IngestionRun.objects.filter(status=IngestionRun.Status.RUNNING, holder=process_holder()).update(
        heartbeat_at=now
    )


def runs_abandoned_close(*, now: datetime | None = None, lock_held: bool = False) -> int:
    """Mark failed ("abandoned: ...") the running runs whose process is gone or whose heartbeat
    stopped more than ``INGEST_LEASE_SECONDS`` ago. With ``lock_held`` (the caller holds the
    ingestion lock, so no other run can be storing) every running run of another process is.
    Returns how many were closed."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=float(settings.INGEST_LEASE_SECONDS))
    closed = 0
    running = IngestionRun.objects.filter(status=IngestionRun.Status.RUNNING).exclude(holder=process_holder())
    for run in running.only("id", "holder", "heartbeat_at", "started_at"):
        beat = run.heartbeat_at or run.started_at
        if run.holder and holder_gone(run.holder):
            why = f"{ABANDONED}: its process ({run.holder}) is gone"
        elif beat is None or beat < stale:
            since = f"{beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "its start"
            why = f"{ABANDONED}: no heartbeat since {since}"
        elif lock_held:
            why = f"{ABANDONED}: its process stopped holding the ingestion lock"
        else:
            continue
        # Only if still running: a run that just finished keeps its own status.
        closed += IngestionRun.objects.filter(Q(pk=run.pk), status=IngestionRun.Status.RUNNING).update(
            status=IngestionRun.Status.FAILED, finished_at=now, error=why
        )
    return closed


class Counted(Protocol):
    """What a store or a file import counted (``StoreResult``, ``FileImportResult``)."""

    rows_read: int
    stored: int
    duplicates: int
    conflicts: int
    skipped: int
    rejected: int
    skipped_categories: Mapping[str, int]
    reasons: Mapping[str, int]


def run_counts(result: Counted) -> dict[str, Any]:
    """``result``'s counts as ``IngestionRun.tables`` keeps them (per table of a file import)."""
    return {
        "rows_read": result.rows_read,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "conflicts": result.conflicts,
        "skipped": result.skipped,
        "rejected": result.rejected,
        "skipped_categories": dict(result.skipped_categories),
        "reasons": dict(result.reasons),
    }


def run_counts_set(run: IngestionRun, result: Counted) -> None:
    """Copy ``result``'s counts onto ``run``'s columns (``stored`` is the column ``rows_stored``)."""
    for name, value in run_counts(result).items():
        setattr(run, "rows_stored" if name == "stored" else name, value)
