"""Calendar months in UTC, as half-open windows ``[start, end)``."""

from datetime import UTC, date, datetime

# Re-exported: quotas read months the way every page does (years 2000..2999, readable errors).
from aoai_portal.params import month_parse

__all__ = ["month_bounds", "month_of", "month_parse"]


def month_of(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end
