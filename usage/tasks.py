"""Celery tasks of the usage app: thin wrappers around services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

from usage.ingestion.log_analytics import NotConfigured, log_analytics_pull

logger = logging.getLogger(__name__)


@shared_task(name="usage.ingest_pull", ignore_result=True)
def ingest_pull() -> dict:
    """Pull new Log Analytics rows of every table; then check the quota alerts if usage changed."""
    try:
        result = log_analytics_pull()
    except NotConfigured as exc:
        logger.warning("ingest_pull skipped: %s", exc)
        return {}
    if result.stored:
        from quotas.tasks import quota_alerts_enqueue

        quota_alerts_enqueue()
    return result.as_dict()
