"""PostgreSQL: partition the request table by month (``PARTITION BY RANGE (time)``). SQLite: nothing.

What changes on PostgreSQL (see docs/performance.md, "Partitioning the request table by month"):

* ``usage_gatewayrequest`` becomes a partitioned table with the same columns, one partition per
  UTC month (``usage_gatewayrequest_p2026_11``) for the months holding rows, the current one and
  the next two, plus a DEFAULT partition. Rows are copied with one ``INSERT ... SELECT``.
* The primary key becomes ``(id, time)`` (PostgreSQL wants the partition key in every unique
  key); the model keeps ``id`` as its primary key. PostgreSQL 15 has no identity columns on
  partitioned tables, so ``id`` takes its values from a sequence owned by the column, set past the
  old identity's last value.
* ``correlation_id`` loses its unique constraint on the table (it cannot include ``time``) and gets
  a plain index under Django's name for one; uniqueness is kept by ``usage_gatewayrequest_key``,
  a non-partitioned table with ``correlation_id`` as its primary key, kept by triggers (below).
  An insert of a key already held raises ``unique_violation``, as the old constraint did, so
  ingestion's IntegrityError handling is unchanged.
* Every other index is re-created under its old name as a partitioned index.

The foreign keys from audit (Flag.request, ReviewItem.request) lost their database constraint in
audit 0003, which this migration needs. Runs in the migration's transaction: needs free disk space
for a second copy of the table while it runs.
"""

from django.db import migrations

TABLE = "usage_gatewayrequest"
OLD = "usage_gatewayrequest_unpartitioned"
KEY = "usage_gatewayrequest_key"
SEQUENCE = "usage_gatewayrequest_id_seq"
DEFAULT = "usage_gatewayrequest_default"

KEY_TABLE_SQL = f"CREATE TABLE {KEY} (correlation_id text PRIMARY KEY, request_id bigint NOT NULL)"

# Uniqueness of correlation_id across partitions, kept by triggers on the partitioned table:
# * INSERT and DELETE: statement-level, over the statement's transition table (one set-based
#   INSERT/DELETE per statement, COPY included: ~3x cheaper than a row trigger per row, measured).
#   A key already held raises unique_violation on usage_gatewayrequest_key_pkey, as the old
#   unique constraint did.
# * UPDATE that changes correlation_id (or id): a row trigger renames the key. A row moving to
#   another partition (its time changed) fires the root's UPDATE triggers only, not its INSERT /
#   DELETE ones, so its key stays, as it should.
# * TRUNCATE fires no row trigger: a statement trigger empties the key table with it.
# Statement triggers of the root do not fire for DML naming a partition directly: partition
# maintenance (usage.db.partitions) relies on that to move rows without touching their keys.
KEY_TRIGGERS_SQL = f"""
CREATE FUNCTION {KEY}_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {KEY} (correlation_id, request_id) SELECT correlation_id, id FROM inserted;
    RETURN NULL;
END $$;

CREATE FUNCTION {KEY}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {KEY} k USING deleted d WHERE k.correlation_id = d.correlation_id AND k.request_id = d.id;
    RETURN NULL;
END $$;

CREATE FUNCTION {KEY}_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {KEY} SET correlation_id = NEW.correlation_id, request_id = NEW.id
    WHERE correlation_id = OLD.correlation_id AND request_id = OLD.id;
    RETURN NEW;
END $$;

CREATE FUNCTION {KEY}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {KEY};
    RETURN NULL;
END $$;

CREATE TRIGGER {KEY}_insert AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION {KEY}_insert();
CREATE TRIGGER {KEY}_delete AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION {KEY}_delete();
CREATE TRIGGER {KEY}_update BEFORE UPDATE OF correlation_id, id ON {TABLE}
    FOR EACH ROW WHEN (OLD.correlation_id IS DISTINCT FROM NEW.correlation_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION {KEY}_update();
CREATE TRIGGER {KEY}_truncate AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {KEY}_truncate();
"""

KEY_DROP_SQL = f"""
DROP TABLE IF EXISTS {KEY};
DROP FUNCTION IF EXISTS {KEY}_insert() CASCADE;
DROP FUNCTION IF EXISTS {KEY}_update() CASCADE;
DROP FUNCTION IF EXISTS {KEY}_delete() CASCADE;
DROP FUNCTION IF EXISTS {KEY}_truncate() CASCADE;
"""


