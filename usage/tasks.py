"""Celery tasks of the usage app: thin wrappers around services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_init
from django.utils import timezone

from usage.accounting.tokens import tokenizers_load
from usage.db.partitions import request_partitions_ahead as request_partitions_ahead_run
from usage.ingestion.alerts import ingestion_alerts_check
from usage.ingestion.backfill import WINDOW_TASK, backfill_if_behind, backfill_window_run
from usage.ingestion.log_analytics import NotConfigured, log_analytics_pull
from usage.people.graph import GraphError, graph_people_refresh
from usage.people.graph import NotConfigured as GraphNotConfigured
from usage.retention import requests_retention_apply
from usage.rollups.hourly_prune import hourly_rollups_prune as hourly_rollups_prune_run

logger = logging.getLogger(__name__)


@worker_init.connect
def _tokenizers_load(**_kwargs: object) -> None:
    """Build the tokenizers as a worker starts (before prefork's children: they share them), not
    in its first task: each fresh worker's first backfill window would wait for them."""
    tokenizers_load()


@shared_task(name="usage.ingest_pull", ignore_result=True)
def ingest_pull() -> dict[str, Any]:
    """Pull new Log Analytics rows of every table; then check the quota alerts if usage changed.
    Far behind, a backfill across the workers catches up instead (``backfill_if_behind``)."""
    try:
        backfill = backfill_if_behind()
        if backfill is not None:
            return {"backfill": backfill.pk}
        result = log_analytics_pull()
    except NotConfigured as exc:
        logger.warning("ingest_pull skipped: %s", exc)
        return {}
    if result.stored:
        from quotas.tasks import quota_alerts_enqueue

        quota_alerts_enqueue()
    return result.as_dict()


@shared_task(bind=True, name=WINDOW_TASK, ignore_result=True, max_retries=None)
def ingest_window(self: Any, window_id: int) -> str:
    """Pull and store one window of a backfill; a failed one runs again after a backoff (the
    service counts the attempts and says when to stop: ``INGEST_WINDOW_RETRIES``)."""
    outcome = backfill_window_run(window_id=window_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    if outcome.backfill_stored:  # once a backfill, not once a window
        from quotas.tasks import quota_alerts_enqueue

        quota_alerts_enqueue()
    return outcome.status


@shared_task(name="usage.request_partitions_ahead", ignore_result=True)
def request_partitions_ahead() -> list[str]:
    """Daily: partitions of this month and the next ones (PostgreSQL; no-op on SQLite)."""
    return request_partitions_ahead_run(now=timezone.now())


@shared_task(name="usage.requests_retention")
def requests_retention() -> dict[str, Any]:
    """Nightly: remove the months of requests past REQUEST_RETENTION_MONTHS (audited by the service)."""
    return requests_retention_apply().as_dict()


@shared_task(name="usage.hourly_rollups_prune")
def hourly_rollups_prune() -> dict[str, Any]:
    """Nightly: drop the hourly rollup rows past PORTAL_HOURLY_ROLLUP_MONTHS (their days stay)."""
    return hourly_rollups_prune_run().as_dict()


@shared_task(name="usage.ingestion_alerts_send", ignore_result=True)
def ingestion_alerts_send() -> int:
    """Raise, send and clear the ingestion health alerts; returns how many were sent."""
    return len(ingestion_alerts_check())


@shared_task(name="usage.people_graph_refresh", ignore_result=True)
def people_graph_refresh() -> dict[str, Any]:
    """Hourly: name the object ids of recent requests from Microsoft Graph (usage.people.graph)."""
    try:
        return graph_people_refresh().as_dict()
    except GraphNotConfigured as exc:
        logger.info("people_graph_refresh skipped: %s", exc)
    except GraphError as exc:
        logger.warning("people_graph_refresh failed, names wait for the next run: %s", exc)
    return {}
