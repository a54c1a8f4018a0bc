"""Same key, other content: conflicts, kept as evidence and merged field by field.

A log row is keyed (gateway and native rows by ``CorrelationId``, LLM-log chunks by
``(CorrelationId, RequestId, SequenceNumber)``). A row read again with a key already stored (or
already read in the same batch) is

* a **duplicate** when its content is one already seen for that key: the stored row's content, or
  a version kept as evidence. Nothing changes, so re-importing stays a no-op;
* a **conflict** otherwise: its version is kept as ``IngestionConflict`` evidence (the version the
  stored row had before, too, at the first conflict of a key) and the stored row becomes the merge
  of every version read (``records_merge``). A key read in *n* different versions counts *n - 1*
  conflicts, whatever the order they came in.

Content is compared by ``content_hash`` (a digest of the parsed record, strings cut to their
column's length as stored), kept in a column of each log table: the usual re-import costs one
query per batch and reads no stored row. Only when the hashes differ is the stored row read and
compared field by field (a hash can differ for equal content: headers read from another export
format in another key order; rows stored before the column existed have no hash).

The merge is per field, and does not depend on the order the versions come in (it is
commutative, associative and idempotent), so A then B, B then A, in one batch or in two, gives
the same stored row:

* a non-empty value wins over an empty one (None, "", {}, []);
* objects (headers, native ``properties``) are merged key by key with these same rules;
* numbers: the larger (token counts, sizes, durations, status codes);
* texts: the longer, then the greater in code-point order;
* times: the earlier (when the call was first logged);
* booleans: true over false;
* values of different kinds (rare: a text here, a number there): a fixed order of kinds.

Rows whose bodies retention already removed keep them removed. When a stored row changes, what
depends on it is refreshed by the caller (usage, cost, flags, rollups; ``store.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from django.db import DataError, connection, models, transaction

from usage.db.json import json_dumps
from usage.db.lookups import any_chunks
from usage.db.partitions import KEY_TABLE, requests_partitioned
from usage.models import GatewayRequest, IngestionConflict, LlmLogChunk, NativeLog

from .tables import GATEWAY, LLM_LOG, NATIVE
from .unmatched import unmatched_row_key

logger = logging.getLogger(__name__)
MODELS: dict[str, type[models.Model]] = {GATEWAY: GatewayRequest, NATIVE: NativeLog, LLM_LOG: LlmLogChunk}
# Prompt and completion text: evidence keeps only its length and digest (it is under retention).
_TEXT_SUMMARISED = {"request_body", "response_body", "request_messages", "response_messages"}
# Kept as stored when retention removed the bodies (``bodies_purged_at``).
_PURGED = ("request_body", "response_body")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record_key(record: Any) -> Any:
    if hasattr(record, "sequence_number"):
        return (record.correlation_id, record.request_id, record.sequence_number)
    return record.correlation_id


# --- normalising, hashing, merging ------------------------------------------------------------

# Fields a parser derives from others (the caller found in the headers): not content of their
# own, so not hashed, compared or merged; usage.identity derives them again from what is stored.
DERIVED_FIELDS = frozenset({"caller_object_id", "caller_source"})

# Per (model, record type): the record's field names, and (name, length) of its cut strings.
_PLANS: dict[tuple[type, type], tuple[tuple[str, ...], tuple[tuple[str, int], ...]]] = {}


def _plan(table: str, record_type: type) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
    plan = _PLANS.get((MODELS[table], record_type))
    if plan is None:
        names = tuple(f.name for f in fields(record_type) if f.name not in DERIVED_FIELDS)
        limits = []
        for name in names:
            try:
                column = MODELS[table]._meta.get_field(name)
            except Exception:  # a record field with no column: not cut
                continue
            if isinstance(column, models.CharField) and column.max_length:
                limits.append((name, column.max_length))
        plan = _PLANS[(MODELS[table], record_type)] = (names, tuple(limits))
    return plan


def record_normalise(*, table: str, record: Any) -> Any:
    """Cut ``record``'s strings to their column's length, as they will be stored (in place)."""
    for name, limit in _plan(table, type(record))[1]:
        value = getattr(record, name)
        if isinstance(value, str) and len(value) > limit:
            setattr(record, name, value[:limit])
    return record


def _jsonable(value: Any) -> Any:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value


def content_hash(*, table: str, record: Any) -> str:
    """A digest of the record's content (its fields, in order)."""
    values = [_jsonable(getattr(record, name)) for name in _plan(table, type(record))[0]]
    return hashlib.blake2b(json_dumps(values).encode(), digest_size=16).hexdigest()


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


# Kinds of non-empty values, in the order a value of one kind wins over one of another (objects
# last: an object always wins, so objects meet objects only, and are merged).
_KIND = {bool: 0, int: 1, float: 1, str: 2, datetime: 3, list: 4, dict: 5}


