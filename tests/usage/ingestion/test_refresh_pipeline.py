"""requests_refresh: each request loaded and decoded once for usage and flags; late native rows
skip the flags (which do not read them) and every arrival order ends with the same usage and flags."""

import gc
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

import audit.services.flags
import usage.ingestion.hooks
from audit.models import Flag, ReviewItem
from usage.accounting.services import usage_refresh
from usage.db.json import json_loads, json_shared
from usage.demo.data import generate_logs
from usage.ingestion.pipeline import requests_refresh
from usage.ingestion.rows import PARSERS
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import (
    Deployment,
    DeploymentType,
    GatewayRequest,
    LlmLogChunk,
    NativeLog,
    ProvisionedCommitment,
    UsageHourly,
)

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
END = datetime(2026, 11, 2, 11, tzinfo=UTC)
USAGE = (
    "model",
    "deployment",
    "prompt_tokens",
    "completion_tokens",
    "token_source",
    "cost",
    "content_filter",
)


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=60, seed=5)


@pytest.fixture
def flag_calls(monkeypatch):
    calls: list[list[str]] = []
    real = audit.services.flags.flags_evaluate

    def counting(*, correlation_ids, **options):
        calls.append(list(correlation_ids))
        return real(correlation_ids=correlation_ids, **options)

    monkeypatch.setattr(usage.ingestion.hooks, "_hooks", [counting])  # the hook audit registers
    return calls


def _outcome():
    usage = sorted(GatewayRequest.objects.values_list("correlation_id", *USAGE))
    flags = sorted(
        (
            f.request.correlation_id,
            f.source,
            f.severity,
            json.dumps(f.spans),
            json.dumps(f.detail, sort_keys=True),
        )
        for f in Flag.objects.select_related("request")
    )
    items = sorted(ReviewItem.objects.values_list("request__correlation_id", "severity"))
    hourly = sorted(
        UsageHourly.objects.values_list("hour", "deployment", "model", "requests", "prompt_tokens")
    )
    return usage, flags, items, hourly


def _clear():
    for model in (Flag, ReviewItem, GatewayRequest, NativeLog, LlmLogChunk, UsageHourly):
        model.objects.all().delete()


@pytest.mark.django_db
def test_every_arrival_order_ends_with_the_same_usage_flags_and_rollups(logs, flag_calls):
    orders = [(GATEWAY, NATIVE, LLM_LOG), (NATIVE, LLM_LOG, GATEWAY), (LLM_LOG, GATEWAY, NATIVE)]
    outcomes = []
    for order in orders:
        _clear()
        for table in order:
            rows_store(table=table, rows=logs[table])
        outcomes.append(_outcome())
    assert outcomes[0] == outcomes[1] == outcomes[2]
    usage, flags, _items, hourly = outcomes[0]
    assert flags and hourly
    assert any(row[1] for row in usage)  # models were read (from the native rows, among others)


@pytest.mark.django_db
def test_a_late_native_partner_refreshes_usage_but_not_flags(logs, flag_calls):
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    assert flag_calls  # the gateway rows were evaluated
    flag_calls.clear()
    GatewayRequest.objects.update(model="")
    late = rows_store(table=NATIVE, rows=logs[NATIVE])
    assert late.correlation_ids and flag_calls == []
    refreshed = GatewayRequest.objects.filter(correlation_id__in=late.correlation_ids)
    assert not refreshed.filter(model="").exists()
    # LLM-log chunks are read by the flags (the conversation of cut bodies): they re-evaluate.
    chunks = rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    assert chunks.correlation_ids and set(sum(flag_calls, [])) == chunks.correlation_ids


@pytest.mark.django_db
def test_requests_refresh_loads_each_request_once(logs):
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=NATIVE, rows=logs[NATIVE])
    ids = list(GatewayRequest.objects.values_list("correlation_id", flat=True))
    assert len(ids) > 100
    with CaptureQueriesContext(connection) as queries:
        requests_refresh(correlation_ids=ids)
    request_loads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT")
        and 'FROM "usage_gatewayrequest"' in q["sql"]
        and "request_body" in q["sql"]
    ]
    assert len(request_loads) == 1


def test_json_shared_decodes_a_text_once_and_returns_the_same_result():
    text = '{"a": [1, 2, {"b": "c"}]}'
    outside = json_loads(text)
    assert outside == json.loads(text) and json_loads(text) is not outside  # no memo outside
    with json_shared():
        first = json_loads(text)
        assert json_loads(text) is first and first == json.loads(text)
        failures = []
        for _ in range(2):  # a failure is remembered and raised again, the same error
            with pytest.raises(json.JSONDecodeError) as error:
                json_loads('{"cut": "at 8')
            failures.append((error.value.msg, error.value.pos, error.value.doc))
        assert failures[0] == failures[1] and failures[0][2] == '{"cut": "at 8'
    with json_shared():
        assert json_loads(text) is not first  # each block starts empty


