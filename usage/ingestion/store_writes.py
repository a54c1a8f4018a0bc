"""The ways the new rows of a batch reach the database, for ``store.py``.

``_instance`` makes the model instance of a parsed record (for ``bulk_create`` and the row-by-row
path); ``_copy_requests`` COPYs new requests on PostgreSQL (the fast path, ``usage.db.copy``);
``_saved_one_by_one`` saves each row under a savepoint, for a batch the database refused. Which one
a batch takes is ``store.py``'s choice: its ``COPY_FAST_PATH`` flag is read there, not here.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from django.db import DataError, IntegrityError, connection, models, transaction
from django.utils import timezone

from usage.accounting.services import content_filter_json
from usage.db.copy import binary_copy, json_text
from usage.db.json import json_dumps
from usage.models import GatewayRequest, LlmLogChunk

from .cells import Rejection
from .conflicts import MODELS as _MODELS
from .rows import GatewayRow, LlmChunkRow, NativeRow
from .tables import LLM_LOG

# Plan marker: a field's value comes from the parsed record.
_FROM_RECORD = object()
# Per model: (attribute, max length or 0, default or _FROM_RECORD, default is callable), per field.
_INSTANCE_PLANS: dict[type[models.Model], list[tuple[str, int, Any, bool]]] = {}


def _instance(table: str, record: GatewayRow | NativeRow | LlmChunkRow) -> models.Model:
    """The model instance of a parsed record (not saved); strings cut to their column's length."""
    model = _MODELS[table]
    plan = _INSTANCE_PLANS.get(model)
    if plan is None:
        record_fields = set(type(record).__dataclass_fields__)
        plan = []
        for f in model._meta.concrete_fields:
            limit = f.max_length if isinstance(f, models.CharField) and f.max_length else 0
            if f.attname in record_fields or f.attname == "content_hash":  # set by versions_resolve
                plan.append((f.attname, limit, _FROM_RECORD, False))
            elif f.has_default():
                plan.append((f.attname, limit, f.default, callable(f.default)))
            else:
                plan.append((f.attname, limit, None if f.null or f.primary_key else f.get_default(), False))
        _INSTANCE_PLANS[model] = plan
    values = vars(record)
    arguments = []
    for name, limit, default, is_callable in plan:
        if default is _FROM_RECORD:
            value = values.get(name, "")  # "": content_hash, when versions_resolve did not set it
            if limit and isinstance(value, str) and len(value) > limit:
                value = value[:limit]
        else:
            value = default() if is_callable else default
        arguments.append(value)
    # Positional: Model.__init__'s fast path (keyword arguments cost several times more per row).
    return model(*arguments)


def _is_stored(table: str, record: Any) -> bool:
    if table == LLM_LOG:
        return LlmLogChunk.objects.filter(
            correlation_id=record.correlation_id,
            request_id=record.request_id,
            sequence_number=record.sequence_number,
        ).exists()
    return _MODELS[table].objects.filter(correlation_id=record.correlation_id).exists()


def _saved_one_by_one(
    table: str, pairs: list[tuple[models.Model, Any]], rejections: list[tuple[Rejection, Any]]
) -> tuple[list[tuple[models.Model, Any]], int]:
    """Save each (instance, record) under a savepoint: the batch redone after the database refused
    it. Returns the pairs saved and the number refused (added to ``rejections``); a key another
    writer stored meanwhile is neither (a duplicate)."""
    saved, refused = [], 0
    for instance, record in pairs:
        try:
            with transaction.atomic():
                instance.save(force_insert=True)
            saved.append((instance, record))
        except (DataError, IntegrityError, ValueError, OverflowError) as error:
            # ValueError: a text the driver cannot encode; OverflowError: an int SQLite refuses.
            if isinstance(error, IntegrityError) and _is_stored(table, record):
                continue
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            rejections.append((Rejection("refused by the database", message), vars(record)))
            refused += 1
    return saved, refused


# --- PostgreSQL fast path: COPY the new rows straight into the table (usage.db.copy) ----------


def _copy_requests(rows: list[GatewayRequest]) -> None:
    """COPY new request instances, usage fields included. PostgreSQL only.

    Their primary keys are taken from the table's sequence first, so the instances can be flagged
    (flags reference them) without reading the rows back.
    """
    if not rows:
        return
    table = GatewayRequest._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg -> django.db errors
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(rows)],
        )
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk
        fields = GatewayRequest._meta.concrete_fields
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        values_of = attrgetter(*(f.attname for f in fields))
        json_columns = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
        content_filter = next(i for i, f in enumerate(fields) if f.attname == "content_filter")
        stamped = [f.attname for f in fields if getattr(f, "auto_now_add", False)]
        with binary_copy(cursor, f"{connection.ops.quote_name(table)} ({columns})", fields) as write:
            for row in rows:
                for name in stamped:
                    setattr(row, name, now)
                values = list(values_of(row))
                for i in json_columns:
                    if values[i] is not None:
                        # The content filter's text was made when its usage was computed.
                        text = content_filter_json(row) if i == content_filter else None
                        values[i] = json_text(json_dumps(values[i]) if text is None else text)
                write(values)
