"""Celery tasks of the quotas app: thin wrappers over quotas.services."""

from celery import shared_task
from django.db import transaction

from . import services


@shared_task(name="quotas.tasks.quota_alerts_send", expires=30 * 60)
def quota_alerts_send() -> int:
    """Send the quota/budget alerts due now; returns how many went out."""
    return len(services.quota_alerts_send())


def quota_alerts_enqueue() -> None:
    """Queue ``quota_alerts_send`` once the current transaction commits (call after each ingestion run)."""
    transaction.on_commit(quota_alerts_send.delay)
