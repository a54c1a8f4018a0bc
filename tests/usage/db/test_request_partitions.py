"""PostgreSQL: the request table is partitioned by month, and correlation_id stays unique across months."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from aoai_portal.months import month_floor
from tests.factories import chat_request_create
from tests.support.ingestion_rows import gateway_rows
from usage.db.copy import records_copy
from usage.db.partitions import (
    DEFAULT_PARTITION,
    KEY_TABLE,
    TABLE,
    partition_name,
    request_partitions_ahead,
    request_partitions_ensure,
    request_partitions_list,
    request_partitions_prepare,
    requests_partition_forget,
)
from usage.demo.data import generate_logs
from usage.ingestion import conflicts, store
from usage.ingestion.rows import GatewayRow
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY
from usage.models import GatewayRequest

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL only"),
]

MARCH_2024 = datetime(2024, 3, 5, 9, tzinfo=UTC)  # no partition unless a test makes one


@pytest.fixture(autouse=True)
def _forget_partitions():
    # Partitions made inside a test roll back with it: the per-process cache must not outlive that.
    requests_partition_forget()
    yield
    requests_partition_forget()


def _sql(query: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchall()


def partition_of(correlation_id: str) -> str:
    return _sql(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE correlation_id = %s", [correlation_id])[
        0
    ][0]


def keys() -> dict[str, int]:
    return dict(_sql(f"SELECT correlation_id, request_id FROM {KEY_TABLE}"))


def test_the_table_is_range_partitioned_on_time_with_a_default_partition():
    assert _sql(
        "SELECT partstrat, a.attname FROM pg_partitioned_table p "
        "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
        "WHERE partrelid = %s::regclass",
        [TABLE],
    ) == [("r", "time")]
    children = {
        name
        for (name,) in _sql(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [TABLE]
        )
    }
    assert DEFAULT_PARTITION in children
    assert request_partitions_list()[-1].month is None  # the default, listed last
    # The primary key carries the partition key; the model keeps id.
    assert _sql(
        "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index x "
        "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) "
        "WHERE x.indrelid = %s::regclass AND x.indisprimary",
        [TABLE],
    ) == [(["id", "time"],)]
    assert GatewayRequest._meta.pk.name == "id"


def test_the_migration_made_the_current_month_and_the_next_two():
    assert request_partitions_ahead(now=datetime.now(UTC)) == []  # all there already


def test_the_indexes_the_pages_use_are_partitioned_indexes_under_djangos_names():
    names = {name for (name,) in _sql("SELECT indexname FROM pg_indexes WHERE tablename = %s", [TABLE])}
    assert {
        "usage_gatewayrequest_pkey",
        "gwreq_time_sub",
        "gwreq_sub_code_time",
        "usage_gatewayrequest_time_6139ae09",
        "usage_gatewayrequest_correlation_id_162c5233",
        "usage_gatewayrequest_apim_request_id_77eac178",
    } <= names


def test_no_ingestion_table_or_partition_keeps_a_pattern_ops_index():
    """Nothing queries them by prefix; each cost a B-tree insert per stored row (migration 0021)."""
    request_partitions_ensure(months=[date(2024, 3, 1)])  # a partition made after the migration too
    twins = _sql(
        "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%%varchar_pattern_ops%%' "
        "AND (tablename LIKE 'usage_gatewayrequest%%' OR tablename IN ('usage_nativelog', 'usage_llmlogchunk'))"
    )
    assert twins == []


def test_ids_come_from_a_sequence_owned_by_the_column():
    assert _sql("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE]) == [(f"public.{TABLE}_id_seq",)]
    first = chat_request_create("seq-1")
    second = chat_request_create("seq-2")
    assert second.pk > first.pk


def test_a_row_lands_in_the_partition_of_its_month():
    request_partitions_ensure(months=[date(2024, 3, 1), date(2024, 4, 1)])
    chat_request_create("in-march", time=MARCH_2024)
    chat_request_create("in-april", time=datetime(2024, 4, 1, tzinfo=UTC))  # the first instant of April
    chat_request_create("last-of-march", time=datetime(2024, 4, 1, tzinfo=UTC) - timedelta(microseconds=1))
    assert partition_of("in-march") == partition_of("last-of-march") == "usage_gatewayrequest_p2024_03"
    assert partition_of("in-april") == "usage_gatewayrequest_p2024_04"


def test_a_row_of_a_month_without_partition_waits_in_the_default_partition():
    chat_request_create("in-1999", time=datetime(1999, 1, 1, tzinfo=UTC))
    assert partition_of("in-1999") == DEFAULT_PARTITION


def test_a_duplicate_correlation_id_with_a_different_time_is_refused():
    request_partitions_ensure(months=[date(2024, 3, 1)])
    original = chat_request_create("same-key", time=MARCH_2024)
    with pytest.raises(IntegrityError, match="usage_gatewayrequest_key_pkey"), transaction.atomic():
        chat_request_create("same-key", time=datetime(2025, 7, 1, tzinfo=UTC))  # another partition
    with pytest.raises(IntegrityError), transaction.atomic():
        chat_request_create("same-key", time=MARCH_2024 + timedelta(seconds=1))  # the same partition
    assert list(GatewayRequest.objects.filter(correlation_id="same-key")) == [original]
    assert keys()["same-key"] == original.pk


def test_a_copy_carrying_a_stored_key_fails_on_the_unique_key_like_before(monkeypatch):
    chat_request_create("copied", time=MARCH_2024)
    # Another writer's row: the existing-key query did not see it, the COPY is given it as new.
    record = GatewayRow(correlation_id="copied", time=datetime(2025, 1, 1, tzinfo=UTC))
    record.content_hash = ""
    with pytest.raises(IntegrityError), transaction.atomic():
        records_copy(model=GatewayRequest, records=[record])


@pytest.mark.parametrize("copy_path", [True, False], ids=["copy", "portable"])
def test_a_reimport_whose_time_changed_is_a_conflict_not_a_second_request(copy_path, monkeypatch):
    monkeypatch.setattr(store, "COPY_FAST_PATH", copy_path)
    rows = gateway_rows(MARCH_2024)
    rows_store(table=GATEWAY, rows=rows)
    moved = [{**row, "TimeGenerated": "2025-07-01T10:00:00Z"} for row in rows]
    result = rows_store(table=GATEWAY, rows=moved)
    assert (result.stored, result.duplicates, result.conflicts) == (0, 0, len(rows))
    # The stored request keeps the earlier time (docs/ingestion.md); the other version is evidence.
    again = rows_store(table=GATEWAY, rows=moved)
    assert (again.stored, again.duplicates, again.conflicts) == (0, len(rows), 0)
    # Same when the existing-key query misses them (another writer): the key table refuses them.
    monkeypatch.setattr(conflicts, "stored_hashes", lambda table, keys: {})
    result = rows_store(table=GATEWAY, rows=moved)
    assert (result.stored, result.duplicates, result.rejected) == (0, len(rows), 0)
    assert GatewayRequest.objects.count() == len(rows)
    assert {r.time.month for r in GatewayRequest.objects.all()} == {3}


def test_ingesting_rows_of_a_new_month_creates_its_partition():
    assert partition_name(date(2024, 3, 1)) not in {p.name for p in request_partitions_list()}
    result = rows_store(table=GATEWAY, rows=gateway_rows(MARCH_2024))
    assert result.stored
    assert partition_name(date(2024, 3, 1)) in {p.name for p in request_partitions_list()}
    assert {partition_of(r.correlation_id) for r in GatewayRequest.objects.all()} == {
        "usage_gatewayrequest_p2024_03"
    }


def test_far_future_rows_make_no_partition():
    far = datetime.now(UTC).replace(day=1, minute=0, second=0, microsecond=0) + timedelta(days=200)
    # Ingestion rejects them (more than a day ahead) ...
    rows = generate_logs(start=far, end=far + timedelta(hours=1), requests_per_hour=6, seed=3)[GATEWAY]
    result = rows_store(table=GATEWAY, rows=rows)
    assert result.stored == 0 and result.reasons["TimeGenerated: out of range"] > 0
    # ... and a far-future month given to the batch preparation gets no partition either.
    assert request_partitions_prepare(times=[far], now=datetime.now(UTC)) == []
    assert month_floor(far) not in {p.month for p in request_partitions_list()}


def test_creating_a_partition_moves_the_months_rows_out_of_the_default_partition():
    first = chat_request_create("early", time=MARCH_2024)
    chat_request_create("late", time=datetime(2024, 3, 31, 23, 59, tzinfo=UTC))
    chat_request_create("other-month", time=datetime(2024, 5, 2, tzinfo=UTC))
    assert partition_of("early") == DEFAULT_PARTITION

    assert request_partitions_ensure(months=[date(2024, 3, 1)]) == ["usage_gatewayrequest_p2024_03"]

    assert partition_of("early") == partition_of("late") == "usage_gatewayrequest_p2024_03"
    assert partition_of("other-month") == DEFAULT_PARTITION
    assert GatewayRequest.objects.count() == 3
    assert GatewayRequest.objects.get(correlation_id="early").pk == first.pk
    # The default is attached again, and the moved rows' keys still refuse duplicates.
    assert request_partitions_list()[-1].name == DEFAULT_PARTITION
    assert keys() == dict(GatewayRequest.objects.values_list("correlation_id", "id"))
    with pytest.raises(IntegrityError), transaction.atomic():
        chat_request_create("early", time=datetime(2024, 5, 3, tzinfo=UTC))
    assert request_partitions_ensure(months=[date(2024, 3, 1)]) == []  # already there


def test_deleting_a_request_frees_its_correlation_id():
    chat_request_create("gone", time=MARCH_2024).delete()
    assert "gone" not in keys()
    chat_request_create("gone", time=datetime(2025, 1, 1, tzinfo=UTC))


def test_a_request_moved_to_another_month_keeps_its_key():
    request_partitions_ensure(months=[date(2024, 3, 1), date(2024, 4, 1)])
    row = chat_request_create("mover", time=MARCH_2024)
    row.time = datetime(2024, 4, 2, tzinfo=UTC)
    row.correlation_id = "mover-renamed"
    row.save()
    assert partition_of("mover-renamed") == "usage_gatewayrequest_p2024_04"
    assert keys() == {"mover-renamed": row.pk}
    with pytest.raises(IntegrityError), transaction.atomic():
        chat_request_create("mover-renamed", time=MARCH_2024)
    chat_request_create("mover", time=MARCH_2024)  # the old key is free


def test_truncating_the_table_empties_the_key_table():
    chat_request_create("t1")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")
    assert keys() == {}
