"""Keep ``UnmatchedRow``: the stored log rows still waiting for their join partner.

The ingestion status page shows, per table, how many recent rows have no partner yet. Counting
that with an anti-join reads every row of the window (it grows with the request volume), so the
store keeps the waiting rows in a small table instead, in the transaction of each batch:

* a new row that finds no partner gets an entry (gateway rows without an ``apim-request-id`` have
  no partner to wait for and get none);
* a new row deletes the entries of the rows it is the partner of (a late native row ends its
  request's wait, a late gateway row ends its native row's and its LLM-log chunks' waits).

Only rows the batch actually stored count as new, so re-storing a window changes nothing. On
PostgreSQL the step runs under a transaction-level advisory lock: two batches of partner tables
committed concurrently would otherwise each miss the other's rows. The lock is taken at the end
of the batch and held until its commit, so the second batch sees the first one's rows.

What the matching is (the same as ``selectors.ingestion_unmatched_counts``):

* ApiManagementGatewayLogs: a request with an ``apim-request-id`` and no native row of that
  ``CorrelationId``;
* AzureDiagnostics: a native row whose ``CorrelationId`` no request logged as ``apim-request-id``;
* ApiManagementGatewayLlmLog: a chunk with no gateway row of its ``CorrelationId``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection, models
from django.db.models import Exists, OuterRef

from usage.db.lookups import any_chunks
from usage.db.partitions import KEY_TABLE, requests_partitioned
from usage.models import GatewayRequest, NativeLog, UnmatchedRow

from .tables import GATEWAY, LLM_LOG, NATIVE

_ADVISORY_LOCK_KEY = 0x5A6E_0A7C  # arbitrary constant: "unmatched rows"


def unmatched_row_key(*, table: str, record: Any) -> str:
    """The entry key of a stored row: its ``CorrelationId``, or an LLM-log chunk's JSON key."""
    if table == LLM_LOG:
        return json.dumps([record.correlation_id, record.request_id, record.sequence_number])
    return record.correlation_id


def unmatched_rows_update(*, table: str, records: Sequence[Any]) -> None:
    """Record which of ``records`` (rows of ``table`` just stored) wait for a partner, and end
    the wait of the rows they are the partner of. Call inside the batch's transaction."""
    if not records:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
    if table == GATEWAY:
        waiting = [r for r in records if r.apim_request_id]
        found = _native_ids({r.apim_request_id for r in waiting})
        entries = [(r, r.apim_request_id) for r in waiting if r.apim_request_id not in found]
        _entries_end(NATIVE, {r.apim_request_id for r in waiting})
        _entries_end(LLM_LOG, {r.correlation_id for r in records})
    elif table == NATIVE:
        ids = {r.correlation_id for r in records}
        found = _gateway_request_ids(ids)
        entries = [(r, r.correlation_id) for r in records if r.correlation_id not in found]
        _entries_end(GATEWAY, ids)
    elif table == LLM_LOG:
        found = _gateway_correlation_ids({r.correlation_id for r in records})
        entries = [(r, r.correlation_id) for r in records if r.correlation_id not in found]
    else:
        raise ValueError(f"unknown table {table!r}")
    _entries_insert(
        [
            (unmatched_row_key(table=table, record=record), partner, record.time)
            for record, partner in entries
        ],
        table=table,
    )


@contextmanager
def _array_cursor() -> Iterator[psycopg.Cursor]:
    """A server-side-binding cursor on Django's connection: arrays travel as binary parameters
    (one statement per batch, where the ORM sends a statement of quoted literals per 500 rows or
    900 keys)."""
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        with psycopg.Cursor(wrapper.cursor.connection) as cursor:
            yield cursor


def _entries_insert(entries: list[tuple[str, str, datetime]], *, table: str) -> None:
    """Insert (row key, partner key, time) entries of ``table``; one already kept stays."""
    if not entries:
        return
    if connection.vendor != "postgresql":
        rows = [UnmatchedRow(table=table, row_key=k, partner_key=p, time=t) for k, p, t in entries]
        UnmatchedRow.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        return
    # PostgreSQL: the values travel as arrays, no model instance needed.
    with _array_cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {UnmatchedRow._meta.db_table} ("table", row_key, partner_key, "time") '
            "SELECT * FROM unnest(%b::varchar[], %b::text[], %b::varchar[], %b::timestamptz[]) "
            'ON CONFLICT ("table", row_key) DO NOTHING',
            [
                [table] * len(entries),
                [row_key for row_key, _, _ in entries],
                [partner_key for _, partner_key, _ in entries],
                [time for _, _, time in entries],
            ],
        )


def _chunks(values: set[str]) -> Iterator[list[str]]:
    yield from any_chunks(sorted(values))


def _entries_end(table: str, partner_keys: set[str]) -> None:
    if not partner_keys:
        return
    if connection.vendor == "postgresql":
        with _array_cursor() as cursor:
            cursor.execute(
                f'DELETE FROM {UnmatchedRow._meta.db_table} WHERE "table" = %s AND partner_key = ANY(%b::varchar[])',
                [table, sorted(partner_keys)],
            )
        return
    for chunk in _chunks(partner_keys):
        UnmatchedRow.objects.filter(table=table, partner_key__in=chunk).delete()


def _native_ids(ids: set[str]) -> set[str]:
    return _found(NativeLog, "correlation_id", ids)


def _gateway_request_ids(ids: set[str]) -> set[str]:
    return _found(GatewayRequest, "apim_request_id", ids)


def _found(model: type[models.Model], field: str, ids: set[str]) -> set[str]:
    """The values of ``ids`` stored in ``model.field``: one array query on PostgreSQL."""
    if not ids:
        return set()
    if connection.vendor == "postgresql":
        table, column = model._meta.db_table, model._meta.get_field(field).column
        with _array_cursor() as cursor:
            cursor.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%b::varchar[])", [sorted(ids)])
            return {row[0] for row in cursor.fetchall()}
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(model.objects.filter(**{f"{field}__in": chunk}).values_list(field, flat=True))
    return found


def _gateway_correlation_ids(ids: set[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        if requests_partitioned():
            # One index (the key table's) instead of one per monthly partition.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT correlation_id FROM {KEY_TABLE} WHERE correlation_id = ANY(%s)", [chunk]
                )
                found.update(row[0] for row in cursor.fetchall())
        else:
            found.update(
                GatewayRequest.objects.filter(correlation_id__any=chunk).values_list(
                    "correlation_id", flat=True
                )
            )
    return found


def unmatched_rows_purge(*, before: datetime) -> int:
    """Forget the entries of the rows request retention removed from before ``before``; returns how many.

    Retention removes the requests before the cutoff (except held ones) and the native rows and
    LLM-log chunks before it that have no request: every waiting native row and chunk before the
    cutoff, and the waiting requests that are no longer stored.
    """
    old = UnmatchedRow.objects.filter(time__lt=before)
    deleted = old.filter(table__in=[NATIVE, LLM_LOG]).delete()[0]
    stored = GatewayRequest.objects.filter(correlation_id=OuterRef("row_key"))
    return deleted + old.filter(table=GATEWAY).exclude(Exists(stored)).delete()[0]
