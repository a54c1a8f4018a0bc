"""A small, realistic portal for the page tests and the README screenshots.

Demo log rows go through the real ingestion path (``rows_store``: parse, join, usage and cost,
flags, rollups); cost centers, a flag rule and quota tiers are made with each app's own code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from audit.models import FlagRule
from quotas.demo import quota_demo_seed
from usage.accounting.price_defaults import prices_seed
from usage.demo.data import generate_logs
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import CostCenter, CostCenterAssignment, IngestionRun, IngestionWatermark

COST_CENTERS = (
    ("CC-1100", "Search and discovery", "search"),
    ("CC-2200", "Customer support", "support"),
    ("CC-4400", "Research", "research"),
)
# The "legal" and "marketing" products stay unassigned: the pages show what nobody pays for.


@dataclass
class PortalData:
    start: datetime
    end: datetime
    month: date  # the UTC month the data sits in (the pages are opened on it)

    @property
    def month_param(self) -> str:
        return f"{self.month:%Y-%m}"


def portal_data_load(*, hours: int = 30, requests_per_hour: int = 8, seed: int = 3) -> PortalData:
    """``hours`` of demo traffic ending at the last whole hour, ingested for real."""
    prices_seed()  # a transactional test before us may have flushed the migration's prices
    for code, name, product in COST_CENTERS:
        center = CostCenter.objects.create(code=code, name=name, owner=f"{name} lead")
        CostCenterAssignment.objects.create(kind="product", key=product, cost_center=center)
    CostCenterAssignment.objects.create(
        kind="subscription", key="sub-batch-jobs", cost_center=CostCenter.objects.get(code="CC-4400")
    )
    FlagRule.objects.create(name="Travel plans", kind="keywords", pattern="Oslo", severity=2)

    end = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=hours)
    logs = generate_logs(start=start, end=end, requests_per_hour=requests_per_hour, seed=seed)
    for table in (GATEWAY, NATIVE, LLM_LOG):
        result = rows_store(table=table, rows=logs[table], source="demo")
        # What a pull leaves behind, so the ingestion page and the empty states have runs to show.
        IngestionRun.objects.create(
            source="log_analytics",
            table=table,
            window_start=start,
            window_end=end,
            finished_at=timezone.now(),
            status=IngestionRun.Status.PARTIAL if result.rejected else IngestionRun.Status.OK,
            rows_read=result.rows_read,
            rows_stored=result.stored,
            duplicates=result.duplicates,
            rejected=result.rejected,
        )
        IngestionWatermark.objects.update_or_create(table=table, defaults={"watermark": end})
    quota_demo_seed(now=timezone.now())
    last = end - timedelta(hours=1)
    return PortalData(start=start, end=end, month=date(last.year, last.month, 1))
