"""Long imports defer the latency rollups (``latency_rollups_deferred``): their cost depends on the
days and spans touched, not on the rows, so a batch only marks its hours (LatencyPendingHour, in
its transaction) and the marked hours are refreshed together once a minute and at the end.
"""

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from ..models import LatencyPendingHour, UsageHourly
from .common import rollup_lock
from .entries import HOURLY_FIELDS
from .latency import latency_hours_apply

# Hours whose latency rollups one ``latency_pending_refresh`` transaction refreshes at most.
_PENDING_HOURS_PER_TRANSACTION = 7 * 24


def latency_pending_refresh() -> int:
    """Refresh the latency rollups of every hour marked pending (LatencyPendingHour) from its
    UsageHourly rows, and unmark it in the same transaction. Returns the number of hours."""
    refreshed = 0
    while True:
        with transaction.atomic():
            rollup_lock()
            hours = list(
                LatencyPendingHour.objects.order_by("hour").values_list("hour", flat=True)[
                    :_PENDING_HOURS_PER_TRANSACTION
                ]
            )
            if not hours:
                return refreshed
            latency_hours_apply(hours)
            LatencyPendingHour.objects.filter(hour__in=hours).delete()
        refreshed += len(hours)


class _Deferral:
    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self.refreshed_at = time.monotonic()


_deferral: ContextVar[_Deferral | None] = ContextVar("latency_rollups_deferral", default=None)


@contextmanager
def latency_rollups_deferred(*, every_seconds: float = 60.0) -> Iterator[None]:
    """Within this block (a long import: ``import_logs``, a Log Analytics pull) the latency rollups
    are refreshed every ``every_seconds`` (``latency_rollups_tick``) and when the block ends,
    instead of after every batch: they are the part of a batch's refresh that costs the same for
    a batch of ten rows as for ten thousand. UsageHourly, UsageDaily and TokensPerMinuteHourly stay
    current batch by batch.

    Hours a killed worker left pending are refreshed on entering. Nested blocks are one block.
    """
    if _deferral.get() is not None:
        yield
        return
    latency_pending_refresh()
    token = _deferral.set(_Deferral(every_seconds))
    try:
        yield
    finally:
        _deferral.reset(token)
    latency_pending_refresh()


@contextmanager
def latency_rollups_marked(*, every_seconds: float = 60.0) -> Iterator[None]:
    """As ``latency_rollups_deferred``, without the refreshes on entering and at the end: the
    hours stay marked for whoever refreshes them later (the last window of a backfill, whose
    windows each touch the same days: refreshing them after every window would redo each day's
    spans as many times, under the one rollup lock). Nested in a deferring block, it is that block.
    """
    if _deferral.get() is not None:
        yield
        return
    token = _deferral.set(_Deferral(every_seconds))
    try:
        yield
    finally:
        _deferral.reset(token)


def latency_rollups_defer_process(*, every_seconds: float = 60.0) -> None:
    """For the rest of this process, as inside ``latency_rollups_deferred``, without its refresh
    at the end: for the worker processes of a parallel import (``usage.ingestion.parallel``),
    whose parent runs inside ``latency_rollups_deferred`` and refreshes the marked hours."""
    _deferral.set(_Deferral(every_seconds))


def latency_rollups_tick() -> None:
    """Within ``latency_rollups_deferred``: refresh the pending hours if the last refresh was
    ``every_seconds`` ago (ingestion calls this between batches, outside their transactions)."""
    deferral = _deferral.get()
    if deferral is not None and time.monotonic() - deferral.refreshed_at >= deferral.every_seconds:
        latency_pending_refresh()
        deferral.refreshed_at = time.monotonic()


def latency_hours_changed(
    hours: list[datetime], rollups: Iterable[UsageHourly] | QuerySet[UsageHourly]
) -> None:
    """The UsageHourly rows of ``hours`` are now ``rollups`` (instances, or a queryset of the stored
    rows, read only when needed): refresh the latency rollups of those hours, or within
    ``latency_rollups_deferred`` mark them pending (in the caller's transaction)."""
    if _deferral.get() is None:
        if isinstance(rollups, QuerySet):
            latency_hours_apply(hours)  # the stored rows
        else:
            latency_hours_apply(hours, [{f: getattr(r, f) for f in HOURLY_FIELDS} for r in rollups])
    else:
        latency_hours_mark(hours)


def latency_rollups_deferring() -> bool:
    """Whether this context is inside ``latency_rollups_deferred`` (or ``latency_rollups_marked``)."""
    return _deferral.get() is not None


def latency_hours_mark(hours: Iterable[datetime]) -> None:
    """Mark ``hours`` pending (LatencyPendingHour), in the caller's transaction.

    On PostgreSQL an hour already marked is locked too (an upsert that rewrites it): a refresh
    under the latency lock alone (``latency_alongside``) unmarks its hours before it reads their
    UsageHourly rows, so it either waits for this transaction and reads what it wrote, or has
    unmarked the hour first and this mark stays for the next refresh. Marking an existing row
    without locking it could let that refresh read the rows before this commit and unmark after.
    """
    hours = sorted(set(hours))
    if not hours:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LatencyPendingHour._meta.db_table} (hour) SELECT unnest(%s::timestamptz[]) "
                "ON CONFLICT (hour) DO UPDATE SET hour = EXCLUDED.hour",
                [hours],
            )
    else:
        LatencyPendingHour.objects.bulk_create(
            [LatencyPendingHour(hour=h) for h in hours], ignore_conflicts=True
        )
