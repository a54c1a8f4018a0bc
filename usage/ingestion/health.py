"""How healthy ingestion is right now, read from the database (metrics, /healthz, health alerts).

Everything here is a handful of aggregate queries over the watermarks and the runs, so any process
answers the same and a restart loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Max, Q, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from usage.models import IngestionBackfill, IngestionRun, IngestionWatermark, IngestionWindow

from .log_analytics import SOURCE
from .log_analytics_query import TABLES


def ingestion_lags(*, now: datetime | None = None) -> dict[str, float | None]:
    """Seconds from each table's watermark to ``now``; None for a table never pulled."""
    now = now or timezone.now()
    marks = dict(IngestionWatermark.objects.filter(table__in=TABLES).values_list("table", "watermark"))
    return {table: (now - marks[table]).total_seconds() if table in marks else None for table in TABLES}


def ingestion_window_counts() -> dict[tuple[str, str], int]:
    """Pull windows per (table, status) over every run kept."""
    rows = (
        IngestionRun.objects.filter(source=SOURCE)
        .values_list("table", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(table, status): n for table, status, n in rows}


def ingestion_pull_tries() -> dict[str, tuple[int, int]]:
    """Per table, the (retries, throttled answers) of every pull window kept."""
    rows = (
        IngestionRun.objects.filter(source=SOURCE)
        .values_list("table")
        .annotate(retries=Sum("retries"), throttled=Sum("throttled"))
        .order_by()
    )
    return {table: (retries or 0, throttled or 0) for table, retries, throttled in rows}


def ingestion_last_success() -> dict[str, datetime]:
    """When each table's latest successful pull window finished."""
    rows = (
        IngestionRun.objects.filter(source=SOURCE, status=IngestionRun.Status.OK)
        .values_list("table")
        .annotate(last=Max("finished_at"))
        .order_by()
    )
    return {table: last for table, last in rows if last is not None}


def backfill_window_counts() -> dict[tuple[str, str], int]:
    """Windows of the latest backfill (the one running, or else the last one finished) per
    (table, status), every status of each of its tables included (0 when none): an old backfill's
    failed windows stop counting once a newer backfill has stored them again."""
    backfill = IngestionBackfill.objects.order_by("-created_at", "-id").first()
    if backfill is None:
        return {}
    counts = {(table, status): 0 for table in backfill.tables for status in IngestionWindow.Status.values}
    for table, status, n in (
        backfill.windows.values_list("table", "status").annotate(n=Count("id")).order_by()
    ):
        counts[(table, status)] = n
    return counts


def backfill_window_retries() -> dict[str, int]:
    """Per table, the attempts of backfill windows beyond each window's first (a failure retried,
    or a dead worker's window taken over), over every backfill kept."""
    rows = (
        IngestionWindow.objects.values_list("table")
        .annotate(retries=Sum(Greatest(F("attempts") - 1, Value(0))))
        .order_by()
    )
    return {table: retries or 0 for table, retries in rows}


@dataclass(frozen=True)
class TableActivity:
    """One table's runs over a recent period: what they read, stored and rejected."""

    table: str
    rows_read: int
    stored: int
    rejected: int
    last_stored_at: datetime | None  # when the latest run that stored rows started


def ingestion_activity(*, since: datetime) -> dict[str, TableActivity]:
    """Per table, the pulls' counts since ``since`` and the last time any pull stored rows."""
    runs = IngestionRun.objects.filter(source=SOURCE, table__in=TABLES)
    sums = {
        table: (read or 0, stored or 0, rejected or 0)
        for table, read, stored, rejected in runs.filter(started_at__gte=since)
        .values_list("table")
        .annotate(Sum("rows_read"), Sum("rows_stored"), Sum("rejected"))
        .order_by()
    }
    last = dict(runs.filter(Q(rows_stored__gt=0)).values_list("table").annotate(Max("started_at")).order_by())
    return {
        table: TableActivity(table, *sums.get(table, (0, 0, 0)), last_stored_at=last.get(table))
        for table in TABLES
    }


def ingestion_usual_gap(*, table: str, runs: int = 50) -> timedelta | None:
    """The longest gap between consecutive pulls that stored rows of ``table``, over its last
    ``runs`` such pulls: how long this table usually goes without new rows. None below 3 pulls."""
    times = list(
        IngestionRun.objects.filter(source=SOURCE, table=table, rows_stored__gt=0)
        .order_by("-started_at")
        .values_list("started_at", flat=True)[:runs]
    )
    if len(times) < 3:
        return None
    return max(a - b for a, b in zip(times, times[1:], strict=False))