def _indexes(cursor, table: str) -> list[tuple[str, bool, bool, list[str], str]]:
    """(name, is primary, is unique, columns, definition) of every index of ``table``."""
    cursor.execute(
        """
        SELECT i.relname, x.indisprimary, x.indisunique,
               ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n),
               pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = to_regclass(%s)
        ORDER BY i.relname
        """,
        [table],
    )
    return [
        (name, primary, unique, list(columns), definition)
        for name, primary, unique, columns, definition in cursor.fetchall()
    ]


def _columns(cursor, table: str) -> str:
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return cursor.fetchone()[0]


def _next_id(cursor, table: str) -> tuple[int, bool]:
    """(value, is_called) for setval: past the table's sequence and its largest id."""
    cursor.execute(
        f"SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')), (SELECT max(id) FROM {table})",
        [table],
    )
    last, largest = cursor.fetchone()
    value = max(last or 0, largest or 0)
    return (value, True) if value else (1, False)


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from django.utils import timezone

    from aoai_portal.months import month_floor
    from usage.db.partitions import request_partitions_ahead, request_partitions_ensure

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes = _indexes(cursor, TABLE)
        next_id = _next_id(cursor, TABLE)
        cursor.execute(f"SELECT DISTINCT date_trunc('month', \"time\" AT TIME ZONE 'UTC')::date FROM {TABLE}")
        months = [month_floor(row[0]) for row in cursor.fetchall()]

        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE "
            f'INCLUDING COMMENTS) PARTITION BY RANGE ("time")'
        )
        cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")
    request_partitions_ensure(months=months, using=connection.alias)
    request_partitions_ahead(now=timezone.now(), using=connection.alias)

    with connection.cursor() as cursor:
        columns = _columns(cursor, OLD)
        # Indexes come after the copy: building them on filled partitions is faster than
        # maintaining them row by row. Keys are filled in bulk before the triggers exist.
        cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {OLD}")
        cursor.execute(KEY_TABLE_SQL)
        cursor.execute(f"INSERT INTO {KEY} (correlation_id, request_id) SELECT correlation_id, id FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")  # and its identity sequence

        for name, primary, unique, index_columns, definition in indexes:
            if primary:
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT {name} PRIMARY KEY (id, "time")')
            elif unique and index_columns == ["correlation_id"]:
                plain = schema_editor._create_index_name(TABLE, ["correlation_id"], suffix="")
                cursor.execute(f"CREATE INDEX {plain} ON {TABLE} (correlation_id)")
            elif unique and "time" not in index_columns:
                raise RuntimeError(
                    f"unique index {name} of {TABLE} lacks the partition key: partition by hand"
                )
            else:
                cursor.execute(definition)  # names the table, which is the partitioned one again

        cursor.execute(f"CREATE SEQUENCE {SEQUENCE} AS bigint OWNED BY {TABLE}.id")
        cursor.execute("SELECT setval(%s, %s, %s)", [SEQUENCE, *next_id])
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}'::regclass)")

        cursor.execute(KEY_TRIGGERS_SQL)
        cursor.execute(f"ANALYZE {TABLE}")


def unpartition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from usage.db.partitions import requests_partition_forget

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes = _indexes(cursor, TABLE)
        next_id = _next_id(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE "
            f"INCLUDING COMMENTS)"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id DROP DEFAULT")
        columns = _columns(cursor, OLD)
        cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD} CASCADE")  # its partitions and the sequence
        cursor.execute(KEY_DROP_SQL)
        plain = schema_editor._create_index_name(TABLE, ["correlation_id"], suffix="")
        for name, primary, _unique, _columns_, definition in indexes:
            if primary:
                cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} PRIMARY KEY (id)")
            elif name == plain:
                cursor.execute(
                    f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_correlation_id_key UNIQUE (correlation_id)"
                )
            else:
                cursor.execute(definition.replace(" ON ONLY ", " ON "))
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [TABLE, *next_id])
    requests_partition_forget()


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0010_usagedaily"),
        ("audit", "0003_request_no_db_constraint"),
    ]

    operations = [migrations.RunPython(partition, unpartition)]
