"""A month's chargeback as a FOCUS dataset (FinOps Open Cost and Usage Specification, 1.0 columns
plus ``x_`` ones), so FinOps tools take Azure OpenAI chargeback as one dataset.

One row per APIM subscription × model family × token kind, and one per unallocated invoice line:

* ``ListCost``: the portal's computed cost (the chargeback's rows, closed months as frozen). A
  line's cost is split across input, cached input and output in proportion to what its tokens cost
  at the model's latest list price (by tokens without one), exactly; so ``ListCost`` adds up to the
  chargeback's ``totals.cost``.
* ``BilledCost`` and ``EffectiveCost``: the subscription's allocated share of the invoice lines of
  that model and kind (``costs.allocation``: the amortized cost where the export gave it, else the
  actual cost, so both columns carry it); they add up to the month's invoice, unallocated rows
  included. Before any cost export covers the month they repeat ``ListCost`` and
  ``x_InvoiceStatus`` says ``computed``.
* ``ConsumedQuantity``: the tokens of that kind (``ConsumedUnit`` ``Tokens``).

Every text cell goes through ``aoai_portal.exports`` (CSV and Parquet alike).
"""

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from aoai_portal.exports import export_row
from aoai_portal.months import month_bounds, month_floor
from usage.chargeback.invoices import PLACES, shares_split
from usage.chargeback.selectors.reports import chargeback_report
from usage.models import GatewayRequest, ModelPrice, NamedIdentity

from .allocation import month_allocate
from .invoices import month_covered
from .matching import account_name
from .meters import TokenKind, model_family

MONEY = ("BilledCost", "EffectiveCost", "ListCost", "x_TrueUp")
COLUMNS = (
    "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency",
    "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeCategory", "ChargeDescription", "ConsumedQuantity", "ConsumedUnit",
    "ProviderName", "PublisherName", "InvoiceIssuerName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceName", "ServiceCategory", "SubAccountId",
    "x_Model", "x_TokenKind", "x_CostCenter", "x_CostCenterName", "x_ApimSubscriptionId", "x_Person",
    "x_InvoiceStatus", "x_TrueUp",
)  # fmt: skip
_PERIODS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
_TOKEN_KINDS: tuple[str, ...] = (TokenKind.INPUT, TokenKind.CACHED_INPUT, TokenKind.OUTPUT)


@dataclass
class _Row:
    list_cost: Decimal = Decimal(0)
    billed: Decimal = Decimal(0)
    tokens: int = 0
    accounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


def month_focus_rows(*, month: dt.date) -> list[dict[str, Any]]:
    """The FOCUS rows of ``month`` (values typed: Decimal, int, datetime, str; not neutralised)."""
    month = month_floor(month)
    begin, end = month_bounds(month)
    report = chargeback_report(month=month, group_by="subscription")
    resolve = report.resolve
    assert resolve is not None
    rows: dict[tuple[str, str, str], _Row] = defaultdict(_Row)
    centers: dict[str, tuple[str, str]] = {}
    prices = _latest_prices(end=end)
    for line in report.lines:
        ref = resolve(line.subscription, line.product)
        centers.setdefault(line.subscription, (ref.code, ref.name))
        family = model_family(line.model)
        m = line.measures
        tokens: dict[str, int] = {
            TokenKind.INPUT: max(m.prompt_tokens - m.cached_tokens, 0),
            TokenKind.CACHED_INPUT: min(m.cached_tokens, m.prompt_tokens),
            TokenKind.OUTPUT: m.completion_tokens,
        }
        costs = _cost_split(m.cost_exact, tokens, prices.get(line.model))
        for kind in _TOKEN_KINDS:
            if tokens[kind] or costs.get(kind):
                row = rows[(line.subscription, family, kind)]
                row.tokens += tokens[kind]
                row.list_cost += costs.get(kind, Decimal(0))
        if m.cost_exact and not any(tokens.values()):
            rows[(line.subscription, family, TokenKind.OTHER)].list_cost += m.cost_exact
    invoiced = month_covered(month=month)
    unallocated: list[dict[str, Any]] = []
    if invoiced:
        allocation = month_allocate(month=month)
        for share in allocation.shares:
            row = rows[(share.subscription, model_family(share.model), share.kind)]
            row.billed += share.amount
            row.accounts[share.resource_id] += share.amount
        unallocated = [
            {
                "resource_id": u.resource_id,
                "model": model_family(u.model),
                "kind": u.kind,
                "amount": u.amount,
                "description": f"Unallocated {u.meter_name}: {u.reason}",
            }
            for u in allocation.unallocated
        ]
    persons = _persons(begin=begin, end=end)
    common = {
        "BillingCurrency": settings.PORTAL_CURRENCY,
        "BillingPeriodStart": begin,
        "BillingPeriodEnd": end,
        "ChargePeriodStart": begin,
        "ChargePeriodEnd": end,
        "ChargeCategory": "Usage",
        "ConsumedUnit": "Tokens",
        "ProviderName": "Microsoft",
        "PublisherName": "Microsoft",
        "InvoiceIssuerName": "Microsoft",
        "ResourceType": "Azure OpenAI account",
        "ServiceName": "Azure OpenAI",
        "ServiceCategory": "AI and Machine Learning",
        "x_InvoiceStatus": "invoiced" if invoiced else "computed",
    }
    out = []
    for (subscription, model, token_kind), row in sorted(rows.items()):
        billed = row.billed if invoiced else row.list_cost
        resource = max(row.accounts.items(), key=lambda item: (item[1], item[0]))[0] if row.accounts else ""
        code, name = centers.get(subscription) or (
            resolve(subscription, "").code,
            resolve(subscription, "").name,
        )
        out.append({
            **common,
            "BilledCost": billed, "EffectiveCost": billed, "ListCost": row.list_cost,
            "ChargeDescription": f"{model or 'Azure OpenAI'} {TokenKind(token_kind).label.lower()} for {subscription or '(no subscription)'}",
            "ConsumedQuantity": row.tokens, **_resource(resource),
            "x_Model": model, "x_TokenKind": token_kind, "x_CostCenter": code, "x_CostCenterName": name,
            "x_ApimSubscriptionId": subscription, "x_Person": persons.get(subscription, ""),
            "x_TrueUp": billed - row.list_cost,
        })  # fmt: skip
    for item in unallocated:
        out.append({
            **common,
            "BilledCost": item["amount"], "EffectiveCost": item["amount"], "ListCost": Decimal(0),
            "ChargeDescription": item["description"], "ConsumedQuantity": 0, **_resource(item["resource_id"]),
            "x_Model": item["model"], "x_TokenKind": item["kind"], "x_CostCenter": "", "x_CostCenterName": "",
            "x_ApimSubscriptionId": "(unallocated)", "x_Person": "", "x_TrueUp": item["amount"],
        })  # fmt: skip
    return out


