"""Spreading a month's invoice over APIM subscriptions, exactly (the contract in docs/chargeback.md).

Per month (UTC days of the invoice lines), each (account, meter) is one amount: the sum of its
lines' amortized cost where an export gave it, else their actual cost. It goes to the
subscriptions in proportion to what each sent that account that month:

* input lines by uncached prompt tokens, cached-input lines by cached tokens, output lines by
  completion tokens (reasoning included), of the line's model;
* provisioned-hour and other lines by each subscription's share of the account's computed cost.

It stays *unallocated*, with the reason, when the meter is not read (until an admin maps it), no
request went to the account, no token of the line's kind and model did (batch lines: batch calls
are not logged per request), or the account has no computed cost. Shares are decimals at 8 places
and add up exactly to the amount: each gets its floor, and the units left over go one each to
the largest remainders (ties: subscription id order).
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from usage.chargeback.invoices import PLACES as PLACES  # re-exported: costs.api, costs.reconciliation
from usage.chargeback.invoices import shares_split

from .matching import RequestUsage, accounts_match, month_usage
from .meters import TokenKind, model_family
from .models import CostLine
from .selectors import meter_mappings, meter_read

_TOKEN_MEASURES = {
    TokenKind.INPUT: "uncached_prompt_tokens",
    TokenKind.CACHED_INPUT: "cached_tokens",
    TokenKind.OUTPUT: "completion_tokens",
}


@dataclass(frozen=True)
class Share:
    resource_id: str
    meter_name: str
    kind: str
    model: str
    subscription: str
    amount: Decimal
    basis: str  # "tokens" or "cost"
    weight: Decimal  # the subscription's tokens, or computed cost


@dataclass(frozen=True)
class Unallocated:
    resource_id: str
    meter_name: str
    kind: str
    model: str
    amount: Decimal
    reason: str


@dataclass
class MonthAllocation:
    month: dt.date
    total: Decimal = Decimal(0)
    shares: list[Share] = field(default_factory=list)
    unallocated: list[Unallocated] = field(default_factory=list)

    @property
    def unallocated_amount(self) -> Decimal:
        return sum((u.amount for u in self.unallocated), Decimal(0))

    def by_subscription(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for share in self.shares:
            totals[share.subscription] += share.amount
        return dict(sorted(totals.items()))


def month_allocate(*, month: dt.date) -> MonthAllocation:
    """The invoice lines of ``month`` spread over subscriptions (nothing is stored)."""
    month = month.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for line in CostLine.objects.filter(date__gte=month, date__lt=next_month).order_by("pk"):
        key = (line.resource_id, line.meter_name.lower())
        amounts[key] += line.amount
        names.setdefault(key, (line.meter_name, line.unit_of_measure))
    result = MonthAllocation(month=month, total=sum(amounts.values(), Decimal(0)))
    mappings = meter_mappings()
    usage = accounts_match(resource_ids=sorted({r for r, _ in amounts}), usage=month_usage(month=month))
    for (resource_id, meter_key), amount in sorted(amounts.items()):
        meter_name, unit = names[(resource_id, meter_key)]
        reading = meter_read(meter_name=meter_name, unit=unit, mappings=mappings)

        def unallocated(reason: str) -> None:
            result.unallocated.append(
                Unallocated(resource_id, meter_name, reading.kind, reading.model, amount, reason)  # noqa: B023
            )

        if not reading.known:
            unallocated(f"meter not read ({reading.reason}); an admin maps it under Meter mappings")
            continue
        rows = usage.get(resource_id) or []
        if not rows:
            unallocated("no request went to this account this month")
            continue
        weights, basis, problem = _weights(reading.kind, reading.model, rows)
        if problem:
            unallocated(problem)
            continue
        if amount == 0:
            continue
        for subscription, share in shares_split(amount=amount, weights=weights).items():
            result.shares.append(
                Share(
                    resource_id, meter_name, reading.kind, reading.model, subscription, share, basis,
                    weights[subscription],
                )
            )  # fmt: skip
    return result


def _weights(kind: str, model: str, rows: list[RequestUsage]) -> tuple[dict[str, Decimal], str, str]:
    weights: dict[str, Decimal] = defaultdict(Decimal)
    measure = _TOKEN_MEASURES.get(TokenKind(kind))
    if measure:
        family = model_family(model)
        for row in rows:
            if model_family(row.model) == family:
                weights[row.subscription] += Decimal(getattr(row, measure))
        if not any(w > 0 for w in weights.values()):
            return {}, "", f"no {TokenKind(kind).label.lower()} tokens of {model} went to this account"
        return dict(weights), "tokens", ""
    if kind in (TokenKind.PROVISIONED_HOURS, TokenKind.OTHER):
        for row in rows:
            weights[row.subscription] += row.cost
        if not any(w > 0 for w in weights.values()):
            return {}, "", "no computed cost on this account to share it by"
        return dict(weights), "cost", ""
    return {}, "", "batch: batch calls are not logged per request"
