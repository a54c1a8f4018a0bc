"""PostgreSQL: ingestion's large columns are compressed with lz4 (migration usage.0016), in every
partition of the request table, including partitions created later."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from tests.support.ingestion_rows import gateway_rows
from usage.db.partitions import TABLE, partition_name, request_partitions_ensure, requests_partition_forget
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY
from usage.models import GatewayRequest

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="column compression is PostgreSQL only"),
]

BODY_COLUMNS = ("request_body", "response_body")
JUNE_2023 = datetime(2023, 6, 7, 10, tzinfo=UTC)  # no partition unless this test makes one


def _sql(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchall()


def _lz4_available() -> bool:
    enumvals = _sql("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")[0][0]
    return "lz4" in enumvals


def _compression(relation: str, column: str) -> str:
    return _sql(
        "SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        [relation, column],
    )[0][0]


@pytest.fixture(autouse=True)
def _needs_lz4():
    if not _lz4_available():
        pytest.skip("this PostgreSQL server is built without lz4: the migration keeps pglz")
    requests_partition_forget()
    yield
    requests_partition_forget()


def test_existing_tables_and_partitions_use_lz4():
    partitions = [
        name
        for (name,) in _sql(
            f"SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = '{TABLE}'::regclass"
        )
    ]
    assert partitions, "the request table has partitions (at least its default one)"
    for relation in [TABLE, *partitions]:
        for column in BODY_COLUMNS:
            assert _compression(relation, column) == "l", (relation, column)
    assert _compression("usage_nativelog", "properties") == "l"
    assert _compression("usage_llmlogchunk", "request_messages") == "l"
    assert _compression("usage_rejectedrow", "raw") == "l"
    assert _compression("usage_gatewayrequest", "url") == "", "small columns keep the server default"


def test_ingested_bodies_are_stored_lz4_compressed_in_a_new_partition():
    assert request_partitions_ensure(months=[JUNE_2023]) == [partition_name(JUNE_2023.date())]
    assert _compression(partition_name(JUNE_2023.date()), "request_body") == "l"

    rows = gateway_rows(JUNE_2023)
    prompt = "Summarise the quarterly report for the finance team. " * 80  # ~4 KB: PostgreSQL compresses it
    for row in rows:
        row["RequestBody"] = json.dumps({"messages": [{"role": "user", "content": prompt}]})
    rows_store(table=GATEWAY, rows=rows)

    stored = _sql(
        f"SELECT tableoid::regclass::text, pg_column_compression(request_body), length(request_body) FROM {TABLE} "
        "WHERE time >= %s AND time < %s",
        [JUNE_2023 - timedelta(hours=1), JUNE_2023 + timedelta(hours=2)],
    )
    assert len(stored) == len(rows) == GatewayRequest.objects.filter(time__year=2023).count()
    assert {(partition, method) for partition, method, _ in stored} == {
        (partition_name(JUNE_2023.date()), "lz4")
    }
    assert all(length > 4000 for *_, length in stored)
