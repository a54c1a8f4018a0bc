"""What the ingestion status page shows: per table, how far and how well ingestion went."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from usage.models import (
    IngestionBackfill,
    IngestionRun,
    IngestionWatermark,
    IngestionWindow,
    LatencyPendingHour,
    RejectedRow,
)

from .log_analytics import SOURCE
from .log_analytics_query import TABLES
from .selectors import ingestion_unmatched_counts, ingestion_unmatched_since

_COUNTS = ("rows_read", "stored", "duplicates", "conflicts", "skipped", "rejected")


@dataclass
class TableStatus:
    table: str
    watermark: datetime | None
    lag: timedelta | None  # now - watermark
    lagging: bool  # more behind than the delay margin plus two pull intervals
    last_run: IngestionRun | None
    rows_read_24h: int
    stored_24h: int
    rejected_24h: int
    failed_24h: int
    last_error: IngestionRun | None
    unmatched: int


@dataclass
class RejectionGroup:
    source: str
    reason: str
    count: int


def _reason_kind(reason: str) -> str:
    """The stable part of a rejection reason, without the detail that names the offending value.

    Reasons read ``kind: detail`` where ``kind`` is ``problem`` or ``Column: problem``
    (``properties_s: not JSON: '{"model...'`` -> ``properties_s: not JSON``).
    """
    parts = reason.split(": ")
    if len(parts) > 1 and " " not in parts[0]:
        return ": ".join(parts[:2])
    return parts[0]


def ingestion_table_statuses(*, now: datetime | None = None) -> list[TableStatus]:
    now = now or timezone.now()
    day_ago = now - timedelta(days=1)
    marks = dict(IngestionWatermark.objects.values_list("table", "watermark"))
    unmatched = ingestion_unmatched_counts(
        since=ingestion_unmatched_since(days=settings.INGEST_UNMATCHED_DAYS)
    )
    allowed_lag = timedelta(seconds=settings.INGEST_DELAY_SECONDS + 2 * settings.INGEST_INTERVAL_SECONDS)
    statuses = []
    for table in TABLES:
        runs = IngestionRun.objects.filter(source=SOURCE, table=table)
        day = runs.filter(started_at__gte=day_ago).aggregate(
            rows_read=Sum("rows_read"),
            stored=Sum("rows_stored"),
            rejected=Sum("rejected"),
            failed=Count("id", filter=Q(status=IngestionRun.Status.FAILED)),
        )
        mark = marks.get(table)
        lag = now - mark if mark else None
        statuses.append(
            TableStatus(
                table=table,
                watermark=mark,
                lag=lag,
                lagging=lag is None or lag > allowed_lag,
                last_run=runs.order_by("-started_at", "-id").first(),
                rows_read_24h=day["rows_read"] or 0,
                stored_24h=day["stored"] or 0,
                rejected_24h=day["rejected"] or 0,
                failed_24h=day["failed"] or 0,
                last_error=runs.filter(status=IngestionRun.Status.FAILED)
                .order_by("-started_at", "-id")
                .first(),
                unmatched=unmatched.get(table, 0),
            )
        )
    return statuses


def ingestion_rejections_by_reason(*, limit: int = 50) -> list[RejectionGroup]:
    """Rejected rows counted per source and kind of reason, most frequent first."""
    counts: Counter[tuple[str, str]] = Counter()
    for source, reason, count in (
        RejectedRow.objects.values_list("source", "reason").annotate(count=Count("id")).order_by()
    ):
        counts[(source, _reason_kind(reason))] += count
    return [
        RejectionGroup(source=source, reason=reason, count=count)
        for (source, reason), count in counts.most_common(limit)
    ]


@dataclass
class TableAccount:
    """Every row read of one table, over all runs: ``rows_read`` = the other five counts.

    ``table`` "" holds the records of files that were routed to no table (unreadable lines,
    unknown columns, categories the portal does not read) and, for file imports made before the
    counts were kept per table, those files' counts.
    """

    table: str
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    skipped: int = 0
    rejected: int = 0
    skipped_categories: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def skipped_by_category(self) -> list[tuple[str, int]]:
        return self.skipped_categories.most_common()

    @property
    def rejected_by_reason(self) -> list[tuple[str, int]]:
        return self.reasons.most_common()

    def add(self, counts: dict) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + (counts.get(name) or 0))
        self.skipped_categories.update(counts.get("skipped_categories") or {})
        self.reasons.update(counts.get("reasons") or {})


def ingestion_table_accounts() -> list[TableAccount]:
    """Per table, what became of every row read by every run (pulls and file imports).

    Sums of the runs' columns per table in SQL; the per-category and per-reason counts (JSON) are
    read only from runs that skipped or rejected something, and a file import's per-table counts
    (``IngestionRun.tables``) from file imports: a few small queries, whatever the rows stored.
    """
    accounts = {table: TableAccount(table=table) for table in TABLES}
    single = IngestionRun.objects.filter(tables={})
    sums = {f"sum_{name}": Sum("rows_stored" if name == "stored" else name) for name in _COUNTS}
    for row in single.values("table").annotate(**sums).order_by():
        counts = {name: row[f"sum_{name}"] for name in _COUNTS}
        accounts.setdefault(row["table"], TableAccount(table=row["table"])).add(counts)
    for table, skipped, reasons in (
        single.filter(Q(skipped__gt=0) | Q(rejected__gt=0))
        .values_list("table", "skipped_categories", "reasons")
        .iterator()
    ):
        account = accounts.setdefault(table, TableAccount(table=table))
        account.skipped_categories.update(skipped or {})
        account.reasons.update(reasons or {})
    for tables in IngestionRun.objects.exclude(tables={}).values_list("tables", flat=True).iterator():
        for table, counts in tables.items():
            accounts.setdefault(table, TableAccount(table=table)).add(counts)
    other = accounts.pop("", None)
    ordered = [accounts[table] for table in TABLES] + [
        account for table, account in sorted(accounts.items()) if table not in TABLES
    ]
    return ordered + ([other] if other and other.rows_read else [])


@dataclass
class LatencyPending:
    hours: int
    oldest: datetime | None


def latency_rollups_pending() -> LatencyPending:
    """Hours whose latency rollups wait for ``usage.rollups.deferral.latency_pending_refresh``: an import
    refreshes them once a minute and at its end; hours a stopped worker left, at the next pull."""
    return LatencyPending(**LatencyPendingHour.objects.aggregate(hours=Count("hour"), oldest=Min("hour")))


def ingestion_recent_runs(*, limit: int = 30) -> list[IngestionRun]:
    return list(IngestionRun.objects.order_by("-started_at", "-id")[:limit])


@dataclass
class BackfillStatus:
    """A backfill across the workers (``backfill.py``): its windows per table and status, and the
    windows that are not stored (failed, retrying, running)."""

    backfill: IngestionBackfill
    tables: list[tuple[str, dict[str, int]]]
    unfinished: list[IngestionWindow]


def ingestion_backfills_recent(*, limit: int = 3) -> list[BackfillStatus]:
    statuses = []
    for backfill in IngestionBackfill.objects.order_by("-created_at", "-id")[:limit]:
        counts: dict[str, dict[str, int]] = {table: {} for table in backfill.tables}
        for table, status, count in (
            backfill.windows.values_list("table", "status").annotate(count=Count("id")).order_by()
        ):
            counts.setdefault(table, {})[status] = count
        unfinished = backfill.windows.exclude(
            status__in=[IngestionWindow.Status.OK, IngestionWindow.Status.PENDING]
        ).order_by("table", "window_start")[:50]
        statuses.append(
            BackfillStatus(backfill=backfill, tables=list(counts.items()), unfinished=list(unfinished))
        )
    return statuses
