"""Monthly partitions of the request table (``usage_gatewayrequest``), PostgreSQL only.

On PostgreSQL the table is ``PARTITION BY RANGE (time)`` (migration 0011): one partition per UTC
month, named ``usage_gatewayrequest_p2026_11``, plus a DEFAULT partition that catches rows of a
month with no partition yet, so an insert never fails for want of one. Retention
(``usage.retention``) then drops a whole month instead of deleting its rows.

* ``request_partitions_ensure(months=...)`` creates the partitions of those months. Ingestion calls
  it before writing a batch (for the months the batch touches), the beat task every day for the
  current month and the next ``MONTHS_AHEAD``. Known partitions are cached per process, so the
  usual call costs nothing. If rows of the month already sit in the DEFAULT partition (PostgreSQL
  refuses to create a partition whose range has rows there), they are moved in the same
  transaction: detach default, create the month, move its rows, attach default again.
* ``request_partitions_list()`` says which partitions exist.

``correlation_id`` stays unique across partitions through a small non-partitioned key table
(``usage_gatewayrequest_key``) kept by triggers on the partitioned table: see migration 0011 and
docs/performance.md. They do not fire for statements naming a partition directly, which the
maintenance here relies on to move rows with their keys; do not write to partitions by hand.

On SQLite (the embedded default) the table is a plain table and every function here is a no-op.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.backends.utils import CursorWrapper

from aoai_portal.months import month_add, month_bounds, month_floor

logger = logging.getLogger(__name__)

TABLE = "usage_gatewayrequest"
KEY_TABLE = "usage_gatewayrequest_key"
DEFAULT_PARTITION = f"{TABLE}_default"
# Partitions made ahead of time by the daily beat task (current month + this many).
MONTHS_AHEAD = 2
# Creating a partition takes an ACCESS EXCLUSIVE lock on the table; waiting behind a long reader
# would queue every other reader behind us, so give up soon (rows then wait in DEFAULT).
LOCK_TIMEOUT = "5s"

_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})_(\d{{2}})$")
# Per process and database: months whose partition is known to exist (committed).
_known: dict[str, set[date]] = {}
_partitioned: dict[str, bool] = {}


@dataclass(frozen=True)
class RequestPartition:
    name: str
    month: date | None  # None: the DEFAULT partition


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def _db_key(using: str) -> str:
    settings = connections[using].settings_dict
    return f"{settings.get('HOST')}:{settings.get('PORT')}/{settings['NAME']}"


def requests_partitioned(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when the request table is partitioned (PostgreSQL after migration 0011)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    key = _db_key(using)
    if key not in _partitioned:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))",
                [TABLE],
            )
            found = bool(cursor.fetchone()[0])
        if not found:
            return False  # not cached: the migration may still run in this process
        _partitioned[key] = True
    return _partitioned[key]


def request_partitions_list(*, using: str = DEFAULT_DB_ALIAS) -> list[RequestPartition]:
    """The partitions of the request table, months in order, DEFAULT last ([] on SQLite)."""
    if not requests_partitioned(using=using):
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    partitions = []
    for name in names:
        match = _NAME.match(name)
        month = date(int(match[1]), int(match[2]), 1) if match else None
        partitions.append(RequestPartition(name=name, month=month))
    return sorted(partitions, key=lambda p: (p.month is None, p.month or date.min, p.name))


def request_partitions_ensure(
    *, months: Iterable[date | datetime], using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Create the partitions of ``months`` that do not exist yet; returns the names created.

    Rows of such a month already in the DEFAULT partition are moved into the new one. Cheap when
    nothing is missing: known months are cached per process (only once committed, so a creation
    rolled back with its transaction is not believed).
    """
    if not requests_partitioned(using=using):
        return []
    key = _db_key(using)
    known = _known.setdefault(key, set())
    wanted = {month_floor(m) for m in months} - known
    if not wanted:
        return []
    existing = {p.month for p in request_partitions_list(using=using) if p.month is not None}
    _remember(using, key, existing)
    created = []
    for month in sorted(wanted - existing):
        if _partition_create(month, using=using):
            created.append(partition_name(month))
    _remember(using, key, wanted)
    return created