def _rank(value: Any) -> tuple:
    """A total order of values: the greater one wins a merge."""
    if _is_empty(value):
        # Empty values lose; among them a fixed order (so that the choice never depends on order).
        return (0, 0 if value is None else _KIND.get(type(value), 6), "")
    kind = _KIND.get(type(value), 6)
    if kind == 1:
        key: Any = (value, isinstance(value, float))  # 2 and 2.0: the float (the column's type)
    elif kind == 2:
        key = (len(value), value)
    elif kind == 3:
        since = value - _EPOCH  # the earlier wins: its components negated
        key = (-since.days, -since.seconds, -since.microseconds)
    elif kind in (4, 6):
        text = json.dumps(value, sort_keys=True, default=str)
        key = (len(text), text)
    else:
        key = value
    return (1, kind, key)


def value_merge(a: Any, b: Any) -> Any:
    """The fuller of two values of one field (see the module docstring)."""
    if isinstance(a, dict) and isinstance(b, dict):
        # Key by key; the keys sorted, so that the merge's key order does not depend on the order.
        merged = dict(a)
        for name, value in b.items():
            merged[name] = value_merge(merged[name], value) if name in merged else value
        return {name: merged[name] for name in sorted(merged, key=str)}
    if type(a) is type(b) and a == b:
        return a
    return a if _rank(a) >= _rank(b) else b


def records_merge(*, table: str, records: Iterable[Any]) -> Any:
    """One record holding the fuller value of each field of ``records`` (all of one type)."""
    records = list(records)
    names = _plan(table, type(records[0]))[0]
    values = {name: getattr(records[0], name) for name in names}
    for record in records[1:]:
        for name in names:
            values[name] = value_merge(values[name], getattr(record, name))
    return type(records[0])(**values)


def _differing(table: str, records: list[Any]) -> list[str]:
    names = _plan(table, type(records[0]))[0]
    return [name for name in names if any(getattr(r, name) != getattr(records[0], name) for r in records)]


