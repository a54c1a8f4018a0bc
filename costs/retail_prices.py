"""Azure's own list prices from the Retail Prices API, as effective-dated ``ModelPrice`` rows.

The API (``https://prices.azure.com/api/retail/prices``, public, no sign-in) answers pages of
``Items``, one per meter, SKU and region: ``meterName``, ``productName``, ``skuName``,
``armRegionName``, ``retailPrice``, ``unitOfMeasure`` (``1K`` / ``1M``), ``effectiveStartDate``,
``type`` (``Consumption``, ``Reservation``), ``currencyCode``; pages follow ``NextPageLink``.

Each Consumption item whose meter ``costs.meters`` reads as input, cached input or output tokens
becomes one price of (model, meter version, deployment type, region). The kinds of one such key
are put together into rows, one per effective date (a row holds the latest price of each kind at
that date); a key without both input and output prices is skipped. Rows carry
``source="azure-retail"``: they win over genai-prices and lose to admin overrides
(``usage.accounting.pricing.PriceBook``). Importing the same prices again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from usage.models import DeploymentType, ModelPrice

from .meters import MeterDeployment, TokenKind, meter_parse

RETAIL_PRICES_FILTER = "serviceName eq 'Foundry Models' and startswith(productName, 'Azure OpenAI')"
_KINDS = {
    TokenKind.INPUT: "input_per_1m",
    TokenKind.CACHED_INPUT: "cached_input_per_1m",
    TokenKind.OUTPUT: "output_per_1m",
}
_TYPES: dict[str, str] = {
    MeterDeployment.GLOBAL: DeploymentType.GLOBAL,
    MeterDeployment.DATA_ZONE: DeploymentType.DATA_ZONE,
    MeterDeployment.REGIONAL: DeploymentType.REGIONAL,
}


@dataclass
class RetailImport:
    items: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    created: int = 0
    unchanged: int = 0
    incomplete: int = 0  # (model, version, type, region) keys without both input and output

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


def retail_items_read(path: Path) -> Iterator[dict[str, Any]]:
    """Items of a saved answer: one page (``{"Items": [...]}``), a list of pages, or a list of items."""
    data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    pages = data if isinstance(data, list) else [data]
    for page in pages:
        if isinstance(page, dict) and "Items" in page:
            yield from page["Items"]
        elif isinstance(page, dict):
            yield page


def retail_items_fetch(*, url: str | None = None, timeout: float = 30.0) -> Iterator[dict[str, Any]]:
    """Items from the live API (or ``AZURE_RETAIL_PRICES_URL``), following ``NextPageLink``."""
    base = url or settings.AZURE_RETAIL_PRICES_URL
    next_url: str | None = base + "?" + urllib.parse.urlencode({"$filter": RETAIL_PRICES_FILTER})
    seen: set[str] = set()
    while next_url and next_url not in seen:
        seen.add(next_url)
        with urllib.request.urlopen(next_url, timeout=timeout) as response:  # noqa: S310 (https or a test emulator)
            page = json.load(response)
        yield from page.get("Items") or []
        next_url = page.get("NextPageLink")


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _start(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def retail_prices_import(*, items: Iterable[dict[str, Any]]) -> RetailImport:
    """Store the token prices among ``items`` as ``ModelPrice`` rows (idempotent)."""
    result = RetailImport()
    # (model, version, deployment type, region, currency) -> kind -> [(start, price per 1M)]
    prices: dict[tuple[str, str, str, str, str], dict[str, list[tuple[dt.datetime, Decimal]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for item in items:
        result.items += 1
        if item.get("type") != "Consumption":
            result.skip(f"type {item.get('type') or '(none)'}")
            continue
        reading = meter_parse(str(item.get("meterName") or ""), str(item.get("unitOfMeasure") or ""))
        if reading.kind not in _KINDS or reading.deployment_type not in _TYPES:
            result.skip(
                "not an input, cached input or output token meter" if reading.known else "meter not read"
            )
            continue
        price, start = _decimal(item.get("retailPrice")), _start(item.get("effectiveStartDate") or "")
        if price is None or start is None or not reading.tokens_per_unit:
            result.skip("no price, start date or token unit")
            continue
        key = (
            reading.model,
            reading.version,
            _TYPES[reading.deployment_type],
            str(item.get("armRegionName") or "").lower(),
            str(item.get("currencyCode") or "USD"),
        )
        per_1m = price * Decimal(1_000_000) / Decimal(reading.tokens_per_unit)
        prices[key][_KINDS[TokenKind(reading.kind)]].append((start, per_1m))
    with transaction.atomic():
        for key, kinds in sorted(prices.items()):
            if "input_per_1m" not in kinds or "output_per_1m" not in kinds:
                result.incomplete += 1
                continue
            for start in sorted({when for entries in kinds.values() for when, _ in entries}):
                values = {}
                for column, entries in kinds.items():
                    known = [p for when, p in sorted(entries) if when <= start]
                    if known:
                        values[column] = known[-1]
                if "input_per_1m" not in values or "output_per_1m" not in values:
                    continue
                _row_store(key, start, values, result)
    return result


def _row_store(
    key: tuple[str, str, str, str, str], start: dt.datetime, values: dict[str, Decimal], result: RetailImport
) -> None:
    model, version, deployment_type, region, currency = key
    _, created = ModelPrice.objects.get_or_create(
        model=model,
        model_version=version,
        deployment="",
        deployment_type=deployment_type,
        region=region,
        currency=currency,
        effective_from=start,
        source=ModelPrice.Source.AZURE_RETAIL,
        defaults={
            "input_per_1m": values["input_per_1m"],
            "cached_input_per_1m": values.get("cached_input_per_1m"),
            "output_per_1m": values["output_per_1m"],
            "source_version": "Azure Retail Prices API",
        },
    )
    if created:
        result.created += 1
    else:
        result.unchanged += 1
