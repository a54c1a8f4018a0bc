"""Chargeback pages: month overview with drill-down, exports, month close and reopen.

The drill-down level follows from the filters in the query string (shareable URLs):
cost centers -> ``cost_center=`` subscriptions -> ``subscription=`` deployments/models ->
``deployment=&model=`` days. Every page, CSV and XLSX is one ``chargeback_report`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from aoai_portal.access_audit import access_audit_export
from aoai_portal.months import month_bounds, month_current, month_parse, month_previous
from aoai_portal.params import ParamError
from aoai_portal.roles import ADMIN, BUDGET_OWNER, FINANCE, REVIEWER, role_required, user_has_role, user_roles

from ..chargeback.exports import report_csv, report_filename, report_xlsx
from ..chargeback.scope import CostCenterScope, cost_center_scope
from ..chargeback.selectors.close_checks import month_close_warnings
from ..chargeback.selectors.closes import month_close_history
from ..chargeback.selectors.cost_centers import cost_center_choices
from ..chargeback.selectors.groups import EMPTY_PARAM, ChargebackFilters
from ..chargeback.selectors.identities import identity_requests, identity_usage
from ..chargeback.selectors.projection import chargeback_projection
from ..chargeback.selectors.reports import ADJUSTMENT_SERIES, Report, chargeback_report, chart_grouping
from ..chargeback.selectors.true_up import (
    UNALLOCATED_GROUP,
    ReportInvoice,
    TrueUp,
    report_invoice,
    rows_with_invoice,
)
from ..chargeback.services import (
    MonthCloseError,
    MonthCloseUnconfirmed,
    chargeback_month_close,
    chargeback_month_reopen,
)
from ..models import UsageDaily

_FILTER_NAMES = ("cost_center", "subscription", "deployment", "model")
_NEXT_LEVEL = {
    "cost_center": "subscription",
    "subscription": "deployment_model",
    "deployment_model": "day",
}
# The daily chart stacks by what the table groups by (``chart_grouping``).
_CHART_TITLES = {
    "cost_center": "Daily cost by cost center",
    "subscription": "Daily cost by subscription",
    "deployment": "Daily cost by deployment",
    "model": "Daily cost by model",
    "deployment_model": "Daily cost by deployment and model",
}
_LEVEL_TITLES = {
    "cost_center": "Cost centers",
    "subscription": "Subscriptions",
    "deployment_model": "Deployments and models",
    "day": "Days",
}


@dataclass
class PageQuery:
    month: date
    filters: ChargebackFilters

    @property
    def level(self) -> str:
        if self.filters.deployment is not None:
            return "day"
        if self.filters.subscription is not None:
            return "deployment_model"
        if self.filters.cost_center is not None:
            return "subscription"
        return "cost_center"

    def url(self, name: str = "usage:chargeback", **changes: str | None) -> str:
        values = {"month": self.month.strftime("%Y-%m")}
        for key in _FILTER_NAMES:
            value = changes[key] if key in changes else getattr(self.filters, key)
            if value is not None:
                values[key] = value if value != "" else EMPTY_PARAM
        return reverse(name) + "?" + urlencode(values)


def _page_query(request: HttpRequest) -> PageQuery:
    """Month and filters from the query string; raises ParamError on a bad month."""
    raw_month = request.GET.get("month") or request.POST.get("month")
    month = month_parse(raw_month) if raw_month else month_current()
    values: dict[str, str | None] = {}
    for name in _FILTER_NAMES:
        value = request.GET.get(name)
        if value is None or value == "":
            values[name] = None
        else:
            values[name] = "" if value == EMPTY_PARAM else value
    return PageQuery(month=month, filters=ChargebackFilters(**values))


def _bad_request(request: HttpRequest, error: Exception) -> HttpResponse:
    return render(request, "usage/chargeback_error.html", {"error": str(error)}, status=400)


def _drill_url(query: PageQuery, level: str, row) -> str | None:
    if level == "cost_center":
        return query.url(cost_center=row.group)
    if level == "subscription":
        return query.url(subscription=row.group)
    if level == "deployment_model":
        return query.url(deployment=row.deployment, model=row.model)
    return None


def _breadcrumbs(query: PageQuery) -> list[dict]:
    f = query.filters
    crumbs = [
        {
            "label": f"{query.month:%B %Y}",
            "url": query.url(cost_center=None, subscription=None, deployment=None),
        }
    ]
    if f.cost_center is not None:
        crumbs.append(
            {
                "label": f"Cost center {f.cost_center or 'Unassigned'}",
                "url": query.url(subscription=None, deployment=None),
            }
        )
    if f.subscription is not None:
        crumbs.append(
            {"label": f"Subscription {f.subscription or '(none)'}", "url": query.url(deployment=None)}
        )
    if f.deployment is not None:
        crumbs.append({"label": f"Deployment {f.deployment or '(none)'}", "url": query.url()})
    return crumbs


def _change(current: Decimal, previous: Decimal) -> Decimal | None:
    if not previous:
        return None
    return ((current - previous) * 100 / previous).quantize(Decimal("0.1"))


def _chart_data(report: Report) -> dict:
    by_cost_center = chart_grouping(report.group_by) == "cost_center"
    return {
        "currency": report.currency,
        "days": [d.isoformat() for d in report.days],
        "series": [
            {
                "code": s.code,
                "name": s.name,
                "label": f"{s.code} — {s.name}"
                if by_cost_center and s.code and s.code != ADJUSTMENT_SERIES
                else s.name,
                "values": [float(v.quantize(Decimal("0.01"))) for v in s.values],
            }
            for s in report.chart
        ],
    }


def _models_seen(month: date) -> list[str]:
    begin, end = month_bounds(month)
    return list(
        UsageDaily.objects.filter(day__gte=begin.date(), day__lt=end.date())
        .values_list("model", flat=True)
        .distinct()
        .order_by("model")
    )


def _items(query: PageQuery, level: str, rows: list, true_up: TrueUp | None) -> list[dict]:
    """Table rows: the report's rows, with their invoiced amount and true-up once there is one."""
    return [
        {
            "row": row,
            "url": _drill_url(query, level, row) if row.group != UNALLOCATED_GROUP else None,
            "invoiced": invoiced,
            "true_up": None if invoiced is None else invoiced - row.measures.cost,
        }
        for row, invoiced in rows_with_invoice(rows, true_up)
    ]


