"""Run a data migration again on the test database: back to the migration before it, forward to it,
then on to the latest (``django_db(transaction=True)`` tests only)."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migration_replay(app: str, *, before: str, migration: str) -> None:
    """Unapply ``app`` down to ``before``, apply ``migration``, then every later one again."""
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([(app, before)])
        MigrationExecutor(connection).migrate([(app, migration)])
    finally:
        MigrationExecutor(connection).migrate(leaves)
