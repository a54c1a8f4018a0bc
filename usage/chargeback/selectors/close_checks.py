"""What to tell whoever closes a month before its figures are frozen (the close warnings).

A close is not refused for these (a month may really have no usage), but each is something the
closer should have seen: the close form lists them and asks for an explicit confirmation, and the
service refuses to close with warnings nobody confirmed (``usage.chargeback.services``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count

from aoai_portal.months import month_bounds, month_floor

from ...models import IngestionWatermark, UnmatchedRow
from .lines import usage_lines


@dataclass(frozen=True)
class CloseWarning:
    code: str  # "no_usage", "unpriced", "unmatched", "ingestion_behind"
    message: str


def month_close_warnings(*, month: date) -> list[CloseWarning]:
    """The reasons to think twice before closing ``month``, in the order the form shows them."""
    month = month_floor(month)
    begin, end = month_bounds(month)
    warnings: list[CloseWarning] = []
    requests = unpriced = 0
    for line in usage_lines(begin=begin, end=end, interval="day", collapse=True):
        requests += line.measures.requests
        unpriced += line.measures.unpriced_tokens
    if not requests:
        warnings.append(
            CloseWarning("no_usage", f"{month:%B %Y} has no usage: closing freezes an empty month.")
        )
    if unpriced:
        warnings.append(
            CloseWarning(
                "unpriced",
                f"{unpriced:,} tokens have no known price and are counted at 0 "
                "(add the model's price, then reprice, before closing).",
            )
        )
    waiting = (
        UnmatchedRow.objects.filter(time__gte=begin, time__lt=end)
        .values_list("table")
        .annotate(n=Count("id"))
        .order_by("table")
    )
    if waiting:
        parts = ", ".join(f"{n:,} {table}" for table, n in waiting)
        warnings.append(
            CloseWarning(
                "unmatched",
                f"Rows of this month are still waiting for their join partner ({parts}): "
                "their tokens, model or region may still change.",
            )
        )
    caught_up = end + timedelta(seconds=settings.INGEST_DELAY_SECONDS)
    marks = dict(IngestionWatermark.objects.values_list("table", "watermark"))
    behind = sorted(table for table, mark in marks.items() if mark < caught_up)
    if behind:
        warnings.append(
            CloseWarning(
                "ingestion_behind",
                f"Ingestion has not yet passed {caught_up:%Y-%m-%d %H:%M} UTC (month end plus the "
                f"ingestion delay) for {', '.join(behind)}: requests of the month may still arrive.",
            )
        )
    elif not marks and settings.LOG_ANALYTICS_WORKSPACE_ID:
        warnings.append(
            CloseWarning(
                "ingestion_behind",
                "Log Analytics has never been pulled: requests of the month may still arrive.",
            )
        )
    return warnings
