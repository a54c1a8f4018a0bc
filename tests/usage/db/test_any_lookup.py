"""``field__any=values`` (usage/db/lookups.py): the rows of ``field__in=values``, with one array
parameter instead of one per value on PostgreSQL (and the ``IN`` list itself elsewhere)."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connection, models
from django.db.models import Value
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext

from audit.models import Flag
from usage.db.lookups import IN_CHUNK, any_chunks
from usage.models import GatewayRequest

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
# Values an array literal must quote or escape, and one just over the column's 64 characters
# whose first 64 are a stored id (a cast to varchar(64) would truncate it into a match).
AWKWARD = [
    'it\'s "quoted"',
    "{braces},comma",
    "back\\slash",
    "ends\\",
    '\\"',
    "NULL",
    "null",
    "",
    " spaced ",
    "tab\tnew\nline",
    "ü ☃",
]
LONG_PREFIX = "p" * 64


@pytest.fixture
def requests() -> list[GatewayRequest]:
    ids = [f"req-{i:04d}" for i in range(60)] + AWKWARD + [LONG_PREFIX]
    return GatewayRequest.objects.bulk_create(
        [
            GatewayRequest(
                correlation_id=cid,
                time=START + dt.timedelta(minutes=i),
                apim_subscription_id=f"sub-{i % 3}",
                prompt_tokens=i,
                cost=Decimal("0.0001") * i,
            )
            for i, cid in enumerate(ids)
        ]
    )


def _both(field: str, values, queryset=None) -> tuple[set, set]:
    queryset = GatewayRequest.objects.all() if queryset is None else queryset
    pks = queryset.values_list("pk", flat=True)
    return set(pks.filter(**{f"{field}__any": values})), set(pks.filter(**{f"{field}__in": values}))


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(["req-0001", "req-0005", "absent"], id="some"),
        pytest.param([], id="empty"),
        pytest.param([None], id="only-none"),
        pytest.param(["req-0002", None, "req-0002", "req-0003"], id="duplicates-and-none"),
        pytest.param(AWKWARD, id="quoting"),
        pytest.param([LONG_PREFIX + "x", LONG_PREFIX[:10]], id="longer-than-column"),
        pytest.param((f"req-{i:04d}" for i in range(0, 60, 7)), id="generator"),
    ],
)
def test_any_selects_the_rows_of_in(requests, values) -> None:
    values = list(values)
    found, expected = _both("correlation_id", values)
    assert found == expected
    assert found == {r.pk for r in requests if r.correlation_id in values}


def test_large_list_is_one_parameter_on_postgresql(requests) -> None:
    wanted = [f"req-{i:04d}" for i in range(0, 60, 2)] + [f"absent-{i}" for i in range(5000)]
    with CaptureQueriesContext(connection) as queries:
        found = set(GatewayRequest.objects.filter(correlation_id__any=wanted).values_list("pk", flat=True))
    assert found == {r.pk for r in requests if r.correlation_id in set(wanted)}
    sql = queries.captured_queries[0]["sql"]
    if POSTGRES:
        assert "= ANY(" in sql and "::varchar[]" in sql and " IN (" not in sql
        compiled, params = GatewayRequest.objects.filter(correlation_id__any=wanted).query.sql_with_params()
        # One parameter: the ids as one array text (psycopg quotes it once, not id by id).
        assert compiled.count("%s") == 1 and len(params) == 1 and isinstance(params[0], str)
    else:
        assert " IN (" in sql and "ANY(" not in sql


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("pk", "pks"),  # bigint primary key
        ("prompt_tokens", [0, 3, 5, 99]),  # integer
        ("time", [START, START + dt.timedelta(minutes=4), START + dt.timedelta(days=9)]),  # timestamptz
        ("cost", [Decimal("0.0002"), Decimal("0.00030"), Decimal("1")]),  # numeric(p, s)
        ("prompt_tokens", ["4", "6"]),  # prepared by the field as IN does
    ],
)
def test_other_column_types(requests, field, values) -> None:
    if values == "pks":
        values = [requests[1].pk, requests[10].pk, 10**12]
    found, expected = _both(field, values)
    assert found == expected and found


def test_expression_and_excluded(requests) -> None:
    queryset = GatewayRequest.objects.annotate(lowered=Lower("correlation_id"))
    found, expected = _both("lowered", ["REQ-0001", "req-0001", "req-0002"], queryset)
    assert found == expected == {requests[1].pk, requests[2].pk}
    pks = GatewayRequest.objects.values_list("pk", flat=True)
    wanted = ["req-0001", "req-0004", None]
    assert set(pks.exclude(correlation_id__any=wanted)) == set(pks.exclude(correlation_id__in=wanted))
    # An empty list: nothing is in it (filter), everything is out of it (exclude), as with __in.
    assert set(pks.exclude(correlation_id__any=[])) == {r.pk for r in requests}
    assert set(pks.filter(correlation_id__any=[]) | pks.filter(pk=requests[0].pk)) == {requests[0].pk}


def test_foreign_key_ids_instances_and_subquery(requests) -> None:
    for request in requests[:4]:
        Flag.objects.create(request=request, source="detector:test", name="t", severity=1)
    flags = Flag.objects.values_list("request_id", flat=True)
    ids = [requests[0].pk, requests[2].pk, None]
    assert set(flags.filter(request_id__any=ids)) == set(flags.filter(request_id__in=ids)) == set(ids[:2])
    assert set(flags.filter(request__any=requests[1:3])) == {requests[1].pk, requests[2].pk}
    subquery = GatewayRequest.objects.filter(prompt_tokens__lt=2)
    assert set(flags.filter(request__any=subquery)) == {requests[0].pk, requests[1].pk}


@pytest.mark.parametrize(
    ("output_field", "value", "values", "array_type"),
    [
        (models.UUIDField(), uuid.UUID(int=7), [uuid.UUID(int=7), uuid.UUID(int=8)], "uuid"),
        (models.DateField(), dt.date(2026, 10, 1), [dt.date(2026, 10, 1)], "date"),
        (models.BooleanField(), False, [False, None], "boolean"),
        (models.CharField(max_length=3), "abcdef", ["abcdef"], "varchar"),  # no cast to varchar(3)
    ],
)
def test_types_without_a_column(requests, output_field, value, values, array_type) -> None:
    """Types no stored column has, on an annotated value: matched, and cast to the bare type."""
    queryset = GatewayRequest.objects.filter(pk=requests[0].pk).annotate(
        v=Value(value, output_field=output_field)
    )
    assert list(queryset.filter(v__any=values).values_list("pk", flat=True)) == [requests[0].pk]
    assert not queryset.filter(v__any=values[1:] or [None]).exists()
    if POSTGRES:
        assert f"::{array_type}[])" in str(queryset.filter(v__any=values).query)


@pytest.mark.parametrize("count", [0, 1, 900, 901, 5000])
def test_any_chunks_cover_the_values_in_order(count) -> None:
    values = [f"id-{i}" for i in range(count)]
    chunks = list(any_chunks(values))
    assert [value for chunk in chunks for value in chunk] == values
    size = count if POSTGRES else IN_CHUNK  # one array on PostgreSQL, bound parameters elsewhere
    assert all(0 < len(chunk) <= max(size, 1) for chunk in chunks)
    assert len(chunks) == -(-count // max(size, 1))
