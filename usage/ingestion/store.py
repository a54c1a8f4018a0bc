"""Store parsed log rows: one pipeline for every source (Log Analytics pull, file import, demo).

``rows_store(table=..., rows=...)`` parses each row with the table's parser (``rows.py``), writes
the good ones in bulk, keeps the bad ones as ``RejectedRow`` with their reason, and refreshes the
APIM requests the batch touched: new gateway rows are written with their usage and cost, then
flagged and rolled up (``usage.ingestion.pipeline.requests_write``); a partner row refreshes its stored
request (``usage.ingestion.pipeline.requests_refresh``).

* Idempotent: rows are keyed (gateway and native rows by ``CorrelationId``, LLM-log chunks by
  ``(CorrelationId, RequestId, SequenceNumber)``). A key already stored (one query per batch) or
  repeated inside the batch is a duplicate when its content is one already seen, and a conflict
  otherwise: kept as evidence, and the stored row becomes the merge of the versions, whatever
  their order (``conflicts.py``). A key another writer stores meanwhile makes the batch fall back
  to row by row, where it counts as a duplicate. Rejected rows are keyed by a fingerprint of
  table + raw row, so they are kept once.
* Records of categories the portal does not read (AzureDiagnostics rows of other categories or
  resource providers) are skipped and counted per category (``skipped.py``), not rejected.
* Atomic per batch: rows are consumed in batches of ``batch_size``; each batch (its rows, its
  rejects and the refresh of the requests it touched) is one transaction, so a worker killed
  mid-batch leaves the whole batch or nothing, and a re-run completes it.
* One bad row never stops a batch, and no error of a row escapes it: parse errors become
  rejections (unusable keys) or empty fields with a note (``ingest_notes``). If the batch still
  fails (a value the parser let through), its records are cleaned of what no database stores
  (``record_sanitize``: lone surrogates, NaN in JSON) and it is tried again; then row by row under
  savepoints, the refused rows rejected with the database's message; then each record as a batch
  of its own, a record that still fails rejected with its error. Only a lost database connection
  ends the call.
* Long imports (``import_logs``, the Log Analytics pull) run inside
  ``usage.rollups.deferral.latency_rollups_deferred``: a batch keeps UsageHourly, UsageDaily and the
  tokens-per-minute rollup current and marks its hours for the latency rollups, which are
  refreshed between batches once a minute and when the import ends (``latency_rollups_tick``).
* Rows still waiting for their join partner are kept in ``UnmatchedRow`` by the same
  transaction (``unmatched.py``), for the ingestion status page.
* Bulk only: a batch costs a handful of queries, whatever its size. On PostgreSQL the new rows
  travel by COPY (``usage.db.copy``); elsewhere by ``bulk_create``. How each way writes is in
  ``store_writes.py``; which one a batch takes is decided here.
* PostgreSQL partitions the request table by month: before a gateway batch is written, the
  partitions of its months are made (``usage.db.partitions``; cached, so usually free). Uniqueness of
  ``correlation_id`` across months comes from a key table kept by triggers, which raises the same
  IntegrityError as a unique constraint: the duplicate handling above is unchanged.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from usage.db.copy import records_copy
from usage.db.partitions import request_partitions_prepare
from usage.ingestion.pipeline import requests_refresh, requests_write
from usage.models import GatewayRequest, RejectedRow
from usage.rollups.deferral import latency_rollups_tick

from .cells import Rejection, has_surrogate
from .conflicts import MODELS as _MODELS
from .conflicts import content_hash, record_key, record_normalise, resolution_write, versions_resolve
from .credentials import raw_text_scrub
from .refresh import merged_rows_refresh, requests_touched
from .rows import PARSERS, GatewayRow
from .sanitize import record_sanitize
from .skipped import native_row_skipped
from .store_writes import _copy_requests, _instance, _saved_one_by_one
from .tables import GATEWAY, NATIVE
from .unmatched import unmatched_rows_update

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# On PostgreSQL new rows travel by COPY (usage.db.copy); False forces the portable path.
COPY_FAST_PATH = True


@dataclass
class StoreResult:
    """What a ``rows_store`` call did. ``reasons`` counts rejections by kind of reason.

    Every row read is counted once: ``rows_read == stored + duplicates + conflicts + skipped +
    rejected`` (``accounted``). ``skipped_categories`` counts skipped rows per category.
    """

    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    skipped: int = 0
    rejected: int = 0
    correlation_ids: set[str] = field(default_factory=set)  # APIM requests refreshed
    reasons: Counter[str] = field(default_factory=Counter)
    skipped_categories: Counter[str] = field(default_factory=Counter)

    @property
    def accounted(self) -> int:
        return self.stored + self.duplicates + self.conflicts + self.skipped + self.rejected

    def merge(self, other: StoreResult) -> None:
        self.rows_read += other.rows_read
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        self.skipped += other.skipped
        self.rejected += other.rejected
        self.correlation_ids |= other.correlation_ids
        self.reasons.update(other.reasons)
        self.skipped_categories.update(other.skipped_categories)


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
    with _collections_rarer():
        while batch := list(islice(iterator, batch_size)):
            batch_result = _batch_store(table, batch)
            result.merge(batch_result)
            latency_rollups_tick()  # within latency_rollups_deferred: refresh every minute
            logger.debug(
                "%s %s: %d read, %d stored, %d duplicates, %d conflicts, %d skipped, %d rejected",
                source,
                table,
                batch_result.rows_read,
                batch_result.stored,
                batch_result.duplicates,
                batch_result.conflicts,
                batch_result.skipped,
                batch_result.rejected,
            )
    return result


@contextmanager
def _collections_rarer() -> Iterator[None]:
    """Run Python's cycle collector less often while batches are stored.

    A batch keeps many containers alive while it is stored (parsed rows, decoded bodies, model
    instances), so at the default thresholds the collector keeps scanning them, with full
    collections of the whole heap, a real share of a batch's time. Nothing is left uncollected, only
    later; the thresholds are restored when the rows are stored.
    """
    before = gc.get_threshold()
    gc.set_threshold(10_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


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
        if fingerprint not in kept:
            # The fingerprint is of the row as it came (as migration 0023 keeps it for old rows);
            # the text kept has its credential headers redacted.
            kept[fingerprint] = RejectedRow(
                source=source[:64], reason=rejection.reason, raw=raw_text_scrub(raw), fingerprint=fingerprint
            )
    if kept:
        RejectedRow.objects.bulk_create(kept.values(), batch_size=500, ignore_conflicts=True)
    return count


def _raw_text(row: Any) -> str:
    if isinstance(row, str):
        if has_surrogate(row):
            row = row.encode("utf-8", "backslashreplace").decode("utf-8")
        return row.replace("\x00", "\\u0000")
    try:
        # ensure_ascii: no NUL nor lone surrogate reaches the DB
        return json.dumps(row, default=str, sort_keys=True)
    except TypeError:  # keys of several types cannot be sorted
        return json.dumps(row, default=str)
    except (ValueError, RecursionError) as error:  # an int too long to print, a document too deep
        return f"<not printable: {type(error).__name__}: {str(error)[:200]}>"


def _batch_store(table: str, batch: list[Mapping[str, Any]]) -> StoreResult:
    parse = PARSERS[table]
    versions: dict[Any, dict[str, Any]] = {}  # key -> {content hash: record}
    rejections: list[tuple[Rejection, Any]] = []
    skipped: Counter[str] = Counter()
    in_batch_duplicates = 0
    for row in batch:
        if table == NATIVE and (skip := native_row_skipped(row)) is not None:
            skipped[skip.category] += 1
            continue
        record = parse(row)
        if isinstance(record, Rejection):
            rejections.append((record, row))
            continue
        record_normalise(table=table, record=record)
        group = versions.setdefault(record_key(record), {})
        digest = content_hash(table=table, record=record)
        if digest in group:
            in_batch_duplicates += 1
        else:
            group[digest] = record

    mode = "copy" if COPY_FAST_PATH and connection.vendor == "postgresql" else "bulk"
    if table == GATEWAY and versions:
        # PostgreSQL: the months of the batch get their partition first (no-op on SQLite; cached).
        times = (record.time for group in versions.values() for record in group.values())
        request_partitions_prepare(times=times, now=timezone.now())
    counts = StoreResult(
        rows_read=len(batch),
        duplicates=in_batch_duplicates,
        skipped=skipped.total(),
        skipped_categories=skipped,
    )
    # Each attempt is one transaction; a failed one leaves nothing behind (see the module docstring).
    attempts = [mode, "row"]
    for attempt, attempt_mode in enumerate(attempts):
        try:
            with transaction.atomic():
                return _batch_write(table, versions, list(rejections), counts, attempt_mode)
        except (OperationalError, InterfaceError):
            raise  # the database is gone, not a row's fault
        except Exception as error:
            logger.warning("%s batch failed in %s mode (%r)", table, attempt_mode, error)
            records = [record for group in versions.values() for record in group.values()]
            if attempt == 0 and sum(record_sanitize(record) for record in records):
                attempts.insert(1, mode)  # values no database stores were emptied: once more
    return _batch_store_singly(table, versions, rejections, counts)


def _batch_store_singly(
    table: str,
    versions: dict[Any, dict[str, Any]],
    rejections: list[tuple[Rejection, Any]],
    counts: StoreResult,
) -> StoreResult:
    """The last resort of a batch that failed as a whole and row by row: the versions of each key
    as a batch of their own; a key whose versions still fail is rejected with its error."""
    result = StoreResult(
        rows_read=counts.rows_read,
        duplicates=counts.duplicates,
        skipped=counts.skipped,
        skipped_categories=Counter(counts.skipped_categories),
    )
    failed: list[tuple[Rejection, Any]] = []
    for key, group in versions.items():
        try:
            with transaction.atomic():
                result.merge(_batch_write(table, {key: group}, [], StoreResult(), "row"))
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:
            logger.warning("%s row %s cannot be stored (%r)", table, key, error)
            message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            rejection = Rejection("cannot be stored", f"{type(error).__name__}: {message}")
            failed += [(rejection, vars(record)) for record in group.values()]
    rejections = rejections + failed
    with transaction.atomic():
        result.rejected += rejected_rows_store(source=table, rejections=rejections)
        result.reasons.update(rejection.kind for rejection, _ in rejections)
    return result


def _batch_write(
    table: str,
    versions: dict[Any, dict[str, Any]],
    rejections: list[tuple[Rejection, Any]],
    counts: StoreResult,
    mode: str,
) -> StoreResult:
    resolution = versions_resolve(table=table, versions=versions)
    if table == GATEWAY:
        new, refused = _requests_write(resolution.new, rejections, mode)
    else:
        new, refused = _partners_write(table, resolution.new, rejections, mode)
    merged = resolution_write(table=table, resolution=resolution)
    stored_meanwhile = len(resolution.new) - len(new) - refused  # by another writer (row by row)
    if stored_meanwhile:
        # Compared with what the other writer stored, as if it had been stored before the batch.
        written = {record_key(record) for record in new}
        late = {k: {r.content_hash: r} for k, r in resolution.new.items() if k not in written}
        again = versions_resolve(table=table, versions=late)
        merged += resolution_write(table=table, resolution=again)
        resolution.conflicts += again.conflicts
        stored_meanwhile -= again.conflicts

    result = StoreResult(
        rows_read=counts.rows_read,
        stored=len(new),
        duplicates=counts.duplicates + resolution.duplicates + stored_meanwhile,
        conflicts=resolution.conflicts,
        skipped=counts.skipped,
        skipped_categories=Counter(counts.skipped_categories),
        rejected=rejected_rows_store(source=table, rejections=rejections),
        correlation_ids=requests_touched(table=table, records=new),
        reasons=Counter(rejection.kind for rejection, _ in rejections),
    )
    if merged:
        result.correlation_ids |= merged_rows_refresh(table=table, merged=merged)
    if table != GATEWAY:
        # Flags do not read native rows (see requests_refresh): a late native partner skips them.
        requests_refresh(correlation_ids=result.correlation_ids, flags=table != NATIVE)
    # Last, so its lock is held only until the batch commits (see unmatched.py).
    unmatched_rows_update(table=table, records=new)
    return result


def _requests_write(
    new: dict[Any, Any], rejections: list[tuple[Rejection, Any]], mode: str
) -> tuple[list[GatewayRow], int]:
    """New gateway rows, written with their usage, cost and flags (``requests_write``).

    Returns the records written and the number the database refused (added to ``rejections``).
    """
    refused = 0

    def write_rows(rows: list[GatewayRequest]) -> list[GatewayRequest]:
        nonlocal refused
        if mode == "copy":
            _copy_requests(rows)
            return rows
        if mode == "bulk":
            GatewayRequest.objects.bulk_create(rows, batch_size=500)  # a key stored meanwhile -> row by row
            return rows
        saved, chunk_refused = _saved_one_by_one(
            GATEWAY, [(row, new[row.correlation_id]) for row in rows], rejections
        )
        refused += chunk_refused
        return [row for row, _ in saved]

    rows = (_instance(GATEWAY, record) for record in new.values())
    written = requests_write(rows=rows, write=write_rows)
    return [new[correlation_id] for correlation_id in written], refused


def _partners_write(
    table: str, new: dict[Any, Any], rejections: list[tuple[Rejection, Any]], mode: str
) -> tuple[list[Any], int]:
    """New native rows or LLM-log chunks; returns the records written and the number refused."""
    records = list(new.values())
    if mode == "copy":
        return records_copy(model=_MODELS[table], records=records), 0
    if mode == "bulk":
        instances = [_instance(table, record) for record in records]
        _MODELS[table].objects.bulk_create(instances, batch_size=500)  # a key stored meanwhile -> row by row
        return records, 0
    saved, refused = _saved_one_by_one(table, [(_instance(table, r), r) for r in records], rejections)
    return [record for _, record in saved], refused
