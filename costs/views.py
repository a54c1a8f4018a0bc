"""The reconciliation page (a month's Azure invoice against the computed chargeback) and the
chargeback's FOCUS export, for finance."""

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal import months, params
from aoai_portal.access_audit import access_audit_export
from aoai_portal.roles import BUDGET_OWNER, FINANCE, role_required
from usage.chargeback.scope import cost_center_scope

from .focus import focus_csv, focus_filename, focus_parquet, month_focus_rows
from .reconciliation import Reconciliation, month_reconcile, rows_by_account_model

# The chart's steps, from the computed cost to the invoice.
_STEPS = (
    ("price", "Price difference"),
    ("estimated_tokens", "Estimated tokens"),
    ("quantity_gap", "Logs missing or extra"),
    ("unpriced", "Unpriced"),
    ("unallocated", "Unallocated"),
)


def _cents(value: Decimal) -> float:
    # Half up, as the page's tables show money.
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _chart_data(result: Reconciliation) -> dict[str, Any]:
    explained = result.totals.explained.as_dict()
    return {
        "currency": settings.PORTAL_CURRENCY,
        "labels": ["Computed", *(label for _, label in _STEPS), "Invoiced"],
        "measures": ["absolute", *("relative" for _ in _STEPS), "total"],
        "values": [
            _cents(result.totals.computed_cost),
            *(_cents(explained[name]) for name, _ in _STEPS),
            0,
        ],
    }


@role_required(FINANCE)
def month_reconciliation(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("month")
    now = datetime.now(UTC)
    try:
        month = months.month_parse(raw) if raw else now.date().replace(day=1)
    except params.ParamError as error:
        return render(request, "costs/reconciliation_error.html", {"error": str(error)}, status=400)
    result = month_reconcile(month=month)
    context = {
        "month": month,
        "result": result,
        "totals": result.totals,
        "by_account_model": rows_by_account_model(result.rows),
        "currency": settings.PORTAL_CURRENCY,
        "chart_data": _chart_data(result),
        "steps": _STEPS,
    }
    return render(request, "costs/reconciliation.html", context)


@role_required(FINANCE, BUDGET_OWNER)
def chargeback_focus(request: HttpRequest, extension: str) -> HttpResponse:
    """The month's chargeback as a FOCUS dataset (``costs.focus``), CSV or Parquet; a budget owner
    gets the rows of their own cost centers."""
    try:
        month = months.month_parse(request.GET.get("month"))
    except params.ParamError as error:
        return render(request, "costs/reconciliation_error.html", {"error": str(error)}, status=400)
    rows = month_focus_rows(month=month, scope=cost_center_scope(user=request.user))
    access_audit_export(request=request, what="chargeback-focus", format=extension)
    if extension == "csv":
        response = HttpResponse(focus_csv(rows), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(focus_parquet(rows), content_type="application/vnd.apache.parquet")
    response["Content-Disposition"] = (
        f'attachment; filename="{focus_filename(month=month, extension=extension)}"'
    )
    return response
