from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import ADMIN, role_required
from usage.ingestion.alerts import ingestion_alerts_open
from usage.ingestion.selectors import ingestion_unmatched_since, unjoinable_counts
from usage.ingestion.status import (
    ingestion_backfills_recent,
    ingestion_recent_runs,
    ingestion_rejections_by_reason,
    ingestion_table_accounts,
    ingestion_table_statuses,
    latency_rollups_pending,
)


@role_required(ADMIN)
def ingestion_status(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "usage/ingestion_status.html",
        {
            "tables": ingestion_table_statuses(),
            "alerts_open": ingestion_alerts_open(),
            "accounts": ingestion_table_accounts(),
            "rejections": ingestion_rejections_by_reason(),
            "runs": ingestion_recent_runs(),
            "backfills": ingestion_backfills_recent(),
            "latency_pending": latency_rollups_pending(),
            "unmatched_days": settings.INGEST_UNMATCHED_DAYS,
            "unjoinable": unjoinable_counts(
                since=ingestion_unmatched_since(days=settings.INGEST_UNMATCHED_DAYS)
            ),
        },
    )