def _evidence_record(table: str, record: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name in _plan(table, type(record))[0]:
        value = getattr(record, name)
        if name in _TEXT_SUMMARISED and isinstance(value, str) and value:
            digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
            value = f"<{len(value)} characters, sha256 {digest[:16]}>"
        shown[name] = _jsonable(value)
    # Text the database cannot store (a lone surrogate) is replaced here: this is evidence only.
    text = json.dumps(shown, default=str, ensure_ascii=False).encode("utf-8", "replace").decode()
    return json.loads(text)


# --- what is stored ---------------------------------------------------------------------------


def stored_hashes(table: str, keys: list[Any]) -> dict[Any, str]:
    """The keys of ``keys`` already stored, with their rows' content hash ("" if none yet)."""
    found: dict[Any, str] = {}
    if table == LLM_LOG:
        wanted = set(keys)
        for chunk in any_chunks(sorted({key[0] for key in keys})):
            for *key, digest in LlmLogChunk.objects.filter(correlation_id__any=chunk).values_list(
                "correlation_id", "request_id", "sequence_number", "content_hash"
            ):
                if tuple(key) in wanted:
                    found[tuple(key)] = digest
        return found
    if table == GATEWAY and requests_partitioned():
        # PostgreSQL, partitioned by month: the key table (one index) says which keys are stored;
        # only those are looked up in the request table (every month's index).
        stored = []
        with connection.cursor() as cursor:
            for chunk in any_chunks(keys):
                cursor.execute(
                    f"SELECT correlation_id FROM {KEY_TABLE} WHERE correlation_id = ANY(%s)", [chunk]
                )
                stored.extend(row[0] for row in cursor.fetchall())
        keys = stored
    model = MODELS[table]
    for chunk in any_chunks(keys):
        found.update(
            model.objects.filter(correlation_id__any=chunk).values_list("correlation_id", "content_hash")
        )
    return found


def _evidence_hashes(table: str, keys: list[Any]) -> dict[Any, set[str]]:
    by_text = {unmatched_row_key(table=table, record=_KeyView(key)): key for key in keys}
    found: dict[Any, set[str]] = {}
    for chunk in any_chunks(sorted(by_text)):
        for text, digest in IngestionConflict.objects.filter(table=table, key__in=chunk).values_list(
            "key", "content_hash"
        ):
            found.setdefault(by_text[text], set()).add(digest)
    return found


class _KeyView:
    """A key seen as a record (for ``unmatched_row_key``)."""

    def __init__(self, key: Any) -> None:
        if isinstance(key, tuple):
            self.correlation_id, self.request_id, self.sequence_number = key
        else:
            self.correlation_id = key


def _stored_records(table: str, keys: list[Any], record_type: type) -> dict[Any, tuple[models.Model, Any]]:
    """The stored rows of ``keys``: key -> (instance, the row as a record)."""
    model = MODELS[table]
    names = _plan(table, record_type)[0]
    wanted = set(keys)
    found = {}
    for chunk in any_chunks(sorted({key[0] if isinstance(key, tuple) else key for key in keys})):
        for instance in model.objects.filter(correlation_id__any=chunk):
            # A record field with no column (none today) keeps its default.
            record = record_type(**{n: getattr(instance, n) for n in names if hasattr(instance, n)})
            key = record_key(record)
            if key in wanted:
                found[key] = (instance, record)
    return found


# --- a batch's keys against what is stored ------------------------------------------------------


@dataclass
class Resolution:
    """What to do with a batch's parsed records once compared with what is stored."""

    new: dict[Any, Any] = field(default_factory=dict)  # key -> record to insert (content_hash set)
    # (stored instance, stored record, merged record): stored rows to update.
    changed: list[tuple[models.Model, Any, Any]] = field(default_factory=list)
    duplicates: int = 0
    conflicts: int = 0
    evidence: dict[str, IngestionConflict] = field(default_factory=dict)
    rehashed: list[tuple[models.Model, str]] = field(default_factory=list)  # rows given their hash


def versions_resolve(*, table: str, versions: Mapping[Any, Mapping[str, Any]]) -> Resolution:
    """Compare each key's versions read in a batch (key -> {content hash: record}) with the stored
    rows, and decide: new rows (merged if read in several versions), duplicates, conflicts (with
    their evidence) and stored rows to update. Reads the database, writes nothing."""
    out = Resolution()
    stored = stored_hashes(table, list(versions))
    looked_at = [k for k, group in versions.items() if k in stored and set(group) - {stored[k]}]
    evidence = _evidence_hashes(table, looked_at) if looked_at else {}
    unseen = {}
    for key in looked_at:
        seen = {stored[key]} | evidence.get(key, set())
        unseen[key] = {digest: record for digest, record in versions[key].items() if digest not in seen}
    record_type = type(next(iter(next(iter(versions.values())).values()))) if versions else None
    rows = _stored_records(table, [k for k, group in unseen.items() if group], record_type) if unseen else {}

    for key, group in versions.items():
        if key not in stored:
            records = list(group.values())
            record = records[0] if len(records) == 1 else records_merge(table=table, records=records)
            record.content_hash = (
                next(iter(group)) if len(records) == 1 else content_hash(table=table, record=record)
            )
            out.new[key] = record
            if len(records) > 1:
                out.conflicts += len(records) - 1
                _evidence_add(out, table, key, list(group.items()), None)
            continue
        fresh = unseen.get(key, {})
        out.duplicates += len(group) - len(fresh)
        if not fresh or key not in rows:  # (a key removed meanwhile: nothing to merge with)
            out.duplicates += len(fresh)
            continue
        instance, old = rows[key]
        differing = {digest: record for digest, record in fresh.items() if record != old}
        out.duplicates += len(fresh) - len(differing)
        if not differing:
            if not stored[key]:  # stored before hashes: equal content, give it its hash
                out.rehashed.append((instance, content_hash(table=table, record=old)))
            continue
        out.conflicts += len(differing)
        old_version = (
            [] if evidence.get(key) else [(stored[key] or content_hash(table=table, record=old), old)]
        )
        _evidence_add(out, table, key, old_version + list(differing.items()), instance)
        merged = records_merge(table=table, records=[old, *differing.values()])
        if getattr(instance, "bodies_purged_at", None) is not None:
            for name in _PURGED:
                setattr(merged, name, getattr(old, name))
        merged_hash = content_hash(table=table, record=merged)
        if merged != old:
            merged.content_hash = merged_hash
            out.changed.append((instance, old, merged))
        elif merged_hash != stored[key]:
            out.rehashed.append((instance, merged_hash))
    return out


def _evidence_add(
    out: Resolution, table: str, key: Any, items: list[tuple[str, Any]], instance: models.Model | None
) -> None:
    names = _differing(table, [record for _, record in items])
    text = unmatched_row_key(table=table, record=_KeyView(key))
    for digest, record in items:
        fingerprint = hashlib.sha256(f"{table}\n{text}\n{digest}".encode()).hexdigest()
        out.evidence.setdefault(
            fingerprint,
            IngestionConflict(
                table=table,
                key=text,
                content_hash=digest,
                record=_evidence_record(table, record),
                fields=names,
                fingerprint=fingerprint,
            ),
        )


def resolution_write(*, table: str, resolution: Resolution) -> list[tuple[Any, Any]]:
    """Keep the evidence and update the stored rows that changed; returns (old, merged) records
    of the updated rows. Call inside the batch's transaction.

    Each write is under a savepoint: a value the database refuses (which the parser let through)
    leaves that row as it was stored, logged, instead of failing the batch."""
    if resolution.evidence:
        try:
            with transaction.atomic():
                IngestionConflict.objects.bulk_create(resolution.evidence.values(), ignore_conflicts=True)
        except DataError as error:
            logger.warning("%s: conflict evidence refused (%s); not kept", table, error)
    model = MODELS[table]
    for instance, digest in resolution.rehashed:
        model.objects.filter(pk=instance.pk).update(content_hash=digest)
    updated = []
    for instance, old, merged in resolution.changed:
        names = [n for n in _plan(table, type(old))[0] if getattr(old, n) != getattr(merged, n)]
        values = {name: getattr(merged, name) for name in names}
        try:
            with transaction.atomic():
                # By primary key only: the time (the request table's partition key) may change.
                model.objects.filter(pk=instance.pk).update(content_hash=merged.content_hash, **values)
        except DataError as error:
            logger.warning("%s %s: merged row refused (%s); kept as stored", table, instance.pk, error)
            continue
        updated.append((old, merged))
    return updated
