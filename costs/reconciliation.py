"""A month's invoice against what the portal computed, per account, model and token kind, with the
variance split into what explains it (docs/chargeback.md, "Reconciliation").

Rows: every (account, model, kind) with an invoice line or a computed request; accounts requests
went to that no invoice line names are rows too (``on_invoice`` false), so the totals are the
month's whole invoice and the month's whole computed cost. A row's variance (invoiced - computed)
is split, each part at 8 places and the price difference taking what is left, so the parts add up
to the variance exactly:

* *unallocated*: invoice lines the allocation could not spread (``costs.allocation``);
* for token kinds, each token valued at the invoice's own price per token (the row's invoiced cost
  over its invoiced tokens; the computed price when nothing was billed):
  - *estimated tokens*: the token gap (invoiced - computed tokens), up to the row's estimated
    tokens, when both sides have tokens: tokenizer estimates of streamed answers are off;
  - *quantity gap*: the rest of the token gap: logs missing (invoice more) or extra (invoice less);
  - *unpriced*: computed tokens no price was known for (their computed cost is 0);
* *price difference*: the rest: discounts, deployment-type prices, and all of hourly and other
  lines (provisioned hours are billed by the hour, not by the token).
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Max

from .allocation import PLACES, Unallocated, month_allocate
from .computed import Computed, month_computed
from .matching import account_matcher, account_name, host_account
from .meters import TokenKind, model_family
from .models import CostLine
from .selectors import meter_mappings, meter_read

# What the month's cost exports cover.
STATUS_NONE = "none"  # no invoice line of the month
STATUS_PARTIAL = "partial"  # lines, but the exports stop before the month's last day
STATUS_COMPLETE = "complete"  # an export reaches the month's last day (or later)
TOKEN_KINDS = (TokenKind.INPUT, TokenKind.CACHED_INPUT, TokenKind.OUTPUT)
EXPLANATIONS = ("price", "estimated_tokens", "quantity_gap", "unpriced", "unallocated")


@dataclass
class Explained:
    price: Decimal = Decimal(0)
    estimated_tokens: Decimal = Decimal(0)
    quantity_gap: Decimal = Decimal(0)
    unpriced: Decimal = Decimal(0)
    unallocated: Decimal = Decimal(0)

    def add(self, other: "Explained") -> None:
        for name in EXPLANATIONS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Decimal]:
        return {name: getattr(self, name) for name in EXPLANATIONS}


@dataclass
class Invoiced:
    cost: Decimal = Decimal(0)
    quantity: Decimal = Decimal(0)
    units: set[str] = field(default_factory=set)
    tokens: Decimal | None = Decimal(0)  # None: a line's unit is not a token count
    unallocated: Decimal = Decimal(0)
    unallocated_lines: int = 0


@dataclass
class ReconciliationRow:
    account: str  # the invoice ResourceId; for accounts not on the invoice, the host or resource id
    account_name: str
    on_invoice: bool
    model: str
    kind: str
    computed_tokens: int = 0
    estimated_tokens: int = 0
    unpriced_tokens: int = 0
    computed_cost: Decimal = Decimal(0)
    invoiced_quantity: Decimal = Decimal(0)
    unit: str = ""
    invoiced_tokens: int | None = None
    invoiced_cost: Decimal = Decimal(0)
    explained: Explained = field(default_factory=Explained)

    @property
    def variance(self) -> Decimal:
        return self.invoiced_cost - self.computed_cost

    @property
    def kind_label(self) -> str:
        return str(TokenKind(self.kind).label) if self.kind else "All kinds"


@dataclass
class Totals:
    computed_tokens: int = 0
    computed_cost: Decimal = Decimal(0)
    invoiced_cost: Decimal = Decimal(0)
    explained: Explained = field(default_factory=Explained)

    @property
    def variance(self) -> Decimal:
        return self.invoiced_cost - self.computed_cost

    def add(self, row: ReconciliationRow) -> None:
        self.computed_tokens += row.computed_tokens
        self.computed_cost += row.computed_cost
        self.invoiced_cost += row.invoiced_cost
        self.explained.add(row.explained)


@dataclass
class Reconciliation:
    month: dt.date
    status: str
    covered_through: dt.date | None  # the last day any imported export reaches
    rows: list[ReconciliationRow]
    unallocated: list[Unallocated]
    totals: Totals


def month_status(*, month: dt.date) -> tuple[str, dt.date | None]:
    """How far the imported cost exports cover ``month``, and the last day they reach."""
    month = month.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    covered_through = CostLine.objects.aggregate(last=Max("date"))["last"]
    if not CostLine.objects.filter(date__gte=month, date__lt=next_month).exists():
        return STATUS_NONE, covered_through
    last_day = next_month - dt.timedelta(days=1)
    return (STATUS_COMPLETE if covered_through >= last_day else STATUS_PARTIAL), covered_through


def month_reconcile(*, month: dt.date) -> Reconciliation:
    """Invoice vs computed for ``month`` (UTC), per account, model and kind (nothing is stored)."""
    month = month.replace(day=1)
    status, covered_through = month_status(month=month)
    allocation = month_allocate(month=month)
    invoiced = _month_invoiced(month=month, unallocated=allocation.unallocated)
    rows: dict[tuple[str, str, str], ReconciliationRow] = {}
    for (resource_id, model, kind), billed in invoiced.items():
        row = rows[(resource_id, model, kind)] = ReconciliationRow(
            resource_id, account_name(resource_id), True, model, kind
        )  # fmt: skip
        row.invoiced_cost, row.invoiced_quantity = billed.cost, billed.quantity
        row.unit = ", ".join(sorted(billed.units))
        row.invoiced_tokens = (
            int(billed.tokens) if billed.tokens is not None and kind in TOKEN_KINDS else None
        )
    resource_ids = sorted({resource_id for resource_id, _, _ in invoiced})
    matches = account_matcher(resource_ids=resource_ids)
    for (account_key, model, kind), computed in month_computed(month=month).items():
        matched = next((r for r in resource_ids if matches(r, account_key)), None)
        account = matched or account_key.partition(":")[2]
        key = (account, model, kind) if matched else (account_key, model, kind)
        if key not in rows:
            name = account_name(account) or host_account(account) or account
            rows[key] = ReconciliationRow(account, name, matched is not None, model, kind)
        _computed_add(rows[key], computed)
    totals = Totals()
    ordered = [rows[key] for key in sorted(rows, key=lambda k: (not rows[k].on_invoice, *k))]
    for row in ordered:
        found = invoiced.get((row.account, row.model, row.kind)) if row.on_invoice else None
        row.explained = variance_explain(row=row, billed=found)
        totals.add(row)
    return Reconciliation(month, status, covered_through, ordered, allocation.unallocated, totals)


def _computed_add(row: ReconciliationRow, computed: Computed) -> None:
    row.computed_tokens += computed.tokens
    row.estimated_tokens += computed.estimated_tokens
    row.unpriced_tokens += computed.unpriced_tokens
    row.computed_cost += computed.cost


def _row_model(model: str, kind: str) -> str:
    # Provisioned-hour meters name no model; requests on PTU deployments are keyed "" too.
    return "" if kind == TokenKind.PROVISIONED_HOURS else model_family(model)


def _month_invoiced(
    *, month: dt.date, unallocated: list[Unallocated]
) -> dict[tuple[str, str, str], Invoiced]:
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    mappings = meter_mappings()
    found: dict[tuple[str, str, str], Invoiced] = defaultdict(Invoiced)
    for line in CostLine.objects.filter(date__gte=month, date__lt=next_month).order_by("pk"):
        reading = meter_read(meter_name=line.meter_name, unit=line.unit_of_measure, mappings=mappings)
        kind = str(reading.kind)
        item = found[(line.resource_id, _row_model(reading.model, kind), kind)]
        item.cost += line.amount
        item.quantity += line.quantity
        if line.unit_of_measure:
            item.units.add(line.unit_of_measure)
        if item.tokens is not None and reading.tokens_per_unit:
            item.tokens += line.quantity * reading.tokens_per_unit
        else:
            item.tokens = None
    for lost in unallocated:
        item = found[(lost.resource_id, _row_model(lost.model, str(lost.kind)), str(lost.kind))]
        item.unallocated += lost.amount
        item.unallocated_lines += 1
    return dict(found)


def _places(value: Decimal) -> Decimal:
    return value.quantize(PLACES)


def variance_explain(*, row: ReconciliationRow, billed: Invoiced | None) -> Explained:
    """The row's variance split into what explains it; the parts add up to it exactly."""
    unallocated = billed.unallocated if billed else Decimal(0)
    explained = Explained(unallocated=unallocated)
    priced_tokens = row.computed_tokens - row.unpriced_tokens
    computed_price = row.computed_cost / priced_tokens if priced_tokens > 0 else Decimal(0)
    if row.kind in TOKEN_KINDS and (billed is None or billed.tokens is not None):
        # Lines left unallocated are explained as such, whatever their tokens.
        allocated = billed is not None and not billed.unallocated_lines
        billed_tokens = billed.tokens if billed is not None and allocated and billed.tokens else Decimal(0)
        billed_cost = billed.cost if billed is not None and allocated else Decimal(0)
        price = billed_cost / billed_tokens if billed_tokens > 0 else computed_price
        gap = billed_tokens - row.computed_tokens
        estimated = Decimal(0)
        if billed_tokens > 0 and row.computed_tokens > 0 and row.estimated_tokens and gap:
            estimated = min(abs(gap), Decimal(row.estimated_tokens)).copy_sign(gap)
        explained.estimated_tokens = _places(estimated * price)
        explained.quantity_gap = _places((gap - estimated) * price)
        explained.unpriced = _places(row.unpriced_tokens * price)
    else:
        explained.unpriced = _places(row.unpriced_tokens * computed_price)
    explained.price = (
        row.variance
        - explained.unallocated
        - explained.estimated_tokens
        - explained.quantity_gap
        - explained.unpriced
    )
    return explained


def rows_by_account_model(rows: list[ReconciliationRow]) -> list[ReconciliationRow]:
    """The rows summed over token kinds, per account and model (kind ``""``), in the same order."""
    found: dict[tuple[str, str], ReconciliationRow] = {}
    for row in rows:
        item = found.get((row.account, row.model))
        if item is None:
            item = found[(row.account, row.model)] = ReconciliationRow(
                row.account, row.account_name, row.on_invoice, row.model, ""
            )  # fmt: skip
        item.computed_tokens += row.computed_tokens
        item.estimated_tokens += row.estimated_tokens
        item.unpriced_tokens += row.unpriced_tokens
        item.computed_cost += row.computed_cost
        item.invoiced_cost += row.invoiced_cost
        item.explained.add(row.explained)
    return list(found.values())