def _invoice_totals(report: Report, invoice: ReportInvoice | None) -> dict:
    if invoice is None:
        return {}
    return {
        "invoiced": invoice.total,
        "true_up": invoice.total - report.totals.cost,
        "adjustment_invoiced": invoice.adjustment_total,
        "adjustment_true_up": invoice.adjustment_total - report.adjustment_totals.cost,
    }


@role_required(FINANCE, BUDGET_OWNER)
def month_overview(request: HttpRequest) -> HttpResponse:
    try:
        query = _page_query(request)
    except ParamError as error:
        return _bad_request(request, error)
    level = query.level
    scope = cost_center_scope(user=request.user)
    report = chargeback_report(
        month=query.month, group_by=level, scope=scope, filters=query.filters, with_chart=True
    )
    previous = chargeback_report(
        month=month_previous(query.month), group_by="cost_center", scope=scope, filters=query.filters
    )
    current_totals, previous_totals = report.effective_totals, previous.effective_totals
    invoice = report_invoice(report=report)
    rows = _items(query, level, report.rows, invoice.rows if invoice else None)
    adjustments = _items(query, level, report.adjustments, invoice.adjustments if invoice else None)
    now = datetime.now(UTC)
    month_over = month_bounds(query.month)[1] <= now
    roles = user_roles(request.user)
    context = {
        "query": query,
        "level": level,
        "level_title": _LEVEL_TITLES[level],
        "chart_title": _CHART_TITLES[chart_grouping(level)],
        "report": report,
        "rows": rows,
        "adjustments": adjustments,
        "totals": report.totals,
        "invoice": invoice,
        "invoice_totals": _invoice_totals(report, invoice),
        "effective": current_totals,
        "previous": previous_totals,
        "previous_month": month_previous(query.month),
        "cost_change": _change(current_totals.cost, previous_totals.cost),
        "tokens_change": _change(Decimal(current_totals.total_tokens), Decimal(previous_totals.total_tokens)),
        "requests_change": _change(Decimal(current_totals.requests), Decimal(previous_totals.requests)),
        "breadcrumbs": _breadcrumbs(query),
        "cost_centers": cost_center_choices(scope=scope),
        # A limited scope lists only the models of its own lines.
        "models": _models_seen(query.month)
        if scope.is_everything
        else sorted({line.model for line in report.lines}),
        "empty_param": EMPTY_PARAM,
        "chart_data": _chart_data(report),
        "csv_url": query.url("usage:chargeback_export_csv"),
        "xlsx_url": query.url("usage:chargeback_export_xlsx"),
        "previous_url": PageQuery(month_previous(query.month), query.filters).url(),
        "history": month_close_history(query.month),
        "can_close": not report.is_closed and month_over and user_has_role(request.user, (FINANCE,)),
        "can_reopen": report.is_closed and ADMIN in roles,
        "month_over": month_over,
        "projection": None if month_over else chargeback_projection(report=report, now=now),
        "show_identities": request.GET.get("identities") == "1",
        "identities_url": query.url() + "&identities=1#identities",
    }
    if context["show_identities"]:
        context.update(_people_context(request, query, report, scope))
    return render(request, "usage/chargeback_month.html", context)


