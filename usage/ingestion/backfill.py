"""A pull split into per-table windows that any Celery worker, on any machine, can take.

``ingest --since 30d --parallel``, and the beat pull when it is behind (``backfill_if_behind``),
plan a backfill (``backfill_start``): one ``IngestionWindow`` row per table and window, and one
``usage.ingest_window`` task per window. Each window is pulled and stored as the single-process
pull stores one (``log_analytics.table_pull``: split when too large, the same store). Why many
workers store what one process would:

* The windows hold the ingestion lock together, under the backfill's holder name (``locks.py``):
  no other pull or file import stores while they run, and each renews the lock while it works.
* The tables go one after the other, join partners first (``PULL_ORDER``): a table's windows are
  queued once every window of the table before it has ended (stored, or failed for good).
  Windows of one table are stored side by side as the batches of ``INGEST_WORKERS`` are
  (``parallel.py``); windows of two tables never are, which could let a request and its partner
  row each miss the other.
* A window is claimed by one worker at a time (a conditional UPDATE of its row); the claim of a
  worker that died (its process gone, or no heartbeat for ``INGEST_LEASE_SECONDS``) can be taken.
* A failed window is run again by Celery after a backoff, up to ``INGEST_WINDOW_RETRIES`` times,
  then left ``failed``; each attempt is an ``IngestionRun`` (``/ingestion/`` shows both).
* A table's watermark moves only over windows stored without a gap (``_watermark_advance``): a
  window stored after a failed or pending one leaves it before the gap until the gap is stored.
* The latency rollups of the hours a window stored are marked pending (``latency_rollups_marked``)
  and refreshed once, when the last window ends (and once a minute within a long window). The
  quota alerts are evaluated once too, after the last window (``WindowOutcome.backfill_stored``),
  not after each of a month's thousands of windows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from usage.models import IngestionBackfill, IngestionWatermark, IngestionWindow
from usage.rollups.deferral import latency_pending_refresh, latency_rollups_marked

from .locks import INGEST_LOCK, LockLost, lock_for, lock_heartbeat, lock_hold, lock_holder
from .log_analytics import (
    PULL_ORDER,
    SOURCE,
    TablePull,
    pull_span,
    table_pull,
    watermark_get,
)
from .log_analytics_query import TABLES, logs_client_build
from .parallel import BatchStore
from .runs import holder_gone, holder_new, process_holder, runs_abandoned_close

logger = logging.getLogger(__name__)

# The Celery task that runs one window (usage.tasks): looked up by name, tasks stand above services.
WINDOW_TASK = "usage.ingest_window"
_ENDED = (IngestionWindow.Status.OK, IngestionWindow.Status.FAILED)
_COUNTS = ("rows_read", "rows_stored", "duplicates", "conflicts", "skipped", "rejected")


@dataclass
class WindowOutcome:
    status: str
    retry_in: float | None = None  # seconds: Celery runs the window again after them
    stored: int = 0
    backfill_stored: bool = False  # this window ended the backfill, which stored rows


def backfill_spans(
    *, tables: list[str] | None = None, since: datetime | None, until: datetime | None, now: datetime
) -> dict[str, tuple[datetime, datetime]]:
    """The ``[start, end)`` of each table a pull would cover (``log_analytics.pull_span``)."""
    return {table: pull_span(table=table, since=since, until=until, now=now) for table in (tables or TABLES)}


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    size = timedelta(seconds=settings.INGEST_WINDOW_SECONDS)
    cuts = []
    while start < end:
        cuts.append((start, min(start + size, end)))
        start += size
    return cuts


def backfill_start(
    *, spans: Mapping[str, tuple[datetime, datetime]], lock_wait: float = 0
) -> IngestionBackfill | None:
    """Plan the windows of ``spans`` and queue the first table's; None (nothing planned) when
    another run holds the ingestion lock beyond ``lock_wait`` seconds."""
    tables = sorted(spans, key=PULL_ORDER.index)
    holder = f"backfill:{holder_new()}"
    # Taken now and kept (released by the last window): no pull slips in before the first window.
    with lock_hold(name=INGEST_LOCK, wait=lock_wait, holder=holder, release=False) as lock:
        if lock is None:
            return None
        with transaction.atomic():
            backfill = IngestionBackfill.objects.create(tables=tables, lock_holder=holder)
            IngestionWindow.objects.bulk_create(
                IngestionWindow(backfill=backfill, table=table, window_start=start, window_end=end)
                for table in tables
                for start, end in _windows(*spans[table])
            )
            _phase_advance(backfill_id=backfill.pk)
    backfill.refresh_from_db()
    return backfill


def _phase_advance(*, backfill_id: int) -> bool:
    """Queue the next table's windows once every window of the table queued before has ended;
    finish the backfill (and free the lock) when none is left: True then. Serialised on the
    backfill's row, so that two windows ending at once queue the next table once."""
    with transaction.atomic():
        backfill = IngestionBackfill.objects.select_for_update().get(pk=backfill_id)
        if backfill.finished_at is not None:
            return False
        windows = IngestionWindow.objects.filter(backfill=backfill)
        current = backfill.phase
        if (
            current >= 0
            and windows.filter(table=backfill.tables[current]).exclude(status__in=_ENDED).exists()
        ):
            return False
        for phase in range(current + 1, len(backfill.tables)):
            ids = list(
                windows.filter(table=backfill.tables[phase])
                .order_by("window_start")
                .values_list("pk", flat=True)
            )
            if ids:
                backfill.phase = phase
                backfill.save(update_fields=["phase"])
                transaction.on_commit(partial(_windows_queue, ids))
                return False
        backfill.phase = len(backfill.tables)
        backfill.finished_at = timezone.now()
        backfill.save(update_fields=["phase", "finished_at"])
    try:
        latency_pending_refresh()  # the hours every window marked, once (still under the lock)
    finally:
        lock_for(name=INGEST_LOCK, holder=backfill.lock_holder).release()
    return True


