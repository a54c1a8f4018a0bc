"""The hourly horizon: UsageHourly keeps recent months only, older months are kept by day.

``PORTAL_HOURLY_ROLLUP_MONTHS`` UTC months (the current one included) keep their hourly rollup
rows; before the horizon (``hourly_horizon``: the first midnight of the oldest of those months)
only the daily rollups are kept (UsageDaily, the latency rollups with their per-hour-of-day
entries, TokensPerMinuteHourly), which answer every whole-day question with the same numbers.
0 keeps hourly rows forever. The refresh and the nightly prune that drop the rows live in
``usage.rollups.hourly_prune``.

Readers that would read UsageHourly for part of a day before the horizon read the whole day
instead (``hourly_range_widened``): a smaller number would be silently wrong, a wider range is
said (``HourlyRange.note``) where a user chose the range.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from aoai_portal.months import month_add, month_bounds, month_floor


def hourly_horizon(*, now: datetime | None = None) -> datetime | None:
    """UTC midnight of the first day of the oldest month kept hourly at ``now``; None when hourly
    rows are kept forever (``PORTAL_HOURLY_ROLLUP_MONTHS`` 0)."""
    months = settings.PORTAL_HOURLY_ROLLUP_MONTHS
    if months <= 0:
        return None
    return month_bounds(month_add(month_floor(now or timezone.now()), 1 - months))[0]


def day_floor(moment: datetime) -> datetime:
    """UTC midnight of ``moment``'s UTC day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_ceil(moment: datetime) -> datetime:
    floor = day_floor(moment)
    return floor if floor == moment else floor + timedelta(days=1)


@dataclass(frozen=True)
class HourlyRange:
    """A range as the hourly rollup can answer it: ``[begin, end)``, ``widened`` when a partial day
    before ``horizon`` had to become its whole day."""

    begin: datetime
    end: datetime
    widened: bool = False
    horizon: datetime | None = None

    @property
    def note(self) -> str:
        """What a page or API shows when the range it was asked for was widened ("" if not)."""
        if not self.widened or self.horizon is None:
            return ""
        return f"Before {self.horizon:%Y-%m-%d} usage is kept by day; the range was widened to whole days."


def hourly_range_widened(
    *, begin: datetime, end: datetime, now: datetime | None = None, whole_days: bool = False
) -> HourlyRange:
    """``[begin, end)`` with each partial UTC day before the horizon widened to its whole day.

    Readers that read whole days from the daily rollups and only partial days from UsageHourly
    need no more. With ``whole_days`` a range that starts before the horizon becomes whole days at
    both ends: for readers that take a range that is not whole days from UsageHourly alone (the
    latency reads), which has no rows for the days before the horizon.
    """
    horizon = hourly_horizon(now=now)
    if horizon is None or begin >= horizon:
        return HourlyRange(begin, end, horizon=horizon)
    new_begin = day_floor(begin)
    new_end = _day_ceil(end) if whole_days or day_floor(end) < horizon else end
    widened = new_begin != begin or new_end != end
    return HourlyRange(new_begin if widened else begin, new_end if widened else end, widened, horizon)
