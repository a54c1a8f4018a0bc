"""What the portal computed for a month, per account, model and token kind: the side of the
reconciliation that comes from the request logs.

A request's tokens go to the kinds the invoice bills: input (uncached prompt tokens), cached input
and output (completion tokens, reasoning included), under its model family (``gpt-4o-2024-11-20``
-> ``gpt-4o``, as meters are read). Its cost, one figure per request, is split across those kinds
in proportion to what the tokens cost at the price row that priced it, so the parts add up to the
cost exactly. Requests on provisioned deployments (priced ``ptu#...``) are billed by the hour, not
by the token: their tokens and cost go to the account's provisioned-hours row, whose meters name
no model. A cost that no token explains (images, audio minutes) goes to *other*.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from usage.chargeback.invoices import shares_split
from usage.models import ModelPrice, TokenSource

from .matching import month_request_sums
from .meters import TokenKind, model_family

_FIELDS = ("model", "price_version", "token_source", "is_priced")


@dataclass
class Computed:
    tokens: int = 0
    estimated_tokens: int = 0  # of ``tokens``: counted with the tokenizer, not reported
    unpriced_tokens: int = 0  # of ``tokens``: no price was known (cost 0)
    cost: Decimal = Decimal(0)


# (account key as ``costs.matching`` writes it, model family, token kind)
ComputedKey = tuple[str, str, str]


def month_computed(*, month: dt.date) -> dict[ComputedKey, Computed]:
    """The month's requests (UTC) per account, model family and token kind."""
    rows = month_request_sums(month=month, fields=_FIELDS)
    prices = prices_by_version({row["price_version"] for row in rows})
    found: dict[ComputedKey, Computed] = defaultdict(Computed)
    for row in rows:
        for kind, model, tokens, cost in request_sums_split(row, prices):
            item = found[(row["account_key"], model, kind)]
            item.tokens += tokens
            item.cost += cost
            if row["token_source"] == TokenSource.ESTIMATED:
                item.estimated_tokens += tokens
            if not row["is_priced"]:
                item.unpriced_tokens += tokens
    return dict(sorted(found.items()))


def prices_by_version(versions: set[str]) -> dict[str, ModelPrice]:
    """Price rows by the ``price_version`` requests record (``<source>#<pk>``)."""
    ids = {
        int(pk) for pk in (v.partition("#")[2] for v in versions if not v.startswith("ptu#")) if pk.isdigit()
    }
    return {price.version: price for price in ModelPrice.objects.filter(pk__in=ids)}


def request_sums_split(
    row: dict[str, Any], prices: dict[str, ModelPrice]
) -> list[tuple[str, str, int, Decimal]]:
    prompt, cached = int(row["prompt"] or 0), int(row["cached"] or 0)
    completion = int(row["completion"] or 0)
    cost = row["cost_sum"] or Decimal(0)
    if row["price_version"].startswith("ptu#"):
        return [(TokenKind.PROVISIONED_HOURS, "", prompt + completion, cost)]
    model = model_family(row["model"])
    tokens: dict[str, int] = {
        TokenKind.INPUT: max(prompt - cached, 0),
        TokenKind.CACHED_INPUT: min(cached, prompt),
        TokenKind.OUTPUT: completion,
    }
    weights = _list_costs(tokens, prices.get(row["price_version"]))
    if not any(weights.values()):
        weights = {kind: Decimal(count) for kind, count in tokens.items()}
    costs: dict[str, Decimal] = dict.fromkeys(tokens, Decimal(0))
    if cost and any(weights.values()):
        costs.update(shares_split(amount=cost, weights=weights))
    elif cost:
        return [(TokenKind.OTHER, model, 0, cost)]
    return [(kind, model, count, costs[kind]) for kind, count in tokens.items() if count or costs[kind]]


def _list_costs(tokens: dict[str, int], price: ModelPrice | None) -> dict[str, Decimal]:
    if price is None:
        return {}
    cached_rate = price.cached_input_per_1m if price.cached_input_per_1m is not None else price.input_per_1m
    rates: dict[str, Decimal] = {
        TokenKind.INPUT: price.input_per_1m,
        TokenKind.CACHED_INPUT: cached_rate,
        TokenKind.OUTPUT: price.output_per_1m,
    }
    # Per million tokens, as the rates: only the proportions matter.
    return {kind: Decimal(count) * Decimal(rates[kind]) for kind, count in tokens.items()}
