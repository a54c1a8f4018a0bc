"""Write fields of many stored rows back in one statement: ``rows_update``.

Django's ``bulk_update`` builds a ``CASE WHEN pk = ... THEN ...`` per row and per field; for a few
hundred rows and a few dozen fields that is slow Python work (expression resolving) per batch. On
PostgreSQL the rows travel instead as one array per column and are joined in a single
``UPDATE ... FROM unnest(...)``; elsewhere (SQLite) ``bulk_update`` stays the portable path.
Same values either way: each value goes through the field's ``get_db_prep_save``.
"""

import json
from collections.abc import Sequence

import psycopg
from django.db import connections, models, transaction

from usage.db import partitions

# On PostgreSQL rows travel by ``UPDATE ... FROM unnest(...)``; False forces the portable path.
UNNEST_FAST_PATH = True
CHUNK = 2000


def rows_update(*, rows: Sequence[models.Model], fields: Sequence[str], batch_size: int = 500) -> int:
    """Store ``fields`` of ``rows`` (saved instances of one model) by primary key; returns rows."""
    if not rows:
        return 0
    model = type(rows[0])
    alias = model.objects.db
    connection = connections[alias]
    if not (UNNEST_FAST_PATH and connection.vendor == "postgresql"):
        model.objects.bulk_update(rows, list(fields), batch_size=batch_size)
        return len(rows)

    meta = model._meta
    pk = meta.pk
    targets = [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    # The request table is partitioned by month on PostgreSQL: matching its partition key too lets
    # each row probe one partition's index instead of every month's (when the rows carry it).
    matched = [pk]
    # Not when the update moves rows in time: the stored time is then not the one in hand.
    if (
        meta.db_table == partitions.TABLE
        and "time" not in fields
        and partitions.requests_partitioned(using=alias)
        and not any("time" in row.get_deferred_fields() for row in rows)
    ):
        matched.append(meta.get_field("time"))
    columns = [*matched, *targets]
    aliases = [f"c{i}" for i in range(len(columns))]
    array_types, reads = [], []
    for column_alias, field in zip(aliases, columns, strict=True):
        if isinstance(field, models.JSONField):
            array_types.append("text[]")  # JSON as text, cast per value (keeps the field's encoder)
            reads.append(f"v.{column_alias}::jsonb")
        else:
            array_types.append(f"{field.db_type(connection)}[]")
            reads.append(f"v.{column_alias}")
    assignments = ", ".join(
        f"{qn(field.column)} = {read}" for field, read in zip(targets, reads[len(matched) :], strict=True)
    )
    conditions = " AND ".join(
        f"t.{qn(field.column)} = {read}" for field, read in zip(matched, reads, strict=False)
    )
    # %b: the arrays travel in binary; in text they are quoted and escaped element by element
    # (a regex substitution per quote of every JSON value: most of the client time of a write).
    sources = ", ".join(f"%b::{array_type}" for array_type in array_types)
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({sources}) AS v({', '.join(aliases)}) "
        f"WHERE {conditions}"
    )

    def prepared(field: models.Field, row: models.Model) -> object:
        value = getattr(row, field.attname)
        if isinstance(field, models.JSONField):
            return None if value is None else json.dumps(value, cls=field.encoder)
        return field.get_db_prep_save(value, connection)

    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as wrapper:
        # A server-side-binding cursor: the arrays travel as parameters, not quoted into the SQL.
        with connection.wrap_database_errors, psycopg.Cursor(wrapper.cursor.connection) as cursor:
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                cursor.execute(sql, [[prepared(field, row) for row in chunk] for field in columns])
    return len(rows)
