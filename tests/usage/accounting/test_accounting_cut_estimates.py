"""Cut bodies without a native row: the readable part is scaled by APIM's ResponseSize /
RequestSize less the headers' share, so a subscription-month's estimate is within 10% of the
tokens billed, where counting the readable part only falls far short.

The month comes from the demo generator (``usage.demo.data``): every streamed answer and long
prompt is cut at 8,192 bytes as APIM logs it. The native rows and LLM-log rows are left out
(their ``responseLength`` and tokens would make the scaling unnecessary). The tokens billed are
the tokenizer's count over the *whole* bodies (the generator built with its cut disabled, the
usage objects taken out): the generator's own ``usage`` numbers are a length/4 stand-in, not a
tokenizer's, so they would measure the tokenizer's disagreement with that stand-in, not the cut.
"""

import json
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from django.db.models import Sum

from usage.accounting.parse.inputs import RequestInput
from usage.accounting.parse.parser import usage_parse
from usage.demo import data as demo_data
from usage.demo import gateway as demo_gateway
from usage.ingestion.rows import gateway_row_parse
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY
from usage.models import GatewayRequest

START = datetime(2026, 6, 1, tzinfo=UTC)
END = datetime(2026, 7, 1, tzinfo=UTC)


def _gateway_rows(*, cut: bool) -> dict[str, dict]:
    original = demo_gateway._cut
    if not cut:
        demo_gateway._cut = lambda text, limit=demo_gateway.BODY_LIMIT: text  # the bodies as sent
    try:
        logs = demo_data.generate_logs(start=START, end=END, requests_per_hour=2, seed=21, malformed=False)
    finally:
        demo_gateway._cut = original
    return {row["CorrelationId"]: row for row in logs[GATEWAY]}


def _without_usage(body: str) -> str:
    """The body with its usage object taken out, so that its tokens are counted, not read."""
    if body.startswith("data:"):
        return "".join(f"{frame}\n\n" for frame in body.split("\n\n") if frame and '"usage":{' not in frame)
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict):
        document.pop("usage", None)
    return json.dumps(document)


def _parse(row: dict, *, request_body: str, response_body: str, sizes: bool):
    parsed = gateway_row_parse(row)
    return usage_parse(
        request=RequestInput(
            url=parsed.url,
            response_code=parsed.response_code,
            request_body=request_body,
            response_body=response_body,
            request_headers=parsed.request_headers,
            response_headers=parsed.response_headers,
            operation_id=parsed.operation_id,
            deployment=parsed.deployment,
            api_version=parsed.api_version,
            request_size=parsed.request_size if sizes else None,
            response_size=parsed.response_size if sizes else None,
        )
    )


@pytest.fixture(scope="module")
def month():
    """The cut gateway rows of a month, with their billed and readable-only tokens per subscription."""
    logged, whole = _gateway_rows(cut=True), _gateway_rows(cut=False)
    cut = {
        key: row
        for key, row in logged.items()
        if row["ResponseCode"] == 200
        and (
            row["RequestBody"] != whole[key]["RequestBody"]
            or row["ResponseBody"] != whole[key]["ResponseBody"]
        )
    }
    billed: dict[str, int] = defaultdict(int)
    readable_only: dict[str, int] = defaultdict(int)
    estimated = []
    for key, row in cut.items():
        old = _parse(row, request_body=row["RequestBody"], response_body=row["ResponseBody"], sizes=False)
        if old.token_source != "estimated":  # a cut prompt whose answer reports its usage
            continue
        estimated.append(row)
        subscription = row["ApimSubscriptionId"]
        readable_only[subscription] += old.total_tokens
        full = whole[key]
        truth = _parse(
            full,
            request_body=full["RequestBody"],
            response_body=_without_usage(full["ResponseBody"]),
            sizes=False,
        )
        assert truth.token_source == "estimated" and not truth.is_truncated
        billed[subscription] += truth.total_tokens
    return estimated, dict(billed), dict(readable_only)


def test_the_month_has_cut_streams_and_cut_prompts_in_every_subscription_that_logs_bodies(month):
    rows, billed, _ = month
    streamed = [r for r in rows if r["ResponseBody"].startswith("data:")]
    long_prompts = [r for r in rows if len(r["RequestBody"].encode()) == demo_gateway.BODY_LIMIT]
    assert len(streamed) > 100 and len(long_prompts) > 5
    assert len(billed) == 5  # sub-batch-jobs logs no bodies


@pytest.mark.django_db
def test_estimates_of_cut_bodies_are_within_ten_percent_per_subscription_month(month):
    rows, billed, readable_only = month
    rows_store(table=GATEWAY, rows=rows)  # no native rows, no LLM log

    stored = GatewayRequest.objects.all()
    assert stored.count() == len(rows)
    assert set(stored.values_list("token_source", flat=True)) == {"estimated"}
    notes = set(stored.filter(is_streaming=True).values_list("usage_note", flat=True))
    assert all(
        note.startswith("response cut, completion scaled by ResponseSize less headers") for note in notes
    )
    assert stored.filter(usage_note__contains="prompt scaled by RequestSize less headers").exists()

    estimated = dict(
        stored.values("apim_subscription_id")
        .annotate(tokens=Sum("total_tokens"))
        .values_list("apim_subscription_id", "tokens")
    )
    errors = {sub: (estimated[sub] - billed[sub]) / billed[sub] for sub in billed}
    old_errors = {sub: (readable_only[sub] - billed[sub]) / billed[sub] for sub in billed}
    assert all(abs(error) <= 0.10 for error in errors.values()), errors
    # Counting the readable part only is a lower bound, and far below for every subscription.
    assert all(readable_only[sub] < billed[sub] for sub in billed)
    assert all(error < -0.10 for error in old_errors.values()), (old_errors, errors)


def test_a_response_size_no_larger_than_the_readable_part_is_not_scaled():
    full = demo_gateway._dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True})
    body = "data: " + '{"choices":[{"delta":{"content":"' + "word " * 3000
    result = usage_parse(
        request=RequestInput(
            url="https://apim/openai/deployments/gpt-4o/chat/completions",
            response_code=200,
            request_body=full,
            response_body=body[:8192],
            response_size=8000,  # compressed, or headers only: nothing to scale by
        )
    )
    assert result.reason == "response cut, completion counted from the readable part only"


def test_logged_headers_larger_than_the_default_are_taken_off_the_response_size():
    from usage.accounting.parse.estimates import RESPONSE_HEADER_BYTES, _headers_bytes

    headers = {f"x-custom-{i}": "v" * 60 for i in range(20)}
    assert _headers_bytes(headers, RESPONSE_HEADER_BYTES) > RESPONSE_HEADER_BYTES
    assert (
        _headers_bytes({"content-type": "application/json"}, RESPONSE_HEADER_BYTES) == RESPONSE_HEADER_BYTES
    )
