"""How fresh the data is: when ingestion last ran and when it runs next (for empty states)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from usage.models import IngestionRun

SCHEDULED_SOURCE = "log_analytics"  # the periodic pull; file imports run when someone runs them


@dataclass(frozen=True)
class IngestionFreshness:
    last_run_at: datetime | None  # when the latest run (pull or file import) finished, or started
    last_status: str  # "" when nothing ever ran
    next_run_at: datetime | None  # when the next scheduled pull is due; None without a pull so far

    @property
    def has_run(self) -> bool:
        return self.last_run_at is not None


def ingestion_freshness_get(*, now: datetime | None = None) -> IngestionFreshness:
    """The latest ingestion run of any source, and the next pull (latest pull + the interval).

    A next pull already overdue is reported as due ``now``.
    """
    now = now or timezone.now()
    last = IngestionRun.objects.order_by("-started_at", "-id").first()
    pull = IngestionRun.objects.filter(source=SCHEDULED_SOURCE).order_by("-started_at", "-id").first()
    next_run_at = None
    if pull is not None:
        next_run_at = max(pull.started_at + timedelta(seconds=settings.INGEST_INTERVAL_SECONDS), now)
    return IngestionFreshness(
        last_run_at=(last.finished_at or last.started_at) if last else None,
        last_status=last.status if last else "",
        next_run_at=next_run_at,
    )
