"""Ingestion health alerts: a table too far behind, silent for longer than usual, or rejecting too
many rows. Each problem is raised once (an open ``IngestionAlert`` per kind and table), sent by the
alert channels (``aoai_portal.alerting``) and closed when the condition clears; it can then be raised
again. Shown on the ingestion status page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from aoai_portal.alerting import alert_channels_configured, alert_deliver
from usage.models import IngestionAlert

from .health import TableActivity, ingestion_activity, ingestion_lags, ingestion_usual_gap
from .log_analytics_query import TABLES

# Below this many rows read over the window, a share of rejections says little.
REJECTION_MIN_ROWS = 20


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.0f} minutes"


def _lag_finding(table: str, lag: float | None) -> str | None:
    limit = settings.INGEST_ALERT_LAG_SECONDS
    if not limit or lag is None or lag <= limit:
        return None
    return f"{table} is {_minutes(lag)} behind (alert above {_minutes(limit)})."


def _silence_finding(table: str, activity: TableActivity, now: datetime) -> str | None:
    if not settings.INGEST_ALERT_SILENCE_FACTOR or activity.last_stored_at is None:
        return None
    usual = ingestion_usual_gap(table=table)
    limit = timedelta(seconds=settings.INGEST_ALERT_SILENCE_MIN_SECONDS)
    if usual is not None:
        limit = max(limit, usual * settings.INGEST_ALERT_SILENCE_FACTOR)
    silent = now - activity.last_stored_at
    if silent <= limit:
        return None
    return (
        f"No new rows of {table} for {_minutes(silent.total_seconds())} "
        f"(alert above {_minutes(limit.total_seconds())})."
    )


def _rejection_finding(table: str, activity: TableActivity) -> str | None:
    percent = settings.INGEST_ALERT_REJECTED_PERCENT
    if not percent or activity.rows_read < REJECTION_MIN_ROWS:
        return None
    if activity.rejected * 100 <= percent * activity.rows_read:
        return None
    share = 100 * activity.rejected / activity.rows_read
    return (
        f"{activity.rejected:,} of {activity.rows_read:,} rows of {table} read in the last "
        f"{_minutes(settings.INGEST_ALERT_WINDOW_SECONDS)} were rejected ({share:.1f}%, alert above "
        f"{percent}%)."
    )


def ingestion_findings(*, now: datetime) -> dict[tuple[str, str], str | None]:
    """Every (kind, table) checked, with the problem's description or None when healthy."""
    lags = ingestion_lags(now=now)
    activity = ingestion_activity(since=now - timedelta(seconds=settings.INGEST_ALERT_WINDOW_SECONDS))
    findings: dict[tuple[str, str], str | None] = {}
    for table in TABLES:
        findings[(IngestionAlert.Kind.LAG, table)] = _lag_finding(table, lags[table])
        findings[(IngestionAlert.Kind.SILENT, table)] = _silence_finding(table, activity[table], now)
        findings[(IngestionAlert.Kind.REJECTIONS, table)] = _rejection_finding(table, activity[table])
    return findings


def _send(alert: IngestionAlert, now: datetime) -> bool:
    label = IngestionAlert.Kind(alert.kind).label
    subject = f"[AOAI Portal] {label}: {alert.table}"
    details = {"kind": alert.kind, "table": alert.table, "raised_at": alert.raised_at.isoformat()}
    channels, errors = alert_deliver(subject=subject, body=alert.detail + "\n", details=details)
    configured = alert_channels_configured()
    alert.channel = "+".join(channels) if channels else ("none" if not configured else "")
    alert.error = "\n".join(errors)
    if channels or not configured:
        alert.sent_at = now
    return bool(channels)


def ingestion_alerts_check(*, now: datetime | None = None) -> list[IngestionAlert]:
    """Raise new problems, send those not sent yet (retrying ones every channel refused), close
    those that cleared. Returns the alerts a channel took in this run. Safe to run concurrently:
    the open alert is locked while it is sent, and only one can be open per kind and table."""
    now = now or timezone.now()
    sent: list[IngestionAlert] = []
    for (kind, table), detail in ingestion_findings(now=now).items():
        try:
            with transaction.atomic():
                alert = (
                    IngestionAlert.objects.select_for_update()
                    .filter(kind=kind, table=table, cleared_at__isnull=True)
                    .first()
                )
                if detail is None:
                    if alert is not None:
                        alert.cleared_at = now
                        alert.save(update_fields=["cleared_at"])
                    continue
                if alert is None:
                    alert = IngestionAlert.objects.create(
                        kind=kind, table=table, detail=detail, raised_at=now
                    )
                if alert.sent_at is not None:
                    continue
                alert.detail = detail
                if _send(alert, now):
                    sent.append(alert)
                alert.save()
        except IntegrityError:  # another run raised it at the same moment: it sends it
            continue
    return sent


def ingestion_alerts_open() -> list[IngestionAlert]:
    """The problems not cleared yet, for the status page."""
    return list(IngestionAlert.objects.filter(cleared_at__isnull=True).order_by("raised_at", "id"))


def ingestion_alerts_recent(*, limit: int = 10) -> list[IngestionAlert]:
    return list(IngestionAlert.objects.exclude(cleared_at__isnull=True).order_by("-cleared_at")[:limit])
