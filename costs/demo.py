"""The embedded demo's invoice: a Cost Management export of the demo's own traffic, imported.

``manage.py demo`` runs ``demo_costs_import`` (registered in ``costs.apps``) once the traffic is
stored. The export is what Azure would bill for the stored requests: one cost details line (EA
spelling) per UTC day, Azure OpenAI account and meter, at the computed cost (``costs.computed``'s
split of each request's cost over input, cached input and output) less a negotiated discount on
input tokens. It also bills an account no request went to (it stays unallocated) and a storage
and an APIM line (not Azure OpenAI: ignored), so every part of the reconciliation page shows.
"""

import csv
import datetime as dt
import os
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate

from usage.demo.catalog import AZURE_SUBSCRIPTION
from usage.models import GatewayRequest, NativeLog

from .computed import prices_by_version, request_sums_split
from .matching import host_account
from .meters import TokenKind
from .services import cost_file_import

INPUT_DISCOUNT = Decimal("0.12")
_EIGHT = Decimal("0.00000001")
_AOAI_CATEGORY = ("Foundry Models", "Azure OpenAI")
# Meter names as Azure writes them, for the demo's models (costs.meters reads every one).
_METERS: dict[str, dict[str, str]] = {
    "gpt-4o": {
        TokenKind.INPUT: "gpt 4o 1120 Inp glbl Tokens",
        TokenKind.CACHED_INPUT: "gpt 4o 1120 cached Inp glbl Tokens",
        TokenKind.OUTPUT: "gpt 4o 1120 Outp glbl Tokens",
    },
    "gpt-4o-mini": {
        TokenKind.INPUT: "gpt-4o-mini-0718-Inp-glbl Tokens",
        TokenKind.CACHED_INPUT: "gpt 4o mini 0718 cached Inp glbl Tokens",
        TokenKind.OUTPUT: "gpt-4o-mini-0718-Outp-glbl Tokens",
    },
    "gpt-4.1": {
        TokenKind.INPUT: "gpt 4.1 Inp glbl Tokens",
        TokenKind.CACHED_INPUT: "gpt 4.1 cchd Inp glbl Tokens",
        TokenKind.OUTPUT: "gpt 4.1 Outp glbl Tokens",
    },
    "o3-mini": {
        TokenKind.INPUT: "o3 mini 0131 Inp glbl Tokens",
        TokenKind.CACHED_INPUT: "o3 mini 0131 cached input glbl Tokens",
        TokenKind.OUTPUT: "o3 mini 0131 Outp glbl Tokens",
    },
    "text-embedding-3-small": {TokenKind.INPUT: "text-embedding-3-small Tokens"},
    "gpt-35-turbo": {
        TokenKind.INPUT: "gpt-35-turbo-0125 Input-regional Tokens",
        TokenKind.CACHED_INPUT: "gpt 35 turbo 0125 cached Inp regnl Tokens",
        TokenKind.OUTPUT: "gpt-35-turbo-0125 Output-regional Tokens",
    },
}
_RESOURCE_GROUP = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/rg-ai-backends/providers"
UNMATCHED_ACCOUNT = f"{_RESOURCE_GROUP}/Microsoft.CognitiveServices/accounts/aoai-contoso-wus3"
_STORAGE = f"{_RESOURCE_GROUP}/Microsoft.Storage/storageAccounts/stcontosologs"
_APIM = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/rg-ai-gateway/providers/Microsoft.ApiManagement/service/apim-contoso-ai"  # noqa: E501

HEADER = (
    "Date", "BillingPeriodStartDate", "ResourceId", "MeterName", "MeterId", "MeterCategory",
    "MeterSubCategory", "Quantity", "UnitOfMeasure", "CostInBillingCurrency", "BillingCurrency",
    "ChargeType", "PricingModel", "ConsumedService",
)  # fmt: skip


def demo_costs_import(*, now: dt.datetime, path: Path | None = None) -> list[str]:
    """Write the export of every stored request before ``now`` and import it (the real path)."""
    if path is None:  # a file of its own: demos (and tests) may run side by side
        handle, name = tempfile.mkstemp(prefix="aoai-demo-cost-export-", suffix=".csv")
        os.close(handle)
        path = Path(name)
    rows = demo_cost_rows(until=now)
    demo_cost_export_write(path=path, rows=rows)
    result = cost_file_import(path=path)
    if result.error:
        return [f"Cost export {path}: {result.error}"]
    return [
        f"Cost export of the demo traffic ({int(INPUT_DISCOUNT * 100)}% off input tokens) written to"
        f" {path} and imported: {result.read} lines = {result.stored} stored + {result.updated} updated"
        f" + {result.unchanged} unchanged + {result.ignored} ignored (not Azure OpenAI)"
        f" + {result.rejected} rejected"
    ]


