"""Pull APIM and Azure OpenAI logs out of Log Analytics, window by window, exactly once.

Each table is pulled in time windows ``[start, end)`` on ``TimeGenerated``:

* a regular pull starts at the table's watermark minus ``INGEST_OVERLAP_SECONDS`` (rows that
  arrived late are picked up on the next pass; storing is idempotent) and stops at now minus
  ``INGEST_DELAY_SECONDS`` (rows of the last minutes are still arriving);
* a window that hits the service limits (too many rows, too big, timeout) or answers a partial
  result is split in halves and retried; 429, 5xx and connection errors are retried with backoff
  (each window's run counts its retries and 429s);
* the watermark moves to a window's end only after all rows of that window were stored, so it
  never gets ahead of stored data; a failure stops that table's pull and leaves the watermark;
* a pull runs under the ingestion lock (Redis, or a database lease without Redis; ``locks.py``),
  so overlapping runs (a late beat run, a manual backfill, a file import) never store at once:
  the second one skips, or waits (the ``ingest`` command); a heartbeat renews the lock while the
  pull runs, so a killed pull blocks the next one for at most ``INGEST_LEASE_SECONDS``;
* every window is recorded as an ``IngestionRun``; the runs a killed pull left ``running`` are
  closed as "abandoned" by the next run (``runs.py``).

This module holds the pull: windows, splits, watermarks and each window's ``IngestionRun``.
Reading one window (client, KQL, retries) is ``log_analytics_query.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from usage.models import IngestionRun, IngestionWatermark
from usage.rollups.deferral import latency_rollups_deferred

from .locks import INGEST_LOCK, Lock, LockLost, lock_heartbeat, lock_hold, lock_holder
from .log_analytics_query import TABLES, QueryFailed, WindowTooLarge, logs_client_build, window_fetch
from .parallel import BatchStore
from .runs import run_counts_set, run_start, runs_abandoned_close
from .tables import GATEWAY, LLM_LOG, NATIVE

logger = logging.getLogger(__name__)

SOURCE = "log_analytics"
LOCK_NAME = INGEST_LOCK
# The order tables are pulled in: join partners first. When a window's gateway rows are stored,
# their native rows and LLM-log chunks are then already there, so each request's usage, cost and
# flags are computed once, with its partners, instead of once per arriving table (the refresh
# parses the bodies each time).
PULL_ORDER = (NATIVE, LLM_LOG, GATEWAY)


class NotConfigured(ImproperlyConfigured):
    """Log Analytics pull is not configured (no workspace id)."""


@dataclass
class TablePull:
    """What one pull did to one table."""

    table: str
    windows: int = 0
    splits: int = 0
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    skipped: int = 0
    rejected: int = 0
    watermark: datetime | None = None
    busy: bool = False  # another run held the ingestion lock: nothing done
    busy_holder: str = ""  # which process held it ("host:pid:token"), if known
    error: str = ""


@dataclass
class PullResult:
    tables: list[TablePull] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(table.error for table in self.tables)

    @property
    def rows_read(self) -> int:
        return sum(table.rows_read for table in self.tables)

    @property
    def stored(self) -> int:
        return sum(table.stored for table in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            table.table: {
                "windows": table.windows,
                "splits": table.splits,
                "rows_read": table.rows_read,
                "stored": table.stored,
                "duplicates": table.duplicates,
                "conflicts": table.conflicts,
                "skipped": table.skipped,
                "rejected": table.rejected,
                "watermark": table.watermark.isoformat() if table.watermark else None,
                "busy": table.busy,
                "error": table.error,
            }
            for table in self.tables
        }


Progress = Callable[[str, timedelta], None]


def watermark_get(*, table: str) -> datetime | None:
    return IngestionWatermark.objects.filter(table=table).values_list("watermark", flat=True).first()


def _watermark_advance(*, table: str, window_start: datetime, window_end: datetime) -> datetime | None:
    """Move the watermark to ``window_end`` if the window joins up with it (no gap, no going back)."""
    with transaction.atomic():
        mark = IngestionWatermark.objects.select_for_update().filter(table=table).first()
        if mark is None:
            IngestionWatermark.objects.create(table=table, watermark=window_end)
            return window_end
        if window_start <= mark.watermark < window_end:
            mark.watermark = window_end
            mark.save(update_fields=["watermark", "updated_at"])
        return mark.watermark


def _windows(start: datetime, end: datetime) -> Iterable[tuple[datetime, datetime]]:
    size = timedelta(seconds=settings.INGEST_WINDOW_SECONDS)
    cursor = start
    while cursor < end:
        yield cursor, min(cursor + size, end)
        cursor += size


def table_pull(
    *,
    client: Any,
    table: str,
    start: datetime,
    end: datetime,
    lock: Lock,
    store: BatchStore,
    progress: Progress | None = None,
    advance: bool = True,
) -> TablePull:
    """Pull ``[start, end)`` of one table window by window, splitting windows that are too large.

    The caller holds the pull lock. Stops at the first window that cannot be fetched or stored.
    Windows are stored by ``store`` (the pull's). ``advance=False``: the watermark is left to the
    caller (a backfill's window moves it once all of it is stored, ``backfill.py``).
    """
    outcome = TablePull(table=table, watermark=watermark_get(table=table))
    min_window = timedelta(seconds=max(settings.INGEST_MIN_WINDOW_SECONDS, 0.001))
    for window_start, window_end in _windows(start, end):
        pending = [(window_start, window_end)]
        while pending:
            part_start, part_end = pending.pop()
            run = run_start(source=SOURCE, table=table, window_start=part_start, window_end=part_end)
            try:
                lock.renew()
                # The run counts the window's retries and 429s (saved with its status).
                rows = window_fetch(client=client, table=table, start=part_start, end=part_end, tries=run)
            except WindowTooLarge as exc:
                if part_end - part_start <= min_window:
                    outcome.error = f"{part_start:%Y-%m-%d %H:%M:%S}: cannot split further: {exc}"
                    _run_finish(run, status=IngestionRun.Status.FAILED, error=outcome.error)
                    return outcome
                middle = part_start + (part_end - part_start) / 2
                pending.append((middle, part_end))
                pending.append((part_start, middle))
                outcome.splits += 1
                _run_finish(run, status=IngestionRun.Status.PARTIAL, error=f"split in halves: {exc}")
                continue
            except QueryFailed as exc:
                outcome.error = str(exc)
                _run_finish(run, status=IngestionRun.Status.FAILED, error=outcome.error)
                return outcome
            except LockLost as exc:
                outcome.error = f"lost the pull lock: {exc}"
                _run_finish(run, status=IngestionRun.Status.FAILED, error=outcome.error)
                raise LockLost(outcome.error) from exc
            try:
                stored = store.store(table=table, rows=rows)
            except Exception as exc:  # whatever broke, the watermark must stay before these rows
                logger.exception("storing %s %s..%s failed", table, part_start, part_end)
                outcome.error = f"storing failed: {exc.__class__.__name__}: {exc}"
                _run_finish(run, status=IngestionRun.Status.FAILED, error=outcome.error, rows_read=len(rows))
                return outcome
            run_counts_set(run, stored)
            _run_finish(run, status=IngestionRun.Status.OK)
            outcome.windows += 1
            outcome.rows_read += stored.rows_read
            outcome.stored += stored.stored
            outcome.duplicates += stored.duplicates
            outcome.conflicts += stored.conflicts
            outcome.skipped += stored.skipped
            outcome.rejected += stored.rejected
            if advance:
                outcome.watermark = _watermark_advance(
                    table=table, window_start=part_start, window_end=part_end
                )
            if progress:
                progress(table, part_end - part_start)
    return outcome


def _run_finish(run: IngestionRun, *, status: str, error: str = "", **counts: int) -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    for name, value in counts.items():
        setattr(run, name, value)
    run.save()


def log_analytics_pull(
    *,
    tables: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    lock_wait: float = 0,
    client: Any = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> PullResult:
    """Pull every table (or ``tables``) from Log Analytics and store the rows, in ``PULL_ORDER``.

    Without ``since``/``until`` it is the regular incremental pull (watermark - overlap up to now -
    delay). With them it is a backfill of ``[since, until)``. While another pull holds the lock the
    run does nothing (every table ``busy``) unless the lock frees within ``lock_wait`` seconds.
    Each window is stored by ``workers`` processes (default ``INGEST_WORKERS``).
    """
    if not settings.LOG_ANALYTICS_WORKSPACE_ID:
        raise NotConfigured("LOG_ANALYTICS_WORKSPACE_ID is not set: nothing to pull from")
    now = now or timezone.now()
    tables = list(tables or TABLES)
    for table in tables:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
    tables.sort(key=PULL_ORDER.index)
    client = client or logs_client_build()
    result = PullResult()
    with lock_hold(name=LOCK_NAME, wait=lock_wait) as lock:
        if lock is None:
            holder = lock_holder(name=LOCK_NAME)
            logger.info("another ingestion run (%s) holds the lock; skipped", holder or "unknown")
            result.tables = [
                TablePull(table=t, busy=True, busy_holder=holder, watermark=watermark_get(table=t))
                for t in tables
            ]
            return result
        runs_abandoned_close(lock_held=True)  # we hold the lock: whatever still says running is dead
        with (
            latency_rollups_deferred(),
            BatchStore(workers=workers, source=SOURCE, batch_size=settings.INGEST_BATCH_SIZE) as store,
            lock_heartbeat(lock=lock),  # after the fork of the workers
        ):
            for table in tables:
                start, end = pull_span(table=table, since=since, until=until, now=now)
                try:
                    outcome = table_pull(
                        client=client,
                        table=table,
                        start=start,
                        end=end,
                        lock=lock,
                        progress=progress,
                        store=store,
                    )
                except LockLost as exc:  # another run may be pulling now: stop, store nothing more
                    logger.error("%s: %s", table, exc)
                    result.tables.append(
                        TablePull(table=table, error=str(exc), watermark=watermark_get(table=table))
                    )
                    break
                result.tables.append(outcome)
                if outcome.error:
                    logger.error("%s: %s", table, outcome.error)
    return result


def pull_span(
    *, table: str, since: datetime | None = None, until: datetime | None = None, now: datetime
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` a pull of ``table`` covers (see ``log_analytics_pull``)."""
    end = until or now - timedelta(seconds=settings.INGEST_DELAY_SECONDS)
    if since is not None:
        return since, end
    mark = watermark_get(table=table)
    if mark is None:
        return end - timedelta(seconds=settings.INGEST_START_LOOKBACK_SECONDS), end
    return mark - timedelta(seconds=settings.INGEST_OVERLAP_SECONDS), end
