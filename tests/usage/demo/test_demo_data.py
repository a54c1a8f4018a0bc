"""The demo log generator: deterministic, realistic, and shaped like Log Analytics rows."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from usage.demo.data import generate_logs, iter_logs
from usage.demo.gateway import BODY_LIMIT
from usage.ingestion.cells import Rejection
from usage.ingestion.rows import gateway_row_parse, llm_row_parse, native_row_parse
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE, TABLE_COLUMNS

START = datetime(2026, 11, 4, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=START + timedelta(hours=3), requests_per_hour=400, seed=42)


def test_the_same_seed_gives_the_same_rows_and_another_seed_does_not():
    one = generate_logs(start=START, end=START + timedelta(hours=1), requests_per_hour=30, seed=1)
    assert one == generate_logs(start=START, end=START + timedelta(hours=1), requests_per_hour=30, seed=1)
    assert one != generate_logs(start=START, end=START + timedelta(hours=1), requests_per_hour=30, seed=2)


def test_an_hour_gives_the_same_rows_whatever_range_it_is_asked_in():
    whole = list(iter_logs(start=START, end=START + timedelta(hours=2), requests_per_hour=20, seed=5))
    first = list(iter_logs(start=START, end=START + timedelta(hours=1), requests_per_hour=20, seed=5))
    second = list(
        iter_logs(
            start=START + timedelta(minutes=70), end=START + timedelta(hours=2), requests_per_hour=20, seed=5
        )
    )
    assert whole == first + second


def test_every_hour_has_exactly_the_requested_number_of_requests(logs):
    good = [r for r in map(gateway_row_parse, logs[GATEWAY]) if not isinstance(r, Rejection)]
    assert Counter(r.time.hour for r in good) == {8: 400, 9: 400, 10: 400}


def test_rows_use_only_the_declared_columns(logs):
    for table, rows in logs.items():
        declared = {name for name, _ in TABLE_COLUMNS[table]}
        for row in rows:
            assert set(row) <= declared, table


def test_it_mixes_the_cases_the_portal_must_handle(logs):
    gateway = [r for r in map(gateway_row_parse, logs[GATEWAY]) if not isinstance(r, Rejection)]
    total = len(gateway)
    codes = Counter(r.response_code for r in gateway)
    assert 0.01 < codes[429] / total < 0.08 and codes[400] and codes[500]
    assert {r.deployment for r in gateway} >= {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "text-embedding-3-small",
        "gpt-35-turbo",
        "",  # /openai/v1/ calls: the model is in the body
    }
    # Regions only, never a host: without x-ms-region ("") the region is resolved when stored.
    assert {r.backend_region for r in gateway} == {"swedencentral", "eastus2", "francecentral", ""}
    assert len({r.apim_subscription_id for r in gateway}) >= 5
    streamed = [r for r in gateway if r.response_body.startswith("data: ")]
    assert 0.08 < len(streamed) / total < 0.3
    assert any(len(r.response_body.encode()) == BODY_LIMIT for r in streamed)  # cut mid-stream
    assert any(
        r.response_body.endswith("data: [DONE]\n\n") and '"usage"' not in r.response_body for r in streamed
    )
    assert any(len(r.request_body.encode()) >= BODY_LIMIT - 3 for r in gateway)  # long prompts cut
    assert any(not r.request_body and r.response_code == 200 for r in gateway)  # no bodies logged
    assert any('"content_filter"' in r.response_body for r in gateway)
    assert any("@contoso.com" in r.request_body for r in gateway)
    assert any("+1 425 555 0134" in r.request_body for r in gateway)
    assert any(
        "gnore previous instructions" in r.request_body.lower() or "IGNORE ALL PREVIOUS" in r.request_body
        for r in gateway
    )
    assert any(r.retry_after_ms for r in gateway)
    assert any("/openai/v1/responses" in r.url for r in gateway)


def test_native_rows_carry_the_gateway_rows_apim_request_id(logs):
    gateway = [r for r in map(gateway_row_parse, logs[GATEWAY]) if not isinstance(r, Rejection)]
    native = [r for r in map(native_row_parse, logs[NATIVE]) if not isinstance(r, Rejection)]
    request_ids = {r.apim_request_id for r in gateway if r.apim_request_id}
    native_ids = {r.correlation_id for r in native}
    joined = request_ids & native_ids
    assert 0.9 < len(joined) / len(request_ids) < 1  # a few native rows never arrive
    assert native_ids - request_ids  # and a few calls bypassed APIM
    assert not {r.correlation_id for r in gateway} & native_ids  # not APIM's own CorrelationId
    assert {r.model_name for r in native} >= {"gpt-4o", "o3-mini", "text-embedding-3-small"}


def test_llm_log_rows_split_into_sequence_numbers_that_match_the_body_usage(logs):
    chunks = [r for r in map(llm_row_parse, logs[LLM_LOG]) if not isinstance(r, Rejection)]
    by_request = {}
    for chunk in chunks:
        by_request.setdefault(chunk.correlation_id, []).append(chunk)
    assert max(len(c) for c in by_request.values()) >= 3
    assert any(len(c) != len({x.sequence_number for x in c}) for c in by_request.values())  # repeats
    gateway = {
        r.correlation_id: r for r in map(gateway_row_parse, logs[GATEWAY]) if not isinstance(r, Rejection)
    }
    checked = 0
    for correlation_id, request_chunks in by_request.items():
        first = min(request_chunks, key=lambda c: c.sequence_number)
        request = gateway[correlation_id]
        if request.response_body.startswith("{") and len(request.response_body.encode()) < BODY_LIMIT:
            usage = json.loads(request.response_body)["usage"]
            assert first.prompt_tokens == usage.get("prompt_tokens", usage.get("input_tokens"))
            checked += 1
    assert checked > 50


def test_it_adds_a_few_malformed_rows_to_every_table_unless_told_not_to(logs):
    for table, parse in ((GATEWAY, gateway_row_parse), (NATIVE, native_row_parse), (LLM_LOG, llm_row_parse)):
        assert any(isinstance(parse(row), Rejection) for row in logs[table]), table
    clean = generate_logs(
        start=START, end=START + timedelta(hours=1), requests_per_hour=30, seed=1, malformed=False
    )
    assert not any(isinstance(gateway_row_parse(row), Rejection) for row in clean[GATEWAY])


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_logs(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2), requests_per_hour=1, seed=0)