def demo_cost_export_write(*, path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


def demo_cost_rows(*, until: dt.datetime) -> list[dict[str, str]]:
    """The export's lines: the stored requests' days, accounts and meters, then the extra lines."""
    billed: dict[tuple[dt.date, str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    rows = _day_sums(until=until)
    prices = prices_by_version({row["price_version"] for row in rows})
    for row in rows:
        resource_id = row["resource_id"]
        if not resource_id:
            continue
        for kind, model, tokens, cost in request_sums_split(row, prices):
            meter = _METERS.get(model, {}).get(kind)
            if meter is None or not tokens:
                continue  # a model or kind the demo's invoice has no meter for: computed only
            figures = billed[(row["day"], resource_id, meter)]
            figures[0] += Decimal(tokens)
            figures[1] += cost * (1 - INPUT_DISCOUNT) if kind == TokenKind.INPUT else cost
    lines = [
        _line(day, resource_id, meter, quantity=tokens / 1000, cost=cost)
        for (day, resource_id, meter), (tokens, cost) in sorted(billed.items())
    ]
    for day in sorted({day for day, _, _ in billed}):
        lines.append(
            _line(
                day,
                UNMATCHED_ACCOUNT,
                _METERS["gpt-4o"][TokenKind.INPUT],
                quantity=Decimal(1500),
                cost=Decimal("3.30"),
            )
        )
        lines.append(
            _line(
                day,
                _STORAGE,
                "Hot LRS Data Stored",
                quantity=Decimal(40),
                cost=Decimal("0.80"),
                category=("Storage", "Tiered Block Blob"),
                unit="1 GB/Month",
                service="Microsoft.Storage",
            )
        )
        lines.append(_line(day, _APIM, "Standard v2 Unit", quantity=Decimal(1), cost=Decimal("23.33"),
                           category=("API Management", "Standard v2"), unit="1/Day",
                           service="Microsoft.ApiManagement"))  # fmt: skip
    return lines


def _line(
    day: dt.date,
    resource_id: str,
    meter: str,
    *,
    quantity: Decimal,
    cost: Decimal,
    category: tuple[str, str] = _AOAI_CATEGORY,
    unit: str = "1K",
    service: str = "Microsoft.CognitiveServices",
) -> dict[str, str]:
    return {
        "Date": day.strftime("%m/%d/%Y"),
        "BillingPeriodStartDate": day.replace(day=1).strftime("%m/%d/%Y"),
        "ResourceId": resource_id,
        "MeterName": meter,
        "MeterId": "",
        "MeterCategory": category[0],
        "MeterSubCategory": category[1],
        "Quantity": str(quantity.quantize(_EIGHT)),
        "UnitOfMeasure": unit,
        "CostInBillingCurrency": str(cost.quantize(_EIGHT)),
        "BillingCurrency": "USD",
        "ChargeType": "Usage",
        "PricingModel": "OnDemand",
        "ConsumedService": service,
    }


def _day_sums(*, until: dt.datetime) -> list[dict[str, Any]]:
    """Stored requests summed per UTC day, account and price (as ``costs.computed`` reads them)."""
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id")).exclude(correlation_id="")
    rows = (
        GatewayRequest.objects.filter(time__lt=until)
        .annotate(
            day=TruncDate("time", tzinfo=dt.UTC),
            native_resource=Subquery(native.values("resource_id")[:1]),
        )
        .values(
            "day", "native_resource", "backend_url", "model", "price_version", "token_source", "is_priced"
        )
        .annotate(
            prompt=Sum("prompt_tokens"),
            cached=Sum("cached_tokens"),
            completion=Sum("completion_tokens"),
            cost_sum=Sum("cost"),
        )
        .order_by()
    )
    found: list[dict[str, Any]] = []
    for summed in rows:
        row: dict[str, Any] = dict(summed)
        resource = (row.pop("native_resource") or "").strip().lower()
        url = row.pop("backend_url") or ""
        if not resource:  # no native row: the account named by the backend's custom subdomain
            name = host_account((urlsplit(url).hostname or "").lower())
            resource = (
                f"{_RESOURCE_GROUP}/Microsoft.CognitiveServices/accounts/{name}".lower() if name else ""
            )
        row["resource_id"] = resource
        found.append(row)
    return found