def _backfill_stored(*, backfill_id: int) -> bool:
    return IngestionWindow.objects.filter(backfill_id=backfill_id, rows_stored__gt=0).exists()


def _windows_queue(window_ids: list[int]) -> None:
    from celery import current_app

    current_app.loader.import_default_modules()  # the apps' tasks modules (autodiscovery)
    task = current_app.tasks[WINDOW_TASK]
    for window_id in window_ids:
        task.delay(window_id)


def _claim(window: IngestionWindow) -> bool:
    """Take ``window`` for this process: one conditional UPDATE, so one worker at a time."""
    now = timezone.now()
    stale = now - timedelta(seconds=float(settings.INGEST_LEASE_SECONDS))
    claimable = Q(status__in=[IngestionWindow.Status.PENDING, IngestionWindow.Status.RETRYING]) | Q(
        status=IngestionWindow.Status.RUNNING, heartbeat_at__lt=stale
    )
    if window.status == IngestionWindow.Status.RUNNING and window.holder and holder_gone(window.holder):
        claimable |= Q(status=IngestionWindow.Status.RUNNING, holder=window.holder)
    return bool(
        IngestionWindow.objects.filter(claimable, pk=window.pk).update(
            status=IngestionWindow.Status.RUNNING,
            holder=process_holder(),
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            error="",
        )
    )


def window_retry_delay(*, attempt: int) -> float:
    """Seconds before the ``attempt``-th run of a failed window (1 = its first retry)."""
    delay = settings.INGEST_BACKOFF_SECONDS * (2 ** max(attempt - 1, 0))
    return float(min(delay, settings.INGEST_BACKOFF_MAX_SECONDS))


def backfill_window_run(*, window_id: int, client: object = None) -> WindowOutcome:
    """Pull and store one window of a backfill (the ``usage.ingest_window`` task's work)."""
    window = IngestionWindow.objects.select_related("backfill").filter(pk=window_id).first()
    if window is None or window.status in _ENDED:
        return WindowOutcome(status=window.status if window else "gone")
    if not _claim(window):
        return WindowOutcome(status="taken")  # another worker runs it (a task delivered twice)
    window.refresh_from_db()
    backfill = window.backfill
    with lock_hold(name=INGEST_LOCK, holder=backfill.lock_holder, release=False) as lock:
        if lock is None:
            outcome = TablePull(
                table=window.table, error=f"the ingestion lock is held by {lock_holder(name=INGEST_LOCK)}"
            )
        else:
            runs_abandoned_close()  # only runs whose process is gone or silent: others run beside us
            try:
                with (
                    latency_rollups_marked(),
                    BatchStore(source=SOURCE, batch_size=settings.INGEST_BATCH_SIZE) as store,
                    lock_heartbeat(lock=lock),
                ):
                    outcome = table_pull(
                        client=client or logs_client_build(),
                        table=window.table,
                        start=window.window_start,
                        end=window.window_end,
                        lock=lock,
                        store=store,
                        advance=False,
                    )
            except LockLost as exc:
                outcome = TablePull(table=window.table, error=str(exc))
            except Exception as exc:  # the window must end (retried or failed), or its table waits forever
                logger.exception("window %s of %s failed", window.pk, window.table)
                outcome = TablePull(table=window.table, error=f"{exc.__class__.__name__}: {exc}")
    return _window_end(window, outcome)


