"""What people type into query strings, validated in one place.

Dates and moments are read here (months by ``aoai_portal.months.month_parse``, with the same
check), and only years YEAR_MIN..YEAR_MAX are accepted: a month of year 9999 has no "next month"
and year 1 no "previous" one, so far dates would fail deep inside a report instead of at the door.
Offsets of paged lists are bounded the same way. Every refusal is a ``ParamError`` whose message
is meant for the person who typed the value; views turn it into a 400 page or a message on the
page, the API into a 400 (see ``aoai_portal.api``).

NUL characters never get this far: ``aoai_portal.middleware.RejectNulMiddleware`` refuses them.
"""

from datetime import UTC, date, datetime, time
from typing import TypeVar

from django.core.exceptions import ValidationError

_Day = TypeVar("_Day", date, datetime)

YEAR_MIN, YEAR_MAX = 2000, 2999
# Largest offset of a paged list (SQL OFFSET must stay a 64-bit integer; nobody pages further).
MAX_OFFSET = 1_000_000_000

class ParamError(ValueError):
    """A parameter that cannot be used; the message says why, for the person who typed it."""


def shown(value: str, limit: int = 40) -> str:
    """``value`` quoted for a message, cut short (a message never echoes 5,000 characters)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def in_range(value: _Day, *, name: str) -> _Day:
    """``value`` (a date or datetime) if its year is YEAR_MIN..YEAR_MAX, else ParamError."""
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ParamError(f"{name} must be in the years {YEAR_MIN} to {YEAR_MAX}, not {value.year}.")
    return value


def year_validator(value: date) -> None:
    """Form field validator: the same range for Django forms' DateField and DateTimeField."""
    try:
        in_range(value, name="The date")
    except ParamError as error:
        raise ValidationError(str(error)) from None


def datetime_parse(text: str | None, *, name: str) -> datetime:
    """A date (its midnight) or an ISO 8601 date and time, in UTC (naive means UTC)."""
    value = (text or "").strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ParamError(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date and time, not {shown(value)}."
        ) from None
    return in_range(moment, name=name)


def offset_check(offset: int, *, name: str = "offset") -> int:
    """``offset`` if it is 0..MAX_OFFSET, else ParamError."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ParamError(f"{name} must be 0 to {MAX_OFFSET}.")
    return offset
