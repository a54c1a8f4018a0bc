"""Calendar months in UTC, as half-open windows ``[start, end)``."""

import re
from datetime import UTC, date, datetime

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_parse(text: str) -> date:
    """``"2026-11"`` -> ``date(2026, 11, 1)``; raises ``ValueError`` with a message a user can read."""
    match = _MONTH.match((text or "").strip())
    if not match:
        raise ValueError(f"month must look like YYYY-MM, got {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 2000:
        raise ValueError(f"{text!r} is not a month")
    return date(year, month, 1)


def month_of(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end