def _window_end(window: IngestionWindow, outcome: TablePull) -> WindowOutcome:
    now = timezone.now()
    if outcome.error:
        last = window.attempts > settings.INGEST_WINDOW_RETRIES
        status = IngestionWindow.Status.FAILED if last else IngestionWindow.Status.RETRYING
        logger.error("%s %s..%s: %s", window.table, window.window_start, window.window_end, outcome.error)
        IngestionWindow.objects.filter(pk=window.pk).update(
            status=status, error=outcome.error, finished_at=now
        )
        if last:
            ended = _phase_advance(backfill_id=window.backfill_id)
            return WindowOutcome(
                status=status, backfill_stored=ended and _backfill_stored(backfill_id=window.backfill_id)
            )
        return WindowOutcome(status=status, retry_in=window_retry_delay(attempt=window.attempts))
    counts = {
        "rows_read": outcome.rows_read,
        "rows_stored": outcome.stored,
        "duplicates": outcome.duplicates,
        "conflicts": outcome.conflicts,
        "skipped": outcome.skipped,
        "rejected": outcome.rejected,
    }
    with transaction.atomic():
        IngestionBackfill.objects.select_for_update().filter(pk=window.backfill_id).first()
        IngestionWindow.objects.filter(pk=window.pk).update(
            status=IngestionWindow.Status.OK, error="", finished_at=now, **counts
        )
        _watermark_advance(backfill_id=window.backfill_id, table=window.table)
    ended = _phase_advance(backfill_id=window.backfill_id)
    return WindowOutcome(
        status=IngestionWindow.Status.OK,
        stored=outcome.stored,
        backfill_stored=ended and _backfill_stored(backfill_id=window.backfill_id),
    )


def _watermark_advance(*, backfill_id: int, table: str) -> datetime | None:
    """Move ``table``'s watermark over the backfill's windows stored without a gap from it (from
    the first window when the table has none yet). The caller holds the backfill's row lock."""
    mark = IngestionWatermark.objects.select_for_update().filter(table=table).first()
    windows = IngestionWindow.objects.filter(backfill_id=backfill_id, table=table).order_by("window_start")
    spans = list(windows.values_list("window_start", "window_end", "status"))
    if not spans:
        return mark.watermark if mark else None
    start = mark.watermark if mark else spans[0][0]
    reached = start
    for window_start, window_end, status in spans:
        if window_end <= reached:
            continue
        if window_start > reached or status != IngestionWindow.Status.OK:
            break
        reached = window_end
    if reached == start:
        return mark.watermark if mark else None
    if mark is None:
        IngestionWatermark.objects.create(table=table, watermark=reached)
    else:
        mark.watermark = reached
        mark.save(update_fields=["watermark", "updated_at"])
    return reached


def backfill_live() -> IngestionBackfill | None:
    """The backfill still running: unfinished, and its windows still hold the ingestion lock (one
    whose workers all stopped lets its lock expire)."""
    backfill = IngestionBackfill.objects.filter(finished_at__isnull=True).order_by("-created_at").first()
    if backfill is not None and lock_holder(name=INGEST_LOCK) == backfill.lock_holder:
        return backfill
    return None


def backfill_if_behind(*, now: datetime | None = None) -> IngestionBackfill | None:
    """For the beat pull: when a table is more than ``INGEST_PARALLEL_BEHIND_WINDOWS`` windows
    behind (and tasks go to workers, not run in this process), catch up with a backfill instead
    of one process. Returns the backfill running or started, or None: pull as usual."""
    if settings.INGEST_PARALLEL_BEHIND_WINDOWS <= 0 or settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    live = backfill_live()
    if live is not None:
        return live
    spans = backfill_spans(since=None, until=None, now=now or timezone.now())
    behind = timedelta(seconds=settings.INGEST_WINDOW_SECONDS * settings.INGEST_PARALLEL_BEHIND_WINDOWS)
    if not any(end - start > behind for start, end in spans.values()):
        return None
    return backfill_start(spans=spans)


@dataclass
class BackfillTable:
    """What a backfill did to one table so far (the ``ingest`` command's report)."""

    table: str
    windows: int
    ok: int
    failed: int
    counts: dict[str, int]
    watermark: datetime | None
    errors: list[str]


def backfill_tables(*, backfill: IngestionBackfill) -> list[BackfillTable]:
    tables = []
    for table in backfill.tables:
        windows = list(backfill.windows.filter(table=table).order_by("window_start"))
        failed = [w for w in windows if w.status == IngestionWindow.Status.FAILED]
        tables.append(
            BackfillTable(
                table=table,
                windows=len(windows),
                ok=sum(w.status == IngestionWindow.Status.OK for w in windows),
                failed=len(failed),
                counts={name: sum(getattr(w, name) for w in windows) for name in _COUNTS},
                watermark=watermark_get(table=table),
                errors=[
                    f"{w.window_start:%Y-%m-%d %H:%M}: {w.error} ({w.attempts} attempts)" for w in failed
                ],
            )
        )
    return tables


def backfill_progress(*, backfill_id: int) -> tuple[int, int, bool]:
    """(windows ended, windows, finished) of a backfill."""
    windows = IngestionWindow.objects.filter(backfill_id=backfill_id)
    finished = IngestionBackfill.objects.filter(pk=backfill_id, finished_at__isnull=False).exists()
    return windows.filter(status__in=_ENDED).count(), windows.count(), finished
