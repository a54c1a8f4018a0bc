"""Builders for the costs tests: invoice lines, requests and native rows, and export files."""

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from costs.models import CostLine
from usage.models import GatewayRequest, NativeLog

ACCOUNT = "/subscriptions/0000/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/aoai-sweden"
_counter = {"n": 0}


def cost_line(**fields: Any) -> CostLine:
    _counter["n"] += 1
    values: dict[str, Any] = {
        "billing_period": dt.date(2026, 3, 1),
        "date": dt.date(2026, 3, 5),
        "resource_id": ACCOUNT,
        "meter_name": "gpt 4o 1120 Inp glbl Tokens",
        "meter_category": "Foundry Models",
        "meter_subcategory": "Azure OpenAI",
        "charge_type": "Usage",
        "unit_of_measure": "1K",
        "currency": "USD",
    }
    values.update(fields)
    values.setdefault("key", hashlib.sha256(str(_counter["n"]).encode()).hexdigest())
    return CostLine.objects.create(**values)


def gateway_request(
    *,
    subscription: str,
    model: str = "gpt-4o",
    host: str = "aoai-sweden.openai.azure.com",
    prompt: int = 0,
    cached: int = 0,
    completion: int = 0,
    cost: str = "0",
    time: dt.datetime | None = None,
    native_resource_id: str | None = None,
    **fields: Any,
) -> GatewayRequest:
    _counter["n"] += 1
    n = _counter["n"]
    apim_request_id = f"native-{n}" if native_resource_id is not None else ""
    request = GatewayRequest.objects.create(
        correlation_id=f"req-{n}",
        time=time or dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC),
        apim_subscription_id=subscription,
        model=model,
        backend_url=f"https://{host}/openai/deployments/{model}/chat/completions?api-version=2024-10-21",
        apim_request_id=apim_request_id,
        prompt_tokens=prompt,
        cached_tokens=cached,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cost=Decimal(cost),
        **fields,
    )
    if native_resource_id is not None:
        NativeLog.objects.create(
            correlation_id=apim_request_id, time=request.time, resource_id=native_resource_id
        )
    return request


def reconciliation_month() -> None:
    """March 2026 (docs/chargeback.md, "Reconciliation"): aoai-sweden billed 20% under the list
    price of gpt-4o, with estimated tokens, logs missing, an unpriced model and a PTU; aoai-france
    billed with no request; aoai-us used with no invoice line."""
    from usage.models import ModelPrice, TokenSource

    price = ModelPrice.objects.create(
        model="gpt-4o",
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        input_per_1m=Decimal("2.50"),
        cached_input_per_1m=Decimal("1.25"),
        output_per_1m=Decimal("10"),
        source=ModelPrice.Source.ADMIN,
    )
    priced = {"price_version": price.version, "is_priced": True, "token_source": TokenSource.REPORTED}
    # 400k input + 100k output at list: 1.00 + 1.00.
    gateway_request(subscription="sub-a", prompt=400_000, completion=100_000, cost="2.00", **priced)
    # Streamed, tokens estimated: 100k input, 100k cached, 50k output: 0.25 + 0.125 + 0.50.
    gateway_request(subscription="sub-b", model="gpt-4o-2024-11-20", prompt=200_000, cached=100_000,
                    completion=50_000, cost="0.875", **{**priced, "token_source": TokenSource.ESTIMATED})  # fmt: skip
    # No price known for gpt-4o-mini here.
    gateway_request(subscription="sub-c", model="gpt-4o-mini", prompt=1000, cost="0",
                    token_source=TokenSource.REPORTED, is_priced=False)  # fmt: skip
    # A provisioned deployment: its share of the commitment.
    gateway_request(subscription="sub-a", prompt=1000, cost="5.00", price_version="ptu#1", is_priced=True,
                    token_source=TokenSource.REPORTED)  # fmt: skip
    # An account no invoice line names.
    gateway_request(subscription="sub-d", host="aoai-us.openai.azure.com", prompt=10_000, cost="0.025", **priced)
    # Input: 550k tokens at 2.00 per 1M (list 2.50): 50k more than logged, 100k of the logged estimated.
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", quantity=Decimal(550), billed_cost=Decimal("1.10"))
    cost_line(meter_name="gpt 4o 1120 cached Inp glbl Tokens", quantity=Decimal(100), billed_cost=Decimal("0.10"))
    # Output: 250k at 8 per 1M: 100k more than logged, 50k of the logged estimated.
    cost_line(meter_name="gpt 4o 1120 Outp glbl Tokens", quantity=Decimal(150), billed_cost=Decimal("1.20"))
    cost_line(meter_name="gpt 4o 1120 Outp glbl Tokens", quantity=Decimal(100), billed_cost=Decimal("0.80"),
              date=dt.date(2026, 3, 31))  # fmt: skip
    cost_line(meter_name="gpt 4o mini 0718 Inp glbl Tokens", quantity=Decimal(1), billed_cost=Decimal("0.00015"))
    cost_line(meter_name="Provisioned Managed Global Unit", quantity=Decimal(720), unit_of_measure="1 Hour",
              billed_cost=Decimal("720.00"))  # fmt: skip
    cost_line(meter_name="gpt 4o 1120 Batch Inp glbl Tokens", quantity=Decimal(10), billed_cost=Decimal("4.00"))
    cost_line(meter_name="gpt 4o weirdly-worded glbl Tokens", billed_cost=Decimal("1.00"))
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", quantity=Decimal(8000), billed_cost=Decimal("20.00"),
              resource_id=ACCOUNT.replace("aoai-sweden", "aoai-france"))  # fmt: skip
