"""Month-end projection: one rule for every page that projects a month in progress.

Projected = month to date + (usage of the recent window / its length in days) × days left in the
month. The recent window is the last ``days`` whole UTC days (``QUOTA_PROJECTION_DAYS``) plus the
current day so far: whole days are read from the daily rollup, and today's part is the partial day
month to date reads anyway (a window of exactly ``days`` × 24 hours would start in the middle of a
day and read a second partial day of hourly rows). The quota page projects each subscription's
tokens and cost, the chargeback page the selection's cost and tokens; both read the window and
extrapolate here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from aoai_portal.months import month_bounds

from .rollups.horizon import day_floor

_DAY_SECONDS = Decimal(86400)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ProjectionWindow:
    """Where a month stands at ``as_of``: the recent window ``[recent_start, as_of)`` (``days``
    whole UTC days and today so far) whose daily rate is extrapolated over ``days_left`` (0 once
    the month is over)."""

    start: datetime
    end: datetime
    as_of: datetime
    days: int
    days_left: Decimal

    @property
    def recent_start(self) -> datetime:
        return day_floor(self.as_of) - timedelta(days=self.days)

    @property
    def recent_days(self) -> Decimal:
        """Length of ``[recent_start, as_of)`` in days: ``days`` plus the part of today gone."""
        return Decimal((self.as_of - self.recent_start).total_seconds()) / _DAY_SECONDS

    @property
    def in_progress(self) -> bool:
        return self.as_of < self.end

    def tokens(self, *, to_date: int, recent: int) -> int:
        """Projected tokens at month end (whole tokens, rounded down)."""
        return to_date + int(Decimal(recent) / self.recent_days * self.days_left)

    def cost(self, *, to_date: Decimal, recent: Decimal) -> Decimal:
        """Projected cost at month end, to the cent."""
        return (Decimal(to_date) + Decimal(recent) / self.recent_days * self.days_left).quantize(_CENT)


def projection_window(*, month: date, now: datetime, days: int | None = None) -> ProjectionWindow:
    """The projection window of ``month`` seen at ``now`` (``days``: ``QUOTA_PROJECTION_DAYS``).

    A month not started yet has ``as_of <= start`` (nothing to project from)."""
    start, end = month_bounds(month)
    as_of = min(now, end)
    days = days or settings.QUOTA_PROJECTION_DAYS
    days_left = max(Decimal((end - as_of).total_seconds()), Decimal(0)) / _DAY_SECONDS
    return ProjectionWindow(start=start, end=end, as_of=as_of, days=days, days_left=days_left)
