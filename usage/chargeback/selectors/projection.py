"""The month-end projection of a chargeback selection while its month is in progress.

The rule is ``usage.projection`` (the quota page's too): month to date plus the daily rate of the
last ``QUOTA_PROJECTION_DAYS`` whole UTC days and today so far, times the days left. The recent window is read with the
report's own filters and cost-center resolution, so the projection is of exactly what the page
totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from usage.projection import ProjectionWindow, projection_window

from .cost_centers import cost_center_resolver
from .groups import group_totals
from .lines import Measures, usage_lines
from .reports import Report


@dataclass(frozen=True)
class ChargebackProjection:
    window: ProjectionWindow
    recent: Measures  # the selection's usage in the window the rate comes from
    cost: Decimal
    total_tokens: int


def chargeback_projection(*, report: Report, now: datetime) -> ChargebackProjection | None:
    """Where ``report``'s selection will end its month at the recent rate; None unless the month
    is in progress at ``now``."""
    window = projection_window(month=report.month, now=now)
    if not window.in_progress or window.as_of <= window.start:
        return None
    lines = usage_lines(
        begin=window.recent_start,
        end=window.as_of,
        interval="day",
        model=report.filters.model,
        subscription=report.filters.subscription,
        collapse=True,
    )
    resolve = report.resolve or cost_center_resolver()
    # The report's reader sees only their cost centers: so does the projection.
    lines = report.scope.lines_keep(lines, resolve=resolve)
    recent = group_totals(lines, resolve=resolve, filters=report.filters)
    to_date = report.effective_totals
    return ChargebackProjection(
        window=window,
        recent=recent,
        cost=window.cost(to_date=to_date.cost, recent=recent.cost),
        total_tokens=window.tokens(to_date=to_date.total_tokens, recent=recent.total_tokens),
    )
