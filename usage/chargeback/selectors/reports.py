"""Chargeback reports of a month, over half-open UTC windows ``[begin, end)``.

Everything is computed from *lines*: the rollup summed per time bucket (day or hour) and per
APIM subscription, product, deployment and model. A report groups lines by one key after
resolving each line's cost center; each line lands in exactly one group, so the groups always
add up to the grand total. Money is ``Decimal`` end to end (never a float).

Closed months are reported from the snapshot frozen at close; what arrived since is the
difference between the live lines and the snapshot lines, shown as adjustment rows.

The grouping is in ``groups``; whether a month is closed, and its snapshot, in ``closes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from aoai_portal.months import month_bounds, month_floor

from ...models import MonthClose
from ..scope import EVERY_COST_CENTER, CostCenterScope
from .closes import _frozen_resolver, month_close_active
from .cost_centers import Resolver, cost_center_resolver
from .groups import GROUPINGS, ChargebackFilters, ReportRow, _group, _ordered, group_key
from .lines import ChargebackInputError, Line, Measures, usage_lines
from .people import people_named, person_lines

# Code of the chart series of a closed month's late usage.
ADJUSTMENT_SERIES = "(adjustment)"


@dataclass
class ChartSeries:
    code: str
    name: str
    values: list[Decimal]


@dataclass
class Report:
    """One chargeback table: rows, their total, and for closed months the adjustments since close."""

    month: date
    begin: datetime
    end: datetime
    group_by: str
    filters: ChargebackFilters
    currency: str
    rows: list[ReportRow]
    totals: Measures
    close: MonthClose | None = None
    adjustments: list[ReportRow] = field(default_factory=list)
    adjustment_totals: Measures = field(default_factory=Measures)
    days: list[date] = field(default_factory=list)
    chart: list[ChartSeries] = field(default_factory=list)
    # The lines the rows were grouped from and how their cost centers were resolved (the invoice
    # true-up spreads each subscription's invoiced share over the same rows).
    lines: list[Line] = field(default_factory=list)
    resolve: Resolver | None = None
    # Whose report: the lines above are already cut to it (``usage.chargeback.scope``).
    scope: CostCenterScope = EVERY_COST_CENTER

    @property
    def is_closed(self) -> bool:
        return self.close is not None

    @property
    def effective_totals(self) -> Measures:
        """Closed figures plus adjustments: everything known today."""
        effective = Measures()
        effective.add(self.totals)
        effective.add(self.adjustment_totals)
        return effective


def chart_grouping(group_by: str) -> str:
    """What the daily chart stacks by: what the table groups by, except the table of days, whose
    chart shows the deployment and model the days belong to."""
    return "deployment_model" if group_by == "day" else group_by


def _chart(
    lines: list[Line],
    *,
    days: list[date],
    resolve: Resolver,
    filters: ChargebackFilters,
    grouping: str = "cost_center",
) -> list[ChartSeries]:
    index = {day: i for i, day in enumerate(days)}
    series: dict[str, ChartSeries] = {}
    for line in lines:
        ref = resolve(line.subscription, line.product)
        if not filters.matches(line, ref):
            continue
        code, name = group_key(grouping, line, ref)
        entry = series.get(code)
        if entry is None:
            entry = series[code] = ChartSeries(code, name, [Decimal(0)] * len(days))
        entry.values[index[line.bucket.date()]] += line.measures.cost
    return sorted(series.values(), key=lambda s: (-sum(s.values), s.code))


def chargeback_report(
    *,
    month: date,
    group_by: str,
    scope: CostCenterScope,
    filters: ChargebackFilters | None = None,
    with_chart: bool = False,
) -> Report:
    """The chargeback of ``month`` grouped by ``group_by``; closed months from their snapshot.

    Only lines charged to a cost center in ``scope`` count, frozen and live alike.
    """
    if group_by not in GROUPINGS:
        raise ChargebackInputError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}.")
    filters = filters or ChargebackFilters()
    month = month_floor(month)
    begin, end = month_bounds(month)
    if group_by == "person":
        return _person_report(month=month, filters=filters, scope=scope)
    # Only the "day" grouping and the daily chart need days; other reports read month sums.
    collapse = group_by != "day" and not with_chart
    live_lines = usage_lines(
        begin=begin,
        end=end,
        interval="day",
        model=filters.model,
        subscription=filters.subscription,
        collapse=collapse,
    )
    current = cost_center_resolver()
    close = month_close_active(month)
    report = Report(
        month=month,
        begin=begin,
        end=end,
        group_by=group_by,
        filters=filters,
        currency=settings.PORTAL_CURRENCY,
        rows=[],
        totals=Measures(),
        close=close,
        scope=scope,
    )
    days = [begin.date() + timedelta(days=i) for i in range((end - begin).days)]
    grouping = chart_grouping(group_by)
    if close is None:
        live_lines = scope.lines_keep(live_lines, resolve=current)
        report.lines, report.resolve = live_lines, current
        groups, report.totals = _group(live_lines, grouping=group_by, resolve=current, filters=filters)
        report.rows = _ordered(groups.values(), group_by)
        if with_chart:
            report.days = days
            report.chart = _chart(live_lines, days=days, resolve=current, filters=filters, grouping=grouping)
        return report

    resolve = _frozen_resolver(close.snapshot, current)
    frozen_lines = [Line.from_json(data) for data in close.snapshot.get("lines", [])]
    frozen_lines = scope.lines_keep(frozen_lines, resolve=resolve)
    live_lines = scope.lines_keep(live_lines, resolve=resolve)
    report.lines, report.resolve = frozen_lines, resolve
    frozen, report.totals = _group(frozen_lines, grouping=group_by, resolve=resolve, filters=filters)
    live, live_totals = _group(live_lines, grouping=group_by, resolve=resolve, filters=filters)
    report.rows = _ordered(frozen.values(), group_by)
    adjustments = []
    for key in sorted(set(frozen) | set(live)):
        reference = live.get(key) or frozen[key]
        before = frozen[key].measures if key in frozen else Measures()
        after = live[key].measures if key in live else Measures()
        difference = after.minus(before)
        if not difference.is_zero():
            adjustments.append(replace(reference, measures=difference))
    if group_by == "cost_center":
        # List only the subscriptions whose figures changed since the close.
        frozen_subs, _ = _group(frozen_lines, grouping="subscription", resolve=resolve, filters=filters)
        live_subs, _ = _group(live_lines, grouping="subscription", resolve=resolve, filters=filters)
        changed = {
            key
            for key in set(frozen_subs) | set(live_subs)
            if (live_subs[key].measures if key in live_subs else Measures())
            != (frozen_subs[key].measures if key in frozen_subs else Measures())
        }
        for row in adjustments:
            row.subscription_ids = [s for s in row.subscription_ids or [] if s in changed]
    report.adjustments = _ordered(adjustments, group_by)
    report.adjustment_totals = live_totals.minus(report.totals)
    if with_chart:
        report.days = days
        report.chart = _chart(frozen_lines, days=days, resolve=resolve, filters=filters, grouping=grouping)
        adjustment = ChartSeries(ADJUSTMENT_SERIES, "Adjustments after close", [Decimal(0)] * len(days))
        live_by_day = _chart(live_lines, days=days, resolve=resolve, filters=filters, grouping=grouping)
        for s in live_by_day:
            adjustment.values = [a + v for a, v in zip(adjustment.values, s.values, strict=True)]
        for s in report.chart:
            adjustment.values = [a - v for a, v in zip(adjustment.values, s.values, strict=True)]
        if any(adjustment.values):
            report.chart.append(adjustment)
    return report


def _person_report(*, month: date, filters: ChargebackFilters, scope: CostCenterScope) -> Report:
    """Grouped by caller: live figures from the request log, also for a closed month (its
    snapshot has no person), so it has no adjustments. Only lines in ``scope`` count."""
    begin, end = month_bounds(month)
    lines = person_lines(begin=begin, end=end, model=filters.model, subscription=filters.subscription)
    resolve = cost_center_resolver()
    lines = scope.lines_keep(lines, resolve=resolve)
    groups, totals = _group(lines, grouping="person", resolve=resolve, filters=filters)
    people = people_named(list(groups))
    for key, row in groups.items():
        person = people.get(key)
        if person is not None:
            row.label, row.kind = person.display_name, person.kind
    return Report(
        month=month,
        begin=begin,
        end=end,
        group_by="person",
        filters=filters,
        currency=settings.PORTAL_CURRENCY,
        rows=_ordered(groups.values(), "person"),
        totals=totals,
        close=month_close_active(month),
        lines=lines,
        resolve=resolve,
        scope=scope,
    )
