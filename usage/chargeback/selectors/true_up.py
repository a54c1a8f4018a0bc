"""A month's invoice spread over the rows of a chargeback report (the true-up).

The invoice comes per APIM subscription (``usage.chargeback.invoices``). A subscription's share goes
to the report's rows in proportion to the computed cost of its lines in each row (by tokens when
its lines cost nothing), exactly: largest remainder at 8 places. So cost centers get the sum of
their subscriptions' shares, and deployments and models the part their traffic computed. A share
whose subscription has no line in the report goes to the subscription's own row (group_by
subscription), to its cost center (group_by cost_center), else to ``(unallocated)``, as does the
part of the invoice no subscription was allocated. Rows plus ``(unallocated)`` add up exactly to
the month's invoice.

A filtered report (a drill-down page) spreads each subscription's share over *all* its lines and
keeps the parts that fall in the filter; it has no ``(unallocated)`` row.

A closed month shows the invoice frozen in its ``MonthClose`` snapshot (``invoice``, written at
close); what the latest exports say beyond it is an adjustment per group, like late usage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from aoai_portal.months import month_bounds, month_floor

from ..invoices import InvoicedMonth, month_invoiced, shares_split
from ..scope import CostCenterScope
from .cost_centers import Resolver
from .groups import ChargebackFilters, ReportRow, group_key
from .lines import Line, Measures, usage_lines
from .reports import Report

UNALLOCATED_GROUP = "(unallocated)"
UNALLOCATED_LABEL = "Unallocated (invoice lines no request explains)"
# Weight key of the part of a subscription's lines that falls outside a filtered report.
_OUTSIDE = "\x00outside"


@dataclass
class TrueUp:
    total: Decimal
    by_group: dict[str, Decimal] = field(default_factory=dict)
    # Labels of the groups (for those that got an invoiced share but have no row in the report).
    labels: dict[str, str] = field(default_factory=dict)

    def invoiced(self, group: str) -> Decimal:
        return self.by_group.get(group, Decimal(0))

    def minus(self, other: TrueUp) -> TrueUp:
        keys = set(self.by_group) | set(other.by_group)
        return TrueUp(
            total=self.total - other.total,
            by_group={k: self.invoiced(k) - other.invoiced(k) for k in sorted(keys)},
            labels={**other.labels, **self.labels},
        )


@dataclass
class ReportInvoice:
    """The invoiced figures of one report: per row, and for closed months per adjustment."""

    rows: TrueUp
    frozen: bool  # closed month: ``rows`` is the invoice as it was at close
    adjustments: TrueUp | None = None  # closed month: the latest invoice minus the frozen one

    @property
    def total(self) -> Decimal:
        return self.rows.total

    @property
    def adjustment_total(self) -> Decimal:
        return self.adjustments.total if self.adjustments is not None else Decimal(0)


def invoiced_as_json(invoiced: InvoicedMonth | None) -> dict | None:
    """The ``invoice`` entry of a close snapshot."""
    if invoiced is None:
        return None
    return {
        "total": format(invoiced.total, "f"),
        "unallocated": format(invoiced.unallocated, "f"),
        "by_subscription": {key: format(value, "f") for key, value in invoiced.by_subscription.items()},
    }


def invoiced_from_json(data: dict | None) -> InvoicedMonth | None:
    if not data:
        return None
    return InvoicedMonth(
        total=Decimal(data["total"]),
        unallocated=Decimal(data["unallocated"]),
        by_subscription={key: Decimal(value) for key, value in data["by_subscription"].items()},
    )


def invoice_spread(
    *,
    invoiced: InvoicedMonth,
    weights: dict[str, dict[str, tuple[Decimal, Decimal]]],
    fallback,
    with_unallocated: bool = True,
) -> TrueUp:
    """Each subscription's share spread over its groups ``weights[subscription][group] = (cost,
    tokens)``: by cost, by tokens when its groups cost nothing, else ``fallback(subscription)`` ->
    ``(group, label)`` or None (dropped). Any grouping (cost center, deployment, person...) uses it."""
    result = TrueUp(total=invoiced.total)
    by_group: dict[str, Decimal] = defaultdict(Decimal)
    if with_unallocated:
        by_group[UNALLOCATED_GROUP] += invoiced.unallocated
    for subscription, amount in sorted(invoiced.by_subscription.items()):
        groups = weights.get(subscription, {})
        by_cost = {key: cost for key, (cost, _tokens) in groups.items()}
        if not any(w > 0 for w in by_cost.values()):
            by_cost = {key: tokens for key, (_cost, tokens) in groups.items()}
        if any(w > 0 for w in by_cost.values()):
            for key, share in shares_split(amount=amount, weights=by_cost).items():
                if key != _OUTSIDE:
                    by_group[key] += share
            continue
        target = fallback(subscription)
        if target is None:
            continue
        key, label = target
        by_group[key] += amount
        if key != UNALLOCATED_GROUP:
            result.labels[key] = label
    result.by_group = dict(by_group)
    return result


def _line_weights(
    lines: Iterable[Line], *, group_by: str, resolve: Resolver, filters: ChargebackFilters
) -> tuple[dict[str, dict[str, tuple[Decimal, Decimal]]], dict[str, str]]:
    weights: dict[str, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
    labels: dict[str, str] = {}
    for line in lines:
        ref = resolve(line.subscription, line.product)
        key = _OUTSIDE
        if filters.matches(line, ref):
            key, label = group_key(group_by, line, ref)
            labels.setdefault(key, label)
        cost, tokens = weights[line.subscription].get(key, (Decimal(0), Decimal(0)))
        weights[line.subscription][key] = (
            cost + line.measures.cost_exact,
            tokens + line.measures.total_tokens,
        )
    return weights, labels


def lines_true_up(
    *, lines: list[Line], group_by: str, resolve: Resolver, filters: ChargebackFilters,
    invoiced: InvoicedMonth,
) -> TrueUp:  # fmt: skip
    """``invoiced`` spread over the groups of ``lines`` (all of the month's lines, unfiltered)."""
    weights, labels = _line_weights(lines, group_by=group_by, resolve=resolve, filters=filters)
    filtered = filters != ChargebackFilters()

    def fallback(subscription: str) -> tuple[str, str] | None:
        ref = resolve(subscription, "")
        if filtered and (
            filters.deployment is not None
            or filters.model is not None
            or filters.subscription not in (None, subscription)
            or filters.cost_center not in (None, ref.code)
        ):
            return None  # another page's share
        if group_by == "subscription":
            return subscription, subscription or "(no subscription)"
        if group_by == "cost_center":
            return ref.code, ref.name
        return None if filtered else (UNALLOCATED_GROUP, UNALLOCATED_LABEL)

    result = invoice_spread(
        invoiced=invoiced, weights=weights, fallback=fallback, with_unallocated=not filtered
    )
    if filtered:
        # Only the rows of this page: their sum is the page's invoiced total.
        result.total = sum(result.by_group.values(), Decimal(0))
    result.labels = {**result.labels, **labels}
    return result


def report_true_up(*, report: Report, invoiced: InvoicedMonth) -> TrueUp:
    """``invoiced`` spread over ``report``'s groups; unfiltered, ``by_group`` has ``(unallocated)``."""
    return _scoped_true_up(report, lines=_all_lines(report, frozen=True), invoiced=invoiced)


def _scoped_true_up(report: Report, *, lines: list[Line], invoiced: InvoicedMonth) -> TrueUp:
    """The true-up over ``lines`` as the report's reader may see it (``report.scope``): only their
    cost centers' lines and their subscriptions' invoiced shares, nothing unallocated."""
    assert report.resolve is not None, "a true-up needs a report from chargeback_report"
    if not report.scope.is_everything:
        lines = report.scope.lines_keep(lines, resolve=report.resolve)
        invoiced = invoiced_in_scope(invoiced, report=report, scope=report.scope)
    return lines_true_up(
        lines=lines, group_by=report.group_by, resolve=report.resolve, filters=report.filters,
        invoiced=invoiced,
    )  # fmt: skip


def invoiced_in_scope(invoiced: InvoicedMonth, *, report: Report, scope: CostCenterScope) -> InvoicedMonth:
    """The part of the invoice a limited scope may see: its subscriptions' shares, no unallocated.

    A subscription is in scope when one of the (already scoped) report's lines is its own, or when
    its own assignment charges it to a cost center in scope.
    """
    if scope.is_everything:
        return invoiced
    resolve = report.resolve
    assert resolve is not None
    seen = {line.subscription for line in report.lines}
    kept = {
        subscription: amount
        for subscription, amount in invoiced.by_subscription.items()
        if subscription in seen or scope.allows(resolve(subscription, "").code)
    }
    return InvoicedMonth(total=sum(kept.values(), Decimal(0)), by_subscription=kept)


def _all_lines(report: Report, *, frozen: bool) -> list[Line]:
    """The month's lines without the report's filters (a share is spread over all of them)."""
    if frozen and report.is_closed:
        return report.lines  # the snapshot holds every line of the month
    if not frozen or report.filters.subscription is not None or report.filters.model is not None:
        return usage_lines(
            begin=report.begin, end=report.end, interval="day", collapse=report.group_by != "day"
        )
    return report.lines


def report_invoice(*, report: Report) -> ReportInvoice | None:
    """The invoiced figures of ``report``; None while nothing about the month's invoice is known."""
    assert report.resolve is not None, "report_invoice needs a report from chargeback_report"
    current = month_invoiced(month=report.month)
    if report.close is None:
        if current is None:
            return None
        return ReportInvoice(rows=report_true_up(report=report, invoiced=current), frozen=False)
    frozen = invoiced_from_json(report.close.snapshot.get("invoice"))
    if frozen is None and current is None:
        return None
    nothing = InvoicedMonth(total=Decimal(0))
    rows = report_true_up(report=report, invoiced=frozen or nothing)
    live = _scoped_true_up(report, lines=_all_lines(report, frozen=False), invoiced=current or nothing)
    adjustments = live.minus(rows)
    adjustments.by_group = {k: v for k, v in adjustments.by_group.items() if v}
    return ReportInvoice(rows=rows, frozen=True, adjustments=adjustments)


def rows_with_invoice(
    rows: list[ReportRow], true_up: TrueUp | None
) -> list[tuple[ReportRow, Decimal | None]]:
    """The report's rows with their invoiced amount (None without invoice), then the groups only
    the invoice has, then ``(unallocated)`` when the true-up has it: what pages, exports and the
    API list."""
    if true_up is None:
        return [(row, None) for row in rows]
    out: list[tuple[ReportRow, Decimal | None]] = [(row, true_up.invoiced(row.group)) for row in rows]
    seen = {row.group for row in rows} | {UNALLOCATED_GROUP}
    for group in sorted(g for g in true_up.by_group if g not in seen):
        label = true_up.labels.get(group, group)
        out.append((ReportRow(group=group, label=label, measures=Measures()), true_up.invoiced(group)))
    if UNALLOCATED_GROUP in true_up.by_group:
        row = ReportRow(group=UNALLOCATED_GROUP, label=UNALLOCATED_LABEL, measures=Measures())
        out.append((row, true_up.invoiced(UNALLOCATED_GROUP)))
    return out


UNIDENTIFIED_PERSON = "(unidentified)"


def person_true_up(*, month: date, invoiced: InvoicedMonth) -> TrueUp:
    """``invoiced`` spread over the people who called (``GatewayRequest.caller_object_id``; requests
    without a caller are ``(unidentified)``): each subscription's share by its requests' computed
    cost per caller (by tokens when they cost nothing). A subscription with no request of the
    month in the log keeps its share in ``(unallocated)``. Groups are object ids; labels are names
    from the People table."""
    from ...models import GatewayRequest, NamedIdentity

    begin, end = month_bounds(month_floor(month))
    sums = (
        GatewayRequest.objects.filter(time__gte=begin, time__lt=end)
        .values_list("apim_subscription_id", "caller_object_id")
        .annotate(cost=Sum("cost"), tokens=Sum("total_tokens"))
        .order_by()
    )
    weights: dict[str, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
    for subscription, caller, cost, tokens in sums:
        key = caller or UNIDENTIFIED_PERSON
        before = weights[subscription or ""].get(key, (Decimal(0), Decimal(0)))
        weights[subscription or ""][key] = (before[0] + (cost or 0), before[1] + Decimal(tokens or 0))
    result = invoice_spread(
        invoiced=invoiced, weights=weights, fallback=lambda _s: (UNALLOCATED_GROUP, UNALLOCATED_LABEL)
    )
    people = {key for groups in weights.values() for key in groups}
    names = dict(NamedIdentity.objects.filter(object_id__in=people).values_list("object_id", "display_name"))
    result.labels = {key: names.get(key) or key for key in people}
    return result
