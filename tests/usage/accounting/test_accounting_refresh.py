"""usage_refresh through the ingestion pipeline: stored rows in, usage, cost and rollups out."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from tests.factories import gateway_request_create
from tests.support import accounting_samples as s
from usage.ingestion.pipeline import requests_refresh
from usage.models import GatewayRequest, LlmLogChunk, ModelPrice, NativeLog, UsageHourly

pytestmark = pytest.mark.django_db

T = dt.datetime(2026, 11, 3, 9, 15, tzinfo=dt.UTC)
USAGE = {
    "completion_tokens": 100,
    "completion_tokens_details": {"reasoning_tokens": 0},
    "prompt_tokens": 1000,
    "prompt_tokens_details": {"cached_tokens": 400},
    "total_tokens": 1100,
}


def gateway(
    cid: str,
    *,
    request_body: str = "",
    response_body: str = "",
    code: int = 200,
    url: str = s.CHAT_URL,
    apim_request_id: str = "",
    time: dt.datetime = T,
) -> GatewayRequest:
    return gateway_request_create(
        correlation_id=cid,
        time=time,
        url=url,
        response_code=code,
        request_body=request_body,
        response_body=response_body,
        apim_request_id=apim_request_id,
        apim_subscription_id="sub-finance",
    )


def default_price(model: str) -> ModelPrice:
    return ModelPrice.objects.get(model=model, source=ModelPrice.Source.GENAI_PRICES, deployment="")


def test_it_fills_usage_and_cost_of_stored_requests_and_their_rollups():
    gateway(
        "c-reported",
        request_body=s.chat_request(s.MESSAGES),
        response_body=s.chat_response(usage=USAGE),
        apim_request_id="a-1",
    )
    NativeLog.objects.create(
        correlation_id="a-1",
        time=T,
        model_name="gpt-4o",
        model_version="2024-11-20",
        model_deployment="gpt4o-prod",
    )
    full, _ = s.sse(s.chat_stream_chunks([" word"] * 900)), None
    gateway("c-cut-stream", request_body=s.chat_request(s.MESSAGES, stream=True), response_body=s.cut(full))
    LlmLogChunk.objects.create(
        correlation_id="c-cut-stream",
        request_id="r",
        sequence_number=1,
        time=T,
        request_messages='[{"role":"user"}]',
    )
    LlmLogChunk.objects.create(
        correlation_id="c-cut-stream",
        request_id="r",
        sequence_number=0,
        time=T,
        model_name="gpt-4o-2024-08-06",
        prompt_tokens=40,
        completion_tokens=900,
        total_tokens=940,
    )
    gateway("c-429", response_body='{"error":{"code":"429","message":"Rate limit"}}', code=429)
    gateway(
        "c-unknown-model",
        request_body=s.chat_request(s.MESSAGES),
        response_body=s.chat_response(model="contoso-llm-7b", usage=USAGE),
    )

    requests_refresh(correlation_ids=["c-reported", "c-cut-stream", "c-429", "c-unknown-model"])

    reported = GatewayRequest.objects.get(correlation_id="c-reported")
    price = default_price("gpt-4o")
    expected = (
        Decimal(600) * price.input_per_1m
        + Decimal(400) * price.cached_input_per_1m
        + Decimal(100) * price.output_per_1m
    ) / Decimal(1_000_000)
    assert (reported.operation, reported.model, reported.model_version, reported.deployment) == (
        "chat",
        "gpt-4o",
        "2024-11-20",
        "gpt4o-prod",
    )
    assert (reported.prompt_tokens, reported.cached_tokens, reported.completion_tokens) == (1000, 400, 100)
    assert reported.token_source == "reported" and reported.is_priced
    assert reported.cost == expected.quantize(Decimal("0.00000001"))
    assert reported.price_version == f"genai-prices#{price.pk}"
    assert reported.usage_computed_at is not None

    cut = GatewayRequest.objects.get(correlation_id="c-cut-stream")
    assert (cut.is_streaming, cut.is_truncated, cut.token_source, cut.total_tokens) == (
        True,
        True,
        "llm_log",
        940,
    )
    assert cut.cost > 0

    throttled = GatewayRequest.objects.get(correlation_id="c-429")
    assert (throttled.token_source, throttled.cost, throttled.is_priced) == ("none", 0, True)

    unknown = GatewayRequest.objects.get(correlation_id="c-unknown-model")
    assert (unknown.model, unknown.cost, unknown.is_priced, unknown.total_tokens) == (
        "contoso-llm-7b",
        0,
        False,
        1100,
    )

    totals = UsageHourly.objects.aggregate(
        cost=Sum("cost"), tokens=Sum("total_tokens"), unpriced=Sum("unpriced_tokens")
    )
    assert totals == {"cost": reported.cost + cut.cost, "tokens": 1100 + 940 + 1100, "unpriced": 1100}


def test_refreshing_twice_changes_nothing():
    gateway(
        "c-1",
        request_body=s.chat_request(s.MESSAGES, stream=True),
        response_body=s.sse(s.chat_stream_chunks(["Hi", "!"])),
    )
    requests_refresh(correlation_ids=["c-1"])
    first = GatewayRequest.objects.values("prompt_tokens", "completion_tokens", "cost", "token_source").get()
    requests_refresh(correlation_ids=["c-1"])
    assert (
        GatewayRequest.objects.values("prompt_tokens", "completion_tokens", "cost", "token_source").get()
        == first
    )
    assert first["token_source"] == "estimated" and first["completion_tokens"] == 2


def test_a_late_native_partner_fills_in_the_model():
    body = s.cut(s.chat_response("x " * 6000))  # the model name is after the cut
    gateway("c-late", request_body=s.chat_request(s.MESSAGES), response_body=body, apim_request_id="a-late")
    requests_refresh(correlation_ids=["c-late"])
    assert GatewayRequest.objects.get().model == ""
    NativeLog.objects.create(correlation_id="a-late", time=T, model_name="gpt-4o-mini", response_length=13000)
    requests_refresh(correlation_ids=["c-late"])
    row = GatewayRequest.objects.get()
    assert row.model == "gpt-4o-mini" and row.is_priced and row.is_truncated
    assert "scaled by responseLength" in row.usage_note


def test_it_loads_a_batch_in_a_fixed_number_of_queries():
    def run(n: int) -> int:
        GatewayRequest.objects.all().delete()
        ids = []
        for i in range(n):
            gateway(
                f"q-{i}",
                request_body=s.chat_request(s.MESSAGES),
                response_body=s.chat_response(usage=USAGE),
                apim_request_id=f"a-{i}",
            )
            ids.append(f"q-{i}")
        from usage.accounting import usage_refresh

        with CaptureQueriesContext(connection) as queries:
            usage_refresh(correlation_ids=ids)
        return len(queries)

    assert run(3) == run(30)


def test_a_bad_row_does_not_stop_the_batch():
    bad_filter = s.dumps(
        {"choices": [], "prompt_filter_results": [{"content_filter_results": {"h\x00": {"filtered": True}}}]}
    )
    gateway("c-garbage", request_body="\x01{{{", response_body="data: {not json\n\ndata: " + bad_filter)
    gateway("c-good", request_body=s.chat_request(s.MESSAGES), response_body=s.chat_response(usage=USAGE))
    requests_refresh(correlation_ids=["c-garbage", "c-good"])
    good = GatewayRequest.objects.get(correlation_id="c-good")
    assert good.total_tokens == 1100
    garbage = GatewayRequest.objects.get(correlation_id="c-garbage")
    assert garbage.usage_computed_at is not None


@pytest.mark.parametrize(
    "poison",
    ["\\u0000", "\\ud800", "\\udfff\\u0000x", "\u00e9\\u0000"],
    ids=["nul", "lone surrogate", "surrogate and nul", "accent and nul"],
)
def test_escaped_nul_and_lone_surrogates_in_a_body_are_stored_cleaned(poison):
    response = (
        '{"choices":[{"finish_reason":"'
        + poison
        + '","index":0,"message":{"content":"hi","role":"assistant"},'
        '"content_filter_results":{"hate' + poison + '":{"filtered":true,"severity":"high' + poison + '"}}}],'
        '"model":"gpt-4o' + poison + '","prompt_filter_results":[{"prompt_index":0,"content_filter_results":'
        '{"custom_blocklists":[{"filtered":true,"id":"' + poison + '"}]}}],'
        '"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'
    )
    gateway("c-poison", request_body=s.chat_request(s.MESSAGES), response_body=response)
    requests_refresh(correlation_ids=["c-poison"])
    row = GatewayRequest.objects.get()
    assert row.total_tokens == 4 and row.model.startswith("gpt-4o")
    assert "\x00" not in row.model + row.finish_reason + str(row.content_filter)


def test_a_refresh_writes_only_the_rows_whose_usage_or_cost_changed():
    from usage.accounting import usage_refresh

    gateway("w-reported", request_body=s.chat_request(s.MESSAGES), response_body=s.chat_response(usage=USAGE),
            apim_request_id="a-w1")  # fmt: skip
    gateway("w-late", request_body=s.chat_request(s.MESSAGES), response_body=s.chat_response(usage=USAGE),
            apim_request_id="a-w2")  # fmt: skip
    gateway("w-garbage", request_body="\x01{{{", response_body="not json")
    ids = ["w-reported", "w-late", "w-garbage"]
    assert usage_refresh(correlation_ids=ids) == 3  # first computation: every row written
    first = {r.correlation_id: r.usage_computed_at for r in GatewayRequest.objects.all()}
    assert all(first.values())

    with CaptureQueriesContext(connection) as queries:
        assert usage_refresh(correlation_ids=ids) == 0  # same inputs: nothing written
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]

    # A late native row that changes the model of one request: only that one is written.
    NativeLog.objects.create(
        correlation_id="a-w2", time=T, model_name="gpt-4o-mini", model_version="2024-07-18"
    )
    assert usage_refresh(correlation_ids=ids) == 1
    rows = {r.correlation_id: r for r in GatewayRequest.objects.all()}
    assert rows["w-late"].model_version == "2024-07-18" and rows["w-late"].usage_computed_at > first["w-late"]
    assert rows["w-reported"].usage_computed_at == first["w-reported"]
    # A price change reprices: cost differs, so the rows are written again.
    price = default_price(rows["w-reported"].model)
    price.input_per_1m = price.input_per_1m * 2
    price.save()
    assert usage_refresh(correlation_ids=ids) >= 1
    assert GatewayRequest.objects.get(correlation_id="w-reported").cost > rows["w-reported"].cost
