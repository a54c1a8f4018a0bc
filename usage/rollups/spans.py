"""Aligned day spans: how LatencyDailySpan cuts time, so a long range reads a few rows per dimension.

A span of ``n`` days (``n`` a power of two, 2..256) starts on a day whose ordinal is a multiple of
``n``; so every span is exactly its two halves, and any run of whole days is covered by at most
about 2 x log2(days) spans and single days (``spans_cover``). A month reads ~7 pieces instead of
30 days; a year ~16 instead of 365.
"""

from datetime import date, timedelta

# Span lengths kept in LatencyDailySpan, shortest first (each is the sum of two of the previous).
SPAN_DAYS = (2, 4, 8, 16, 32, 64, 128, 256)
# Days that have spans: every span holding one starts and ends inside the calendar. Ingestion
# stores no time near either end, but a database may hold one written before it checked (a row
# dated 0001-01-01 or 9999-12-31): such a day is left out of the spans rather than crash them.
SPAN_FIRST_DAY = date.fromordinal(SPAN_DAYS[-1])
SPAN_LAST_DAY = date.max - timedelta(days=SPAN_DAYS[-1])


def span_day_covered(day: date) -> bool:
    """True if ``day`` has spans (see SPAN_FIRST_DAY)."""
    return SPAN_FIRST_DAY <= day <= SPAN_LAST_DAY


def span_start(day: date, span_days: int) -> date:
    """The first day of the ``span_days`` span that holds ``day``."""
    ordinal = day.toordinal()
    return date.fromordinal(ordinal - ordinal % span_days)


def spans_cover(first: date, end: date) -> list[tuple[date, int]]:
    """The fewest aligned pieces (first day, length in days: 1 or a SPAN_DAYS value) that cover
    the days ``[first, end)`` exactly, in day order."""
    pieces = []
    day, last = first.toordinal(), end.toordinal()
    while day < last:
        length = next((n for n in reversed(SPAN_DAYS) if day % n == 0 and day + n <= last), 1)
        pieces.append((date.fromordinal(day), length))
        day += length
    return pieces


def span_days_of(start: date, span_days: int) -> list[date]:
    """The days of the span that starts on ``start``."""
    return [start + timedelta(days=i) for i in range(span_days)]
