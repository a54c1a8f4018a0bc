"""Calendar months in UTC, the one home of month arithmetic.

A month is the ``date`` of its first day; its window is half-open ``[start, end)`` between two UTC
midnights. ``month_parse`` reads what people type and accepts only the years
``aoai_portal.params`` accepts (YEAR_MIN..YEAR_MAX), so a far month is refused at the door
instead of failing deep inside a report when it asks for the next or previous month.
"""

import re
from datetime import UTC, date, datetime, time

from .params import ParamError, in_range, shown

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_parse(text: str | None, *, name: str = "month") -> date:
    """``"2026-11"`` -> ``date(2026, 11, 1)``; ParamError with a readable message otherwise."""
    value = (text or "").strip()
    match = _MONTH.fullmatch(value)
    if not match:
        raise ParamError(f"{name} must be YYYY-MM (for example 2026-10), not {shown(value)}.")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise ParamError(f"{name} must be YYYY-MM (for example 2026-10): {shown(value)} is not a month.")
    return in_range(date(year, month, 1), name=name)


def month_floor(moment: datetime | date) -> date:
    """The month of ``moment``: an aware datetime's UTC month, a naive one's (read as UTC) or a date's."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    return moment.replace(day=1)


def month_add(month: date, months: int) -> date:
    """The month ``months`` after the month of ``month`` (before it when negative)."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_next(month: date) -> date:
    return month_add(month, 1)


def month_previous(month: date) -> date:
    return month_add(month, -1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The half-open UTC window ``[first midnight, next month's first midnight)``."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    return start, datetime.combine(month_next(month), time.min, tzinfo=UTC)


def month_current() -> date:
    """This month in UTC."""
    return month_floor(datetime.now(UTC))
