"""Celery tasks of the costs app: thin wrappers around services (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

import logging
from typing import Any

from celery import shared_task

from costs.pull import NotConfigured, cost_pull

logger = logging.getLogger(__name__)


@shared_task(name="costs.pull", ignore_result=True)
def pull() -> dict[str, Any]:
    """Pull the last COST_PULL_LOOKBACK_DAYS of invoice lines from the Cost Management Query API."""
    try:
        result = cost_pull()
    except NotConfigured as exc:
        logger.info("costs.pull skipped: %s", exc)
        return {}
    return result.as_dict()
