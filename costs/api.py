"""``GET /api/v1/reconciliation``: a month's invoice against the computed cost (finance).

Field names are contracts. Money and quantities are decimal strings at 8 places, never floats;
each row's ``explained`` parts add up to its ``variance``, rows add up to ``totals``.
"""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from aoai_portal import months
from aoai_portal.api_access import require_role
from aoai_portal.roles import FINANCE

from .allocation import PLACES, Unallocated
from .reconciliation import Explained, ReconciliationRow, Totals, month_reconcile

router = Router(tags=["reconciliation"])


def money(value: Decimal) -> str:
    """``Decimal("1.1")`` -> ``"1.10000000"`` (never ``"0E-8"`` or ``"-0.00000000"``)."""
    return f"{(value or Decimal(0)).quantize(PLACES):f}".replace("-0.00000000", "0.00000000")


class ExplainedOut(Schema):
    price: str = Field(description="Price difference: discounts, deployment-type prices, hourly lines")
    estimated_tokens: str = Field(description="Token gap put down to tokenizer estimates")
    quantity_gap: str = Field(description="Rest of the token gap: logs missing (+) or extra (-)")
    unpriced: str = Field(description="Computed tokens no price was known for")
    unallocated: str = Field(description="Invoice lines the allocation could not spread")


class RowOut(Schema):
    account: str = Field(description="Invoice ResourceId; for accounts not on the invoice, host or id")
    account_name: str
    on_invoice: bool
    model: str = Field(description="Model family ('' for provisioned hours and unread meters)")
    kind: str = Field(
        description="input | cached_input | output | batch_* | provisioned_hours | other | unknown"
    )
    computed_tokens: int
    estimated_tokens: int
    unpriced_tokens: int
    invoiced_quantity: str
    unit: str
    invoiced_tokens: int | None = Field(description="Quantity in tokens; null when the unit is not tokens")
    computed_cost: str
    invoiced_cost: str
    variance: str = Field(description="invoiced_cost - computed_cost")
    explained: ExplainedOut


class UnallocatedOut(Schema):
    account: str
    meter_name: str
    model: str
    kind: str
    amount: str
    reason: str


class TotalsOut(Schema):
    computed_tokens: int
    computed_cost: str
    invoiced_cost: str
    variance: str
    explained: ExplainedOut


class ReconciliationOut(Schema):
    month: str
    currency: str
    status: str = Field(description="none (no cost export covers the month) | partial | complete")
    covered_through: str | None = Field(description="Last day the imported cost exports reach")
    totals: TotalsOut
    rows: list[RowOut]
    unallocated: list[UnallocatedOut]


def _explained(explained: Explained) -> dict[str, Any]:
    return {name: money(value) for name, value in explained.as_dict().items()}


def _row(row: ReconciliationRow) -> dict[str, Any]:
    return {
        "account": row.account,
        "account_name": row.account_name,
        "on_invoice": row.on_invoice,
        "model": row.model,
        "kind": row.kind,
        "computed_tokens": row.computed_tokens,
        "estimated_tokens": row.estimated_tokens,
        "unpriced_tokens": row.unpriced_tokens,
        "invoiced_quantity": money(row.invoiced_quantity),
        "unit": row.unit,
        "invoiced_tokens": row.invoiced_tokens,
        "computed_cost": money(row.computed_cost),
        "invoiced_cost": money(row.invoiced_cost),
        "variance": money(row.variance),
        "explained": _explained(row.explained),
    }


def _totals(totals: Totals) -> dict[str, Any]:
    return {
        "computed_tokens": totals.computed_tokens,
        "computed_cost": money(totals.computed_cost),
        "invoiced_cost": money(totals.invoiced_cost),
        "variance": money(totals.variance),
        "explained": _explained(totals.explained),
    }


def _unallocated(line: Unallocated) -> dict[str, Any]:
    return {
        "account": line.resource_id,
        "meter_name": line.meter_name,
        "model": line.model,
        "kind": str(line.kind),
        "amount": money(line.amount),
        "reason": line.reason,
    }


@router.get("/reconciliation", response=ReconciliationOut, summary="A month's invoice vs computed cost")
def reconciliation(
    request: HttpRequest,
    month: str | None = Query(None, description="YYYY-MM (UTC month)"),  # type: ignore[type-arg]
) -> dict[str, Any]:
    require_role(request, FINANCE)
    result = month_reconcile(month=months.month_parse(month))
    return {
        "month": result.month.strftime("%Y-%m"),
        "currency": settings.PORTAL_CURRENCY,
        "status": result.status,
        "covered_through": result.covered_through.isoformat() if result.covered_through else None,
        "totals": _totals(result.totals),
        "rows": [_row(row) for row in result.rows],
        "unallocated": [_unallocated(line) for line in result.unallocated],
    }