def _resource(resource_id: str) -> dict[str, str]:
    parts = resource_id.split("/")
    sub = parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
    return {"ResourceId": resource_id, "ResourceName": account_name(resource_id), "SubAccountId": sub}


def _latest_prices(*, end: dt.datetime) -> dict[str, ModelPrice]:
    """The latest list price of each model in effect before ``end`` (any deployment)."""
    found: dict[str, ModelPrice] = {}
    for price in ModelPrice.objects.filter(effective_from__lt=end).order_by("effective_from", "pk"):
        found[price.model] = price
    return found


def _cost_split(cost: Decimal, tokens: dict[str, int], price: ModelPrice | None) -> dict[str, Decimal]:
    weights = {kind: Decimal(count) for kind, count in tokens.items()}
    if price is not None:
        cached = price.cached_input_per_1m if price.cached_input_per_1m is not None else price.input_per_1m
        rates: dict[str, Decimal] = {
            TokenKind.INPUT: price.input_per_1m,
            TokenKind.CACHED_INPUT: cached,
            TokenKind.OUTPUT: price.output_per_1m,
        }
        priced = {kind: Decimal(tokens[kind]) * Decimal(rates[kind]) for kind in tokens}
        if any(priced.values()):
            weights = priced
    if not cost or not any(weights.values()):
        return {}
    return shares_split(amount=cost.quantize(PLACES), weights=weights)


def _persons(*, begin: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """Per subscription, the people or apps that called through it (``caller_object_id``, named
    from the People table), "; "-joined."""
    pairs = (
        GatewayRequest.objects.filter(time__gte=begin, time__lt=end)
        .exclude(caller_object_id="")
        .values_list("apim_subscription_id", "caller_object_id")
        .distinct()
        .order_by()
    )
    names = dict(NamedIdentity.objects.values_list("object_id", "display_name"))
    found: dict[str, set[str]] = defaultdict(set)
    for subscription, object_id in pairs:
        found[subscription or ""].add(names.get(object_id) or object_id)
    return {subscription: "; ".join(sorted(people)) for subscription, people in found.items()}


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.quantize(PLACES), "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def focus_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV, every text cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_text(cell) for cell in export_row(row[c] for c in COLUMNS)])
    return buffer.getvalue()


def focus_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The rows as Parquet: money decimal(28, 8), periods UTC timestamps, text neutralised."""
    neutral = [dict(zip(COLUMNS, export_row(row[c] for c in COLUMNS), strict=True)) for row in rows]
    fields = []
    for column in COLUMNS:
        if column in MONEY:
            kind: pa.DataType = pa.decimal128(28, 8)
        elif column in _PERIODS:
            kind = pa.timestamp("us", tz="UTC")
        elif column == "ConsumedQuantity":
            kind = pa.int64()
        else:
            kind = pa.string()
        fields.append(pa.field(column, kind))
    schema = pa.schema(fields)
    columns = {c: [row[c].quantize(PLACES) if c in MONEY else row[c] for row in neutral] for c in COLUMNS}
    table = pa.table(columns, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def focus_filename(*, month: dt.date, extension: str) -> str:
    return f"aoai-chargeback-focus-{month:%Y-%m}.{extension}"
