"""New rows written by PostgreSQL's binary ``COPY ... FROM STDIN``: the ingestion's fast path.

``records_copy`` inserts parsed records (dataclasses whose attributes are the model's fields) as
the model would save them; ``rows_insert`` inserts unsaved model instances (the rollups' rows) the
same way, where Django's ``bulk_create`` spends most of a rollup rebuild building and quoting its
multi-row INSERTs; ``binary_copy`` is the COPY itself, for callers that build their rows
(``usage.ingestion.store_writes`` copies new requests that way); ``json_text`` passes a JSON
column's text as it is.

The binary format: bodies travel as they are (the text format escapes every backslash, tab and
newline, and the server unescapes them) and numbers and times need no printing and parsing; a
request row costs about a third less on either side. A value the server would have refused in
text (a number out of its column's range, a value of another type) must still refuse the batch,
which the caller then redoes row by row through the ORM, rejecting the row with the database's
reason, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import DataError, connection, models
from django.utils import timezone
from psycopg.types.json import Jsonb

from usage.db.json import json_dumps
from usage.db.lookups import bare_db_type

# Plan markers: a column's value comes from the parsed record, or is the time of the write.
_FROM_RECORD = object()
_NOW = object()
_INTEGER_BITS = {"smallint": 16, "integer": 32, "bigint": 64}
# On PostgreSQL ``rows_insert`` writes by binary COPY; False forces ``bulk_create``.
ROWS_COPY_FAST_PATH = True


def rows_insert(*, rows: Sequence[models.Model]) -> int:
    """Insert ``rows`` (unsaved instances of one model, primary keys left to the database); returns
    their number. The instances do not get their primary keys (``bulk_create`` would give them).

    On PostgreSQL one binary COPY, each value prepared by its field as ``save`` prepares it
    (JSON by the field's encoder); elsewhere, or with ``ROWS_COPY_FAST_PATH`` off, ``bulk_create``.
    """
    if not rows:
        return 0
    model = type(rows[0])
    if not (ROWS_COPY_FAST_PATH and connection.vendor == "postgresql"):
        model.objects.bulk_create(rows, batch_size=1000)
        return len(rows)
    fields, target = _copy_target(model)
    # Only times (naive ones made aware) and decimals need their field's preparing; the rest is sent as is.
    plan = [
        (
            f.attname,
            f if isinstance(f, models.DateTimeField | models.DecimalField) else None,
            f.encoder if isinstance(f, models.JSONField) else False,
        )
        for f in fields
    ]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with binary_copy(cursor, target, fields) as write:
            for row in rows:
                values = []
                for attname, field, encoder in plan:
                    value = getattr(row, attname)
                    if encoder is not False:
                        values.append(None if value is None else json_text(json.dumps(value, cls=encoder)))
                    elif field is not None:
                        values.append(field.get_db_prep_save(value, connection))
                    else:
                        values.append(bytes(value) if isinstance(value, memoryview) else value)
                write(values)
    return len(rows)


def records_copy(*, model: type[models.Model], records: list[Any]) -> list[Any]:
    """Insert ``records`` (not stored yet) as rows of ``model``; returns them. PostgreSQL only.

    Same result as the portable path (bulk_create), but the rows travel by COPY, several times
    faster for rows carrying request/response bodies. Should another writer insert one of the
    keys after the existing-key query (``versions_resolve``), the COPY fails on the unique key
    and the batch is redone row by row, so the outcome is the same.
    """
    if not records:
        return []
    fields, target = _copy_target(model)
    plan = _copy_plan(model, type(records[0]))
    now = timezone.now()
    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg -> django.db errors
        with binary_copy(cursor, target, fields) as write:
            for record in records:
                values = vars(record)
                row = []
                for name, default, limit, is_json in plan:
                    value = values[name] if default is _FROM_RECORD else (now if default is _NOW else default)
                    if limit and isinstance(value, str) and len(value) > limit:
                        value = value[:limit]
                    elif is_json and default is _FROM_RECORD:
                        value = json_text(json_dumps(value))
                    row.append(value)
                write(row)
    return records


@contextmanager
def binary_copy(cursor: Any, target: str, fields: Sequence[models.Field]) -> Iterator[Callable[[list], None]]:
    """A binary ``COPY target FROM STDIN`` of ``fields``' columns; yields the function writing one
    row (a list of values in ``fields``' order). A value the binary format cannot carry refuses
    the batch (``DataError``)."""
    types = [bare_db_type(f.db_type(connection)) for f in fields]
    numeric = [i for i, name in enumerate(types) if name == "numeric"]
    # A binary integer out of range is not refused but wrapped around by the driver (2**40 would
    # be stored as 0 in an ``integer``): checked here.
    integers = [
        (i, f.column, 2 ** (_INTEGER_BITS[name] - 1))
        for i, (f, name) in enumerate(zip(fields, types, strict=True))
        if name in _INTEGER_BITS
    ]

    def write(values: list) -> None:
        try:
            for i, column, bound in integers:
                value = values[i]
                if value is not None and not -bound <= value < bound:
                    raise DataError(f"{column}: {value} is out of range for its column")
            for i in numeric:
                values[i] = _numeric(values[i])
            copy.write_row(values)
        except (TypeError, OverflowError, ValueError) as error:
            # A value of another type than its column's, or a text the driver cannot encode.
            raise DataError(f"a value the binary COPY cannot send: {error}") from error

    with cursor.cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        yield write


def _copy_target(model: type[models.Model]) -> tuple[list[models.Field], str]:
    """The columns a COPY of ``model``'s new rows writes (every concrete field but the primary key,
    which the database numbers) and its ``table (columns)`` target: one plan for both writers."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return fields, f"{connection.ops.quote_name(model._meta.db_table)} ({columns})"


def _json_as_is(text: str) -> str:
    return text


def json_text(text: str) -> Jsonb:
    """A JSON column's value from its JSON text, sent as it is (not encoded again)."""
    return Jsonb(text, _json_as_is)


def _numeric(value: Any) -> Any:
    """A ``numeric`` column's value for the binary format, which takes only ``Decimal`` (the text
    format printed a float or an int, which the server read as the same number)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _copy_plan(model: type[models.Model], record_type: type) -> list[tuple[str, Any, int, bool]]:
    """Per column: (record attribute, default, max length, is JSON), as the model would save it."""
    record_fields = set(record_type.__dataclass_fields__)
    plan = []
    for f in _copy_target(model)[0]:
        is_json = isinstance(f, models.JSONField)
        if f.attname in record_fields or f.attname == "content_hash":  # set by versions_resolve
            default: Any = _FROM_RECORD
        elif getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            default = _NOW
        else:
            default = f.get_default()
            if is_json:
                default = json_text(json.dumps(default))
        limit = f.max_length if isinstance(f, models.CharField) and f.max_length else 0
        plan.append((f.attname, default, limit, is_json))
    return plan
