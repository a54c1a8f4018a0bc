"""A long refresh (a rebuild, a re-priced month) builds the latency rollups in a second thread,
alongside the hourly rows of the hours after them.

A refresh's chunk is two halves that keep different parts of the machine busy: the hourly rows
(``hourly_sql``: one statement, run by the database) and the latency rollups built from them
(``latency``: mostly Python). Done one after the other, one core idles while the other works. Here
each chunk's hourly half commits with its hours marked pending (LatencyPendingHour), under the
hourly lock only, and hands the hours to a thread that refreshes their latency rollups, under the
latency lock only, in its own transaction and database connection, while the next chunk's hourly
half runs. The refresh returns when both are done, so its callers see what a one-thread refresh
gives them. A chunk whose latency half failed, or a killed process, leaves its hours marked, and
the next pending refresh (``deferral``) takes them.

Only where each chunk can commit on its own (not inside a transaction, not deferred) and on
PostgreSQL (SQLite would have the two threads wait for each other's writes);
``LATENCY_ALONGSIDE = False`` turns it off.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction

from ..models import LatencyPendingHour
from .common import rollup_lock
from .deferral import latency_rollups_deferring
from .latency import latency_hours_apply

# On PostgreSQL a long refresh builds its latency rollups in a second thread; False: in its own.
LATENCY_ALONGSIDE = True


def latency_alongside_possible() -> bool:
    return (
        LATENCY_ALONGSIDE
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not latency_rollups_deferring()
    )


def _latency_hours_refresh(hours: list[datetime]) -> None:
    """In the second thread: refresh the latency rollups of ``hours`` (committed and marked)."""
    try:
        with transaction.atomic():
            rollup_lock(hourly=False)
            # Unmarked before their rows are read: see ``deferral.latency_hours_mark``.
            LatencyPendingHour.objects.filter(hour__in=hours).delete()
            latency_hours_apply(hours)
    finally:
        connection.close()  # this thread's own connection


@contextmanager
def latency_rollups_alongside() -> Iterator[Callable[[list[datetime]], None]]:
    """Yield ``refresh(hours)``, to call after a transaction that wrote the UsageHourly rows of
    ``hours`` (under ``rollup_lock(latency=False)``) and marked them (``latency_hours_mark``)
    committed: their latency rollups are refreshed in a second thread, in order. Leaving the block
    waits for them; an error there is raised by the next ``refresh`` or on leaving."""
    futures: list[Future[None]] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latency-rollups")

    def refresh(hours: list[datetime]) -> None:
        for future in futures:
            if future.done():
                future.result()  # raises the second thread's error: stop writing more hours
        futures.append(pool.submit(_latency_hours_refresh, hours))

    try:
        yield refresh
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # the hours not refreshed stay marked
        raise
    pool.shutdown(wait=True)
    for future in futures:
        future.result()