def request_partitions_ahead(*, now: datetime, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Create the partitions of the current month and the next ``MONTHS_AHEAD`` (beat task)."""
    current = month_floor(now)
    return request_partitions_ensure(
        months=[month_add(current, n) for n in range(MONTHS_AHEAD + 1)], using=using
    )


def request_partitions_prepare(
    *, times: Iterable[datetime], now: datetime, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Ingestion, before writing a batch: make sure the months of ``times`` have their partition.

    Months past the ones made ahead are left to DEFAULT (a wrong far-future timestamp must not
    create partitions); the daily task creates them when they come near, moving their rows. If
    the table lock cannot be had soon, the rows go to DEFAULT too and ingestion goes on.
    """
    if not requests_partitioned(using=using):
        return []
    last = month_add(month_floor(now), MONTHS_AHEAD)
    # A time the parser let through but the database will refuse (None) is not a month.
    months = {m for m in (month_floor(t) for t in times if isinstance(t, datetime)) if m <= last}
    try:
        return request_partitions_ensure(months=months, using=using)
    except OperationalError as error:  # lock_timeout: readers held the table
        logger.warning("request partitions not created now, rows wait in the default partition: %s", error)
        return []


def request_partition_drop(
    *, month: date, keep_ids: Collection[int] = (), using: str = DEFAULT_DB_ALIAS
) -> None:
    """Detach and drop ``month``'s partition; the caller has removed what references its rows.

    Rows whose id is in ``keep_ids`` survive: once the month is detached no partition covers it,
    so they can move to DEFAULT, inserted there directly so that they keep their keys.
    """
    name = partition_name(month)
    connection = connections[using]
    qn = connection.ops.quote_name
    with request_table_locked(using) as cursor:
        cursor.execute(f"ALTER TABLE {qn(TABLE)} DETACH PARTITION {qn(name)}")
        if keep_ids:
            columns = _columns(cursor)
            cursor.execute(
                f"INSERT INTO {qn(DEFAULT_PARTITION)} ({columns}) SELECT {columns} FROM {qn(name)} "
                "WHERE id = ANY(%s)",
                [list(keep_ids)],
            )
        cursor.execute(f"DROP TABLE {qn(name)}")
    _known.get(_db_key(using), set()).discard(month)


def requests_partition_forget() -> None:
    """Forget what is cached (tests, the migration's reversal, partitions dropped elsewhere)."""
    _known.clear()
    _partitioned.clear()


def _remember(using: str, key: str, months: set[date]) -> None:
    # Inside a transaction a partition is real only once it commits.
    transaction.on_commit(lambda: _known.setdefault(key, set()).update(months), using=using)


@contextmanager
def request_table_locked(using: str = DEFAULT_DB_ALIAS) -> Iterator[CursorWrapper]:
    """A transaction holding the table's ACCESS EXCLUSIVE lock, waiting at most ``LOCK_TIMEOUT``."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        previous = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(TABLE)} IN ACCESS EXCLUSIVE MODE")
        yield cursor
        # Back to the caller's timeout (a savepoint keeps a SET LOCAL until the outer commit).
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def _columns(cursor: CursorWrapper) -> str:
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        [TABLE],
    )
    columns: str = cursor.fetchone()[0]
    return columns


def _literal(moment: datetime) -> str:
    return "'" + moment.isoformat(sep=" ") + "'"


def _partition_create(month: date, *, using: str) -> bool:
    """Create ``month``'s partition, moving its rows out of DEFAULT first; False if it existed."""
    name = partition_name(month)
    start, end = month_bounds(month)
    connection = connections[using]
    qn = connection.ops.quote_name
    bounds = f"FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
    with request_table_locked(using) as cursor:  # also serialises two workers creating the same month
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        cursor.execute(
            f'SELECT EXISTS (SELECT 1 FROM {qn(DEFAULT_PARTITION)} WHERE "time" >= %s AND "time" < %s)',
            [start, end],
        )
        if not cursor.fetchone()[0]:
            cursor.execute(f"CREATE TABLE {qn(name)} PARTITION OF {qn(TABLE)} {bounds}")
            logger.info("created request partition %s", name)
            return True
        # The default holds rows of this month: detach it, create the month, move the rows, attach
        # it again. The rows keep their keys: DML naming partitions directly (and a detached
        # default) fires none of the key triggers, which sit on the partitioned table.
        columns = _columns(cursor)
        cursor.execute(f"ALTER TABLE {qn(TABLE)} DETACH PARTITION {qn(DEFAULT_PARTITION)}")
        cursor.execute(f"CREATE TABLE {qn(name)} PARTITION OF {qn(TABLE)} {bounds}")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {qn(DEFAULT_PARTITION)} "
            f'WHERE "time" >= %s AND "time" < %s RETURNING {columns}) '
            f"INSERT INTO {qn(name)} ({columns}) SELECT {columns} FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(f"ALTER TABLE {qn(TABLE)} ATTACH PARTITION {qn(DEFAULT_PARTITION)} DEFAULT")
        logger.info("created request partition %s, moved %d rows out of the default partition", name, moved)
    return True
