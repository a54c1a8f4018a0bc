"""Store parsed log rows: one pipeline for every source (Log Analytics pull, file import, demo).

``rows_store(table=..., rows=...)`` parses each row with the table's parser (``rows.py``), writes
the good ones in bulk, keeps the bad ones as ``RejectedRow`` with their reason, and refreshes the
APIM requests the batch touched (``usage.pipeline.requests_refresh``).

* Idempotent: rows are keyed (gateway and native rows by ``CorrelationId``, LLM-log chunks by
  ``(CorrelationId, RequestId, SequenceNumber)``); keys already stored (one query per batch) and
  keys repeated inside the batch are counted as duplicates and not written again; a key another
  writer stores meanwhile makes the batch fall back to row by row, where it counts as a duplicate.
  Rejected rows are keyed by a fingerprint of table + raw row, so they are kept once.
* Atomic per batch: rows are consumed in batches of ``batch_size``; each batch (its rows, its
  rejects and the refresh of the requests it touched) is one transaction, so a worker killed
  mid-batch leaves the whole batch or nothing, and a re-run completes it.
* One bad row never stops a batch: parse errors become rejections, and if the database still
  refuses a batch (a value the parser let through), the batch is retried row by row under
  savepoints and the refused rows are rejected with the database's message.
* Rows still waiting for their join partner are kept in ``UnmatchedRow`` by the same
  transaction (``unmatched.py``), for the ingestion status page.
* Bulk only: a batch costs a handful of queries, whatever its size. On PostgreSQL the new rows
  travel by COPY (``_copy_insert``); elsewhere by ``bulk_create``.
* PostgreSQL partitions the request table by month: before a gateway batch is written, the
  partitions of its months are made (``usage.partitions``; cached, so usually free). Uniqueness of
  ``correlation_id`` across months comes from a key table kept by triggers, which raises the same
  IntegrityError as a unique constraint: the duplicate handling above is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.db import DataError, IntegrityError, connection, models, transaction
from django.utils import timezone

from usage.models import GatewayRequest, LlmLogChunk, NativeLog, RejectedRow
from usage.partitions import KEY_TABLE, request_partitions_prepare, requests_partitioned
from usage.pipeline import requests_refresh

from .rows import PARSERS, GatewayRow, LlmChunkRow, NativeRow, Rejection
from .tables import GATEWAY, LLM_LOG, NATIVE
from .unmatched import unmatched_rows_update

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# On PostgreSQL new rows travel by COPY (see _copy_insert); False forces the portable path.
COPY_FAST_PATH = True
_IN_CHUNK = 900  # bound parameters per IN (...) query; SQLite's old limit is 999
_MODELS: dict[str, type[models.Model]] = {GATEWAY: GatewayRequest, NATIVE: NativeLog, LLM_LOG: LlmLogChunk}


@dataclass
class StoreResult:
    """What a ``rows_store`` call did. ``reasons`` counts rejections by kind of reason."""

    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    correlation_ids: set[str] = field(default_factory=set)  # APIM requests refreshed
    reasons: Counter[str] = field(default_factory=Counter)

    def merge(self, other: StoreResult) -> None:
        self.rows_read += other.rows_read
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.correlation_ids |= other.correlation_ids
        self.reasons.update(other.reasons)


def rows_store(
    *,
    table: str,
    rows: Iterable[Mapping[str, Any]],
    source: str = "log_analytics",
    batch_size: int = BATCH_SIZE,
) -> StoreResult:
    """Parse, store and join ``rows`` of Log Analytics ``table``; see the module docstring.

    ``table`` is ApiManagementGatewayLogs, ApiManagementGatewayLlmLog or AzureDiagnostics;
    ``source`` (``log_analytics``, ``file``, ``demo``...) only labels log messages.
    """
    if table not in PARSERS:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(PARSERS)}")
    result = StoreResult()
    iterator = iter(rows)
    while batch := list(islice(iterator, batch_size)):
        batch_result = _batch_store(table, batch)
        result.merge(batch_result)
        logger.debug(
            "%s %s: %d read, %d stored, %d duplicates, %d rejected",
            source,
            table,
            batch_result.rows_read,
            batch_result.stored,
            batch_result.duplicates,
            batch_result.rejected,
        )
    return result


def rejected_rows_store(*, source: str, rejections: Iterable[tuple[Rejection, Any]]) -> int:
    """Keep rows that cannot be stored as data, with their reasons; returns how many were given.

    ``source`` is the table (or the file format, for rows that never reached a table). A row
    already kept (same source and raw text) is not kept twice.
    """
    kept: dict[str, RejectedRow] = {}
    count = 0
    for rejection, raw_row in rejections:
        count += 1
        raw = _raw_text(raw_row)
        fingerprint = hashlib.sha256(f"{source}\n{raw}".encode()).hexdigest()
        kept.setdefault(
            fingerprint,
            RejectedRow(source=source[:64], reason=rejection.reason, raw=raw, fingerprint=fingerprint),
        )
    if kept:
        RejectedRow.objects.bulk_create(kept.values(), batch_size=500, ignore_conflicts=True)
    return count


def _raw_text(row: Any) -> str:
    if isinstance(row, str):
        return row.replace("\x00", "\\u0000")
    return json.dumps(row, default=str, sort_keys=True)  # ensure_ascii: no NUL reaches the DB


def _key(record: GatewayRow | NativeRow | LlmChunkRow) -> Any:
    if isinstance(record, LlmChunkRow):
        return (record.correlation_id, record.request_id, record.sequence_number)
    return record.correlation_id


def _in_chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _existing_keys(table: str, keys: list[Any]) -> set[Any]:
    found: set[Any] = set()
    if table == LLM_LOG:
        correlation_ids = sorted({key[0] for key in keys})
        for chunk in _in_chunks(correlation_ids):
            found.update(
                LlmLogChunk.objects.filter(correlation_id__in=chunk).values_list(
                    "correlation_id", "request_id", "sequence_number"
                )
            )
        return found
    if table == GATEWAY and requests_partitioned():
        # PostgreSQL, partitioned by month: one index (the key table's) instead of one per month.
        with connection.cursor() as cursor:
            for chunk in _in_chunks(keys):
                cursor.execute(
                    f"SELECT correlation_id FROM {KEY_TABLE} WHERE correlation_id = ANY(%s)", [chunk]
                )
                found.update(row[0] for row in cursor.fetchall())
        return found
    model = _MODELS[table]
    for chunk in _in_chunks(keys):
        found.update(model.objects.filter(correlation_id__in=chunk).values_list("correlation_id", flat=True))
    return found


_CHAR_LIMITS: dict[type[models.Model], list[tuple[str, int]]] = {}


def _instance(table: str, record: GatewayRow | NativeRow | LlmChunkRow) -> models.Model:
    model = _MODELS[table]
    limits = _CHAR_LIMITS.get(model)
    if limits is None:
        limits = [
            (f.attname, f.max_length)
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField) and f.max_length
        ]
        _CHAR_LIMITS[model] = limits
    values = dict(vars(record))
    for name, limit in limits:
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[:limit]
    return model(**values)


def _is_stored(table: str, record: Any) -> bool:
    if table == LLM_LOG:
        return LlmLogChunk.objects.filter(
            correlation_id=record.correlation_id,
            request_id=record.request_id,
            sequence_number=record.sequence_number,
        ).exists()
    return _MODELS[table].objects.filter(correlation_id=record.correlation_id).exists()


def _touched(table: str, records: list[Any]) -> set[str]:
    """APIM correlation ids whose request (or a join partner of it) changed."""
    if table == GATEWAY:
        return {record.correlation_id for record in records}
    touched: set[str] = set()
    if table == NATIVE:
        ids = sorted({record.correlation_id for record in records})
        for chunk in _in_chunks(ids):
            touched.update(
                GatewayRequest.objects.filter(apim_request_id__in=chunk).values_list(
                    "correlation_id", flat=True
                )
            )
    else:
        ids = sorted({record.correlation_id for record in records})
        for chunk in _in_chunks(ids):
            touched.update(
                GatewayRequest.objects.filter(correlation_id__in=chunk).values_list(
                    "correlation_id", flat=True
                )
            )
    return touched


def _batch_store(table: str, batch: list[Mapping[str, Any]]) -> StoreResult:
    parse = PARSERS[table]
    parsed: dict[Any, Any] = {}
    rejections: list[tuple[Rejection, Any]] = []
    in_batch_duplicates = 0
    for row in batch:
        record = parse(row)
        if isinstance(record, Rejection):
            rejections.append((record, row))
            continue
        key = _key(record)
        if key in parsed:
            in_batch_duplicates += 1
        else:
            parsed[key] = record

    mode = "copy" if COPY_FAST_PATH and connection.vendor == "postgresql" else "bulk"
    if table == GATEWAY and parsed:
        # PostgreSQL: the months of the batch get their partition first (no-op on SQLite; cached).
        request_partitions_prepare(times=(record.time for record in parsed.values()), now=timezone.now())
    try:
        with transaction.atomic():
            return _batch_write(table, parsed, list(rejections), len(batch), in_batch_duplicates, mode)
    except (DataError, IntegrityError) as error:
        logger.warning("%s batch refused (%s); retrying row by row", table, error)
        with transaction.atomic():
            return _batch_write(table, parsed, list(rejections), len(batch), in_batch_duplicates, "row")


def _batch_write(
    table: str,
    parsed: dict[Any, Any],
    rejections: list[tuple[Rejection, Any]],
    rows_read: int,
    in_batch_duplicates: int,
    mode: str,
) -> StoreResult:
    model = _MODELS[table]
    refused = 0
    if mode == "copy":
        new = _copy_insert(table, parsed)
    else:
        existing = _existing_keys(table, list(parsed))
        new = [record for key, record in parsed.items() if key not in existing]
        if mode == "bulk":
            instances = [_instance(table, record) for record in new]
            model.objects.bulk_create(
                instances, batch_size=500
            )  # a key stored meanwhile fails the batch -> row by row
        else:
            written = []
            for record in new:
                try:
                    with transaction.atomic():
                        _instance(table, record).save(force_insert=True)
                    written.append(record)
                except (DataError, IntegrityError) as error:
                    if isinstance(error, IntegrityError) and _is_stored(table, record):
                        continue  # another writer stored it meanwhile: a duplicate
                    message = (
                        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    )
                    rejections.append((Rejection("refused by the database", message), vars(record)))
                    refused += 1
            new = written
    already_stored = len(parsed) - len(new) - refused

    result = StoreResult(
        rows_read=rows_read,
        stored=len(new),
        duplicates=in_batch_duplicates + already_stored,
        rejected=rejected_rows_store(source=table, rejections=rejections),
        correlation_ids=_touched(table, new),
        reasons=Counter(rejection.kind for rejection, _ in rejections),
    )
    # Flags do not read native rows (see requests_refresh): a late native partner skips them.
    requests_refresh(correlation_ids=result.correlation_ids, flags=table != NATIVE)
    # Last, so its lock is held only until the batch commits (see unmatched.py).
    unmatched_rows_update(table=table, records=new)
    return result


# --- PostgreSQL fast path: COPY the new rows straight into the table --------------------------


def _copy_insert(table: str, parsed: dict[Any, Any]) -> list[Any]:
    """Insert the records that are not stored yet; returns them. PostgreSQL only.

    Same result as the portable path (existing-key query + bulk_create), but the rows travel by
    COPY, several times faster for rows carrying request/response bodies. Should another writer
    insert one of the keys between the query and the COPY, the COPY fails on the unique key and
    the batch is redone row by row, so the outcome is the same.
    """
    existing = _existing_keys(table, list(parsed))
    new = [record for key, record in parsed.items() if key not in existing]
    if not new:
        return []
    model = _MODELS[table]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    target = connection.ops.quote_name(model._meta.db_table)
    plan = _copy_plan(model, type(new[0]))
    now = timezone.now()
    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg -> django.db errors
        with cursor.cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            for record in new:
                values = vars(record)
                row = []
                for name, default, limit, is_json in plan:
                    value = values[name] if default is _FROM_RECORD else (now if default is _NOW else default)
                    if limit and isinstance(value, str) and len(value) > limit:
                        value = value[:limit]
                    elif is_json and default is _FROM_RECORD:
                        value = json.dumps(value)
                    row.append(value)
                copy.write_row(row)
    return new


_FROM_RECORD = object()
_NOW = object()


def _copy_plan(model: type[models.Model], record_type: type) -> list[tuple[str, Any, int, bool]]:
    """Per column: (record attribute, default, max length, is JSON), as the model would save it."""
    record_fields = set(record_type.__dataclass_fields__)
    plan = []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        is_json = isinstance(f, models.JSONField)
        if f.attname in record_fields:
            default: Any = _FROM_RECORD
        elif getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            default = _NOW
        else:
            default = f.get_default()
            if is_json:
                default = json.dumps(default)
        limit = f.max_length if isinstance(f, models.CharField) and f.max_length else 0
        plan.append((f.attname, default, limit, is_json))
    return plan