def test_a_json_shared_block_leaves_no_cycle_behind():
    """A remembered failure must not keep its traceback (whose frame holds the memo): that cycle kept
    every body decoded in a block alive until the cycle collector ran."""
    gc.collect()
    gc.disable()
    try:
        with json_shared():
            json_loads('{"a": [1, 2]}')
            for _ in range(2):
                with pytest.raises(json.JSONDecodeError):
                    json_loads('{"cut": "at 8')
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.django_db
def test_flags_from_the_pipeline_equal_a_later_re_evaluation():
    """The pipeline hands flags_evaluate the rows usage_refresh just wrote; what it reads of them
    (content_filter) must be what the database gives back (JSONB orders keys), else a later
    re-evaluation would rewrite every Azure-filter flag's detail."""
    from tests.factories import chat_request_create

    request = chat_request_create("c-filtered", completion="Here you go")
    results = {
        "violence": {"severity": "medium", "filtered": True},
        "hate": {"severity": "low", "filtered": False},
    }
    request.response_body = json.dumps(
        {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "x"},
                    "content_filter_results": results,
                }
            ],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": results}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )
    request.save()
    requests_refresh(correlation_ids=["c-filtered"])
    assert Flag.objects.filter(source="detector:azure_content_filter").exists()
    stats = audit.services.flags.flags_evaluate(correlation_ids=["c-filtered"])
    assert (stats.flags_created, stats.flags_updated, stats.flags_deleted) == (0, 0, 0)


def _refreshed_again_changes_nothing(ids: list[str]) -> None:
    """What the refresh of stored requests computes equals what was written with them."""
    assert usage_refresh(correlation_ids=ids) == 0
    stats = audit.services.flags.flags_evaluate(correlation_ids=ids)
    assert (stats.flags_created, stats.flags_updated, stats.flags_deleted) == (0, 0, 0)
    assert (stats.items_created, stats.items_deleted) == (0, 0)


@pytest.mark.django_db
def test_new_requests_are_written_once_with_their_usage_cost_and_flags(logs, monkeypatch):
    """A gateway batch whose partners are stored writes each request once, usage included: no
    read-back of the new rows and no UPDATE of them; a later refresh finds nothing to change."""
    import usage.accounting.services

    updated = []
    real_update = usage.accounting.services.rows_update

    def recording_update(*, rows, fields, **options):
        updated.extend(rows)
        return real_update(rows=rows, fields=fields, **options)

    monkeypatch.setattr(usage.accounting.services, "rows_update", recording_update)
    rows_store(table=NATIVE, rows=logs[NATIVE])
    rows_store(table=LLM_LOG, rows=logs[LLM_LOG])
    with CaptureQueriesContext(connection) as queries:
        stored = rows_store(table=GATEWAY, rows=logs[GATEWAY])
    request_reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "request_body" in q["sql"]
    ]
    assert (updated, request_reads) == ([], [])

    ids = list(GatewayRequest.objects.values_list("correlation_id", flat=True))
    assert stored.stored == len(ids) > 100
    assert not GatewayRequest.objects.filter(usage_computed_at__isnull=True).exists()
    assert GatewayRequest.objects.exclude(model="").exists() and Flag.objects.exists()
    _refreshed_again_changes_nothing(ids)


@pytest.mark.django_db
def test_new_requests_on_a_provisioned_deployment_get_their_ptu_share(logs):
    """PTU cost needs the month's stored tokens, these requests' included: priced after the write."""
    parsed = (PARSERS[GATEWAY](row) for row in logs[GATEWAY])
    deployments = Counter(getattr(row, "deployment", "") for row in parsed)
    ptu, _ = deployments.most_common(1)[0]
    Deployment.objects.create(name=ptu, deployment_type=DeploymentType.PROVISIONED)
    ProvisionedCommitment.objects.create(
        deployment=ptu, month=START.date().replace(day=1), amount=Decimal(600)
    )
    rows_store(table=NATIVE, rows=logs[NATIVE])
    rows_store(table=GATEWAY, rows=logs[GATEWAY])

    on_ptu = GatewayRequest.objects.filter(deployment=ptu, total_tokens__gt=0)
    assert on_ptu.count() > 10
    # One chunk of requests: the rate is the commitment over all of their tokens.
    assert abs(on_ptu.aggregate(c=Sum("cost"))["c"] - Decimal(600)) < Decimal("0.01")
    _refreshed_again_changes_nothing(list(GatewayRequest.objects.values_list("correlation_id", flat=True)))
