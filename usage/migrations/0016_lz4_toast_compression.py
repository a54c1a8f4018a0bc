"""PostgreSQL: compress ingestion's large columns with lz4 instead of the default pglz.

Every gateway row carries request and response bodies of a few KB that PostgreSQL compresses
("TOAST") as it stores them; with pglz that was about a fifth of the server's time per ingested
row (bench/ingest.py, docs/performance.md). lz4 compresses several times faster, at a slightly
larger size. Only new values are written with it; stored ones stay as they are (both read back
the same). A server built without lz4 keeps pglz, and SQLite has nothing to change.

``ALTER TABLE ... SET COMPRESSION`` on a partitioned table does not reach its existing
partitions (new ones take it from the parent), so each partition is altered too.
"""

from django.db import migrations

# Frozen here (a migration must not follow later code): table -> its columns that grow large.
LARGE_COLUMNS = {
    "usage_gatewayrequest": (
        "request_body",
        "response_body",
        "request_headers",
        "response_headers",
        "content_filter",
    ),
    "usage_nativelog": ("properties",),
    "usage_llmlogchunk": ("request_messages", "response_messages"),
    "usage_rejectedrow": ("raw",),
}


def lz4_available(cursor) -> bool:
    cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    row = cursor.fetchone()
    return bool(row and "lz4" in (row[0] or []))


def set_compression(schema_editor, method: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        if method == "lz4" and not lz4_available(cursor):
            return
        for table, columns in LARGE_COLUMNS.items():
            cursor.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
                [table],
            )
            for relation in [table, *(name for (name,) in cursor.fetchall())]:
                alterations = ", ".join(f"ALTER COLUMN {quote(c)} SET COMPRESSION {method}" for c in columns)
                cursor.execute(f"ALTER TABLE {quote(relation)} {alterations}")


def forwards(apps, schema_editor):
    set_compression(schema_editor, "lz4")


def backwards(apps, schema_editor):
    set_compression(schema_editor, "default")


class Migration(migrations.Migration):
    dependencies = [("usage", "0015_latency_subscription_daily")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
