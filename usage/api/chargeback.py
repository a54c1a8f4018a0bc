"""Chargeback and usage endpoints of the JSON API (attached to the usage router in ``usage.api.router``).

Field names are contracts: ``month``, ``currency``, ``totals``, ``rows``; each row ``group``,
``label``, ``requests``, ``prompt_tokens``, ``cached_tokens``, ``completion_tokens``,
``reasoning_tokens``, ``total_tokens``, ``cost``, ``currency``, ``estimated_tokens``,
``unpriced_tokens``. ``cost`` is a decimal string (exact, 8 places), never a float.
Chargeback rows and ``totals`` add ``invoiced_cost`` (what Azure invoiced, spread as in
``usage.chargeback.selectors.true_up``; null while no cost export covers the month) and ``true_up``
(``invoiced_cost - cost``); the invoice no request explains is the row ``(unallocated)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from aoai_portal import params
from aoai_portal.api_access import require_role
from aoai_portal.months import month_parse
from aoai_portal.roles import BUDGET_OWNER, FINANCE

from ..chargeback.scope import cost_center_scope
from ..chargeback.selectors.groups import ReportRow
from ..chargeback.selectors.lines import EXACT, Measures
from ..chargeback.selectors.reports import chargeback_report
from ..chargeback.selectors.series import usage_series
from ..chargeback.selectors.true_up import TrueUp, report_invoice, rows_with_invoice
from ..rollups.horizon import hourly_range_widened

router = Router(tags=["chargeback"])

API_GROUPINGS = ("cost_center", "subscription", "deployment", "model")
# The chargeback also groups by caller (usage.identity); the usage time series does not.
CHARGEBACK_GROUPINGS = (*API_GROUPINGS, "person")
# Longest windows one call may ask for, so a single request stays small.
MAX_DAYS = {"day": 400, "hour": 31}


class MeasuresOut(Schema):
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    total_tokens: int
    estimated_tokens: int = Field(description="The part of total_tokens that was estimated, not reported")
    unpriced_tokens: int = Field(description="Tokens of requests no price was known for (cost 0)")
    cost: str = Field(description="Decimal string, exact to 8 places")
    currency: str


class TrueUpOut(Schema):
    invoiced_cost: str | None = Field(
        None,
        description="What Azure invoiced, decimal string (8 places); null while no cost export covers the month",
    )
    true_up: str | None = Field(None, description="invoiced_cost - cost; null with invoiced_cost")


class ChargebackTotalsOut(MeasuresOut, TrueUpOut):
    pass


class ChargebackRowOut(MeasuresOut, TrueUpOut):
    group: str = Field(
        description="Cost center code ('' = Unassigned), APIM subscription id, deployment, model, "
        "or the caller's Entra id ('(unidentified)' = requests no source names a caller)"
    )
    label: str = Field(description="group_by=person: the People table's display name, else the id")
    kind: str | None = Field(
        None, description="group_by=person: 'user' or 'application' when the People table knows the id"
    )
    cost_center: str | None = Field(
        None, description="group_by=subscription: the subscription's cost center code"
    )
    subscription_ids: list[str] | None = Field(
        None, description="group_by=cost_center: subscriptions charged to it"
    )


class MonthCloseOut(Schema):
    closed_at: datetime
    closed_by: str
    invoice_frozen: bool = Field(
        False, description="Rows' invoiced_cost is the invoice frozen at close; later exports are adjustments"
    )


class ChargebackOut(Schema):
    month: str
    currency: str
    group_by: str
    closed: MonthCloseOut | None = Field(
        None, description="Set when the month is closed: rows are frozen figures"
    )
    totals: ChargebackTotalsOut
    rows: list[ChargebackRowOut]
    adjustments: list[ChargebackRowOut] = Field(
        description="Closed months: usage since the close (current minus frozen), per group"
    )
    adjustment_totals: ChargebackTotalsOut | None = None


class UsagePointOut(MeasuresOut):
    time: datetime = Field(description="Start of the interval (UTC)")
    group: str
    label: str


class UsageOut(Schema):
    from_: datetime = Field(alias="from")
    to: datetime
    interval: str
    group_by: str | None
    currency: str
    totals: MeasuresOut
    rows: list[UsagePointOut]
    note: str = Field(
        "",
        description="Set when part of the window lies before the hourly horizon and was widened to "
        "whole days (usage before it is kept by day); empty otherwise.",
    )


def _measures(measures: Measures) -> dict:
    data = measures.as_json()
    data["currency"] = settings.PORTAL_CURRENCY
    return data


def _row(row: ReportRow) -> dict:
    data = {"group": row.group, "label": row.label, **_measures(row.measures)}
    if row.cost_center is not None:
        data["cost_center"] = row.cost_center
    if row.subscription_ids is not None:
        data["subscription_ids"] = row.subscription_ids
    if row.kind is not None:
        data["kind"] = row.kind
    return data


def _true_up(data: dict, invoiced: Decimal | None) -> dict:
    if invoiced is not None:
        data["invoiced_cost"] = format(invoiced.quantize(EXACT), "f")
        data["true_up"] = format((invoiced - Decimal(data["cost"])).quantize(EXACT), "f")
    return data


def _rows_true_up(rows: list[ReportRow], true_up: TrueUp | None) -> list[dict]:
    return [_true_up(_row(row), invoiced) for row, invoiced in rows_with_invoice(rows, true_up)]


@router.get("/chargeback", response=ChargebackOut, summary="Chargeback of a month, grouped")
def chargeback(
    request,
    month: str | None = Query(None, description="YYYY-MM (UTC month)"),
    group_by: str = Query(
        "cost_center",
        description="cost_center | subscription | deployment | model | person (live figures from the "
        "request log, also for a closed month)",
    ),
):
    require_role(request, FINANCE, BUDGET_OWNER)
    if not month:
        raise HttpError(422, "month is required, as YYYY-MM (for example 2026-10).")
    if group_by not in CHARGEBACK_GROUPINGS:
        raise HttpError(422, f"group_by must be one of {', '.join(CHARGEBACK_GROUPINGS)}, not {group_by!r}.")
    try:
        report = chargeback_report(
            month=month_parse(month), group_by=group_by, scope=cost_center_scope(user=request.user)
        )
    except params.ParamError as error:
        raise HttpError(422, str(error)) from None
    invoice = report_invoice(report=report)
    adjustment_totals = None
    if report.close:
        adjustment_totals = _measures(report.adjustment_totals)
        if invoice is not None:
            _true_up(adjustment_totals, invoice.adjustment_total)
    return {
        "month": report.month.strftime("%Y-%m"),
        "currency": report.currency,
        "group_by": group_by,
        "closed": (
            {
                "closed_at": report.close.closed_at,
                "closed_by": report.close.closed_by_name,
                "invoice_frozen": report.close.snapshot.get("invoice") is not None,
            }
            if report.close
            else None
        ),
        "totals": _true_up(_measures(report.totals), invoice.total if invoice is not None else None),
        "rows": _rows_true_up(report.rows, invoice.rows if invoice is not None else None),
        "adjustments": _rows_true_up(
            report.adjustments, invoice.adjustments if invoice is not None else None
        ),
        "adjustment_totals": adjustment_totals,
    }


def _moment(name: str, text: str | None) -> datetime:
    """A date (midnight UTC) or an ISO datetime on a whole hour; naive means UTC."""
    if not text:
        raise HttpError(422, f"{name} is required: a date (2026-10-01) or a UTC datetime on the hour.")
    try:
        moment = params.datetime_parse(text, name=name)
    except params.ParamError as error:
        raise HttpError(422, str(error)) from None
    if moment.minute or moment.second or moment.microsecond:
        raise HttpError(
            422, f"{name} must be on a whole hour (usage is kept per hour), not {params.shown(text)}."
        )
    return moment


@router.get("/usage", response=UsageOut, by_alias=True, summary="Usage measures as a time series")
def usage(
    request,
    from_: str | None = Query(
        None, alias="from", description="Start, inclusive: date or UTC datetime on the hour"
    ),
    to: str | None = Query(None, description="End, exclusive: date or UTC datetime on the hour"),
    group_by: str | None = Query(
        None, description="cost_center | subscription | deployment | model (optional)"
    ),
    interval: str = Query("day", description="day | hour"),
):
    require_role(request, FINANCE, BUDGET_OWNER)
    if interval not in MAX_DAYS:
        raise HttpError(422, f"interval must be day or hour, not {interval!r}.")
    if group_by == "":
        group_by = None
    if group_by is not None and group_by not in API_GROUPINGS:
        raise HttpError(422, f"group_by must be one of {', '.join(API_GROUPINGS)}, not {group_by!r}.")
    begin, end = _moment("from", from_), _moment("to", to)
    if end <= begin:
        raise HttpError(422, "to must be after from (the window is [from, to)).")
    if end - begin > timedelta(days=MAX_DAYS[interval]):
        raise HttpError(422, f"A window of interval={interval} may span at most {MAX_DAYS[interval]} days.")
    try:
        rows, totals = usage_series(
            begin=begin,
            end=end,
            interval=interval,
            group_by=group_by,
            scope=cost_center_scope(user=request.user),
        )
    except params.ParamError as error:
        raise HttpError(422, str(error)) from None
    return {
        "from": begin,
        "to": end,
        "interval": interval,
        "group_by": group_by,
        "currency": settings.PORTAL_CURRENCY,
        "totals": _measures(totals),
        "rows": [
            {"time": row.time, "group": row.group, "label": row.label, **_measures(row.measures)}
            for row in rows
        ],
        "note": hourly_range_widened(begin=begin, end=end).note,
    }
