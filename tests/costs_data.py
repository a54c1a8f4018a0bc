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
    )
    if native_resource_id is not None:
        NativeLog.objects.create(
            correlation_id=apim_request_id, time=request.time, resource_id=native_resource_id
        )
    return request