def _people_context(request: HttpRequest, query: PageQuery, report: Report, scope: CostCenterScope) -> dict:
    """ "People and apps": usage per caller and, with ``person=``, that caller's latest requests
    (no text here; the request page shows it to reviewers and audits each open)."""
    identities = identity_usage(begin=report.begin, end=report.end, scope=scope, filters=query.filters)
    base = query.url() + "&identities=1"
    people = [
        {"row": row, "url": base + "&" + urlencode({"person": row.object_id}) + "#person"}
        for row in identities
    ]
    context = {
        "identities": people,
        "people_count": sum(1 for row in identities if row.kind == "user"),
        "apps_count": sum(1 for row in identities if row.kind == "application"),
        "people_csv_url": query.url("usage:chargeback_export_csv") + "&by=person",
        "people_xlsx_url": query.url("usage:chargeback_export_xlsx") + "&by=person",
        "can_open_requests": user_has_role(request.user, (REVIEWER,)),
    }
    person = request.GET.get("person")
    if person:
        chosen = next((row for row in identities if row.object_id == person), None)
        context["person"] = chosen or person
        context["person_requests"] = identity_requests(
            object_id=person, begin=report.begin, end=report.end, scope=scope, filters=query.filters
        )
    return context


def _export(request: HttpRequest, extension: str) -> HttpResponse:
    try:
        query = _page_query(request)
    except ParamError as error:
        return _bad_request(request, error)
    group_by = "person" if request.GET.get("by") == "person" else query.level
    report = chargeback_report(
        month=query.month,
        group_by=group_by,
        scope=cost_center_scope(user=request.user),
        filters=query.filters,
    )
    invoice = report_invoice(report=report)
    access_audit_export(request=request, what="chargeback", format=extension)
    if extension == "csv":
        response = HttpResponse(report_csv(report, invoice), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            report_xlsx(report, invoice),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{report_filename(report, extension)}"'
    return response


@role_required(FINANCE, BUDGET_OWNER)
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@role_required(FINANCE, BUDGET_OWNER)
def export_xlsx(request: HttpRequest) -> HttpResponse:
    return _export(request, "xlsx")


@role_required(FINANCE)
@require_http_methods(["GET", "POST"])
def month_close(request: HttpRequest) -> HttpResponse:
    """GET: what will be frozen, and a confirm button; POST: close the month."""
    try:
        query = _page_query(request)
    except ParamError as error:
        return _bad_request(request, error)
    back = PageQuery(query.month, ChargebackFilters()).url()
    error = ""
    if request.method == "POST":
        confirmed = request.POST.get("confirm") == "yes"
        try:
            chargeback_month_close(month=query.month, user=request.user, warnings_confirmed=confirmed)
        except MonthCloseUnconfirmed:
            error = "Tick the box to confirm that you have read the warnings, or cancel."
        except MonthCloseError as failure:
            messages.error(request, str(failure))
            return redirect(back)
        else:
            messages.success(request, f"{query.month:%B %Y} is closed; its figures are frozen.")
            return redirect(back)
    report = chargeback_report(
        month=query.month, group_by="cost_center", scope=cost_center_scope(user=request.user)
    )
    month_over = month_bounds(query.month)[1] <= datetime.now(UTC)
    context = {
        "query": query,
        "report": report,
        "back": back,
        "month_over": month_over,
        "warnings": month_close_warnings(month=query.month) if month_over and not report.close else [],
        "error": error,
    }
    return render(request, "usage/chargeback_close.html", context, status=400 if error else 200)


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def month_reopen(request: HttpRequest) -> HttpResponse:
    """Admin only: reopen a closed month, with a reason (recorded and audited)."""
    try:
        query = _page_query(request)
    except ParamError as error:
        return _bad_request(request, error)
    back = PageQuery(query.month, ChargebackFilters()).url()
    error = ""
    reason = ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            chargeback_month_reopen(month=query.month, user=request.user, reason=reason, request=request)
        except PermissionDenied as denied:
            return render(request, "forbidden.html", {"message": str(denied)}, status=403)
        except MonthCloseError as failure:
            error = str(failure)
        else:
            messages.success(request, f"{query.month:%B %Y} is reopened.")
            return redirect(back)
    history = month_close_history(query.month)
    context = {"query": query, "back": back, "error": error, "reason": reason, "history": history}
    return render(request, "usage/chargeback_reopen.html", context, status=400 if error else 200)
