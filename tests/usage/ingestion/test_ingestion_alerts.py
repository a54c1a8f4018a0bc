"""Ingestion health alerts: lag, silent table, rejections; each sent once until it clears."""

from datetime import timedelta

import pytest
from django.utils import timezone

from usage.ingestion.alerts import ingestion_alerts_check
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import IngestionAlert, IngestionRun, IngestionWatermark
from usage.tasks import ingestion_alerts_send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def channels(settings):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.INGEST_ALERT_LAG_SECONDS = 3600
    settings.INGEST_ALERT_SILENCE_FACTOR = 3
    settings.INGEST_ALERT_SILENCE_MIN_SECONDS = 3600
    settings.INGEST_ALERT_REJECTED_PERCENT = 5
    settings.INGEST_ALERT_WINDOW_SECONDS = 3600


def marks(now, **behind):
    """Every table's watermark at ``now`` minus its entry in ``behind`` (minutes; default 5)."""
    for table in (GATEWAY, LLM_LOG, NATIVE):
        IngestionWatermark.objects.update_or_create(
            table=table, defaults={"watermark": now - timedelta(minutes=behind.get(table, 5))}
        )


def run(table, started_at, **counts):
    row = IngestionRun.objects.create(source="log_analytics", table=table, status="ok", **counts)
    IngestionRun.objects.filter(pk=row.pk).update(started_at=started_at, finished_at=started_at)


def test_lag_is_sent_once_until_it_clears_then_again(mailoutbox):
    now = timezone.now()
    marks(now, **{GATEWAY: 120})
    sent = ingestion_alerts_check(now=now)
    assert [(a.kind, a.table) for a in sent] == [("lag", GATEWAY)]
    assert len(mailoutbox) == 1
    assert GATEWAY in mailoutbox[0].subject and "120 minutes behind" in mailoutbox[0].body

    assert ingestion_alerts_check(now=now + timedelta(minutes=5)) == []
    assert len(mailoutbox) == 1

    marks(now, **{GATEWAY: 5})
    assert ingestion_alerts_check(now=now) == []
    alert = IngestionAlert.objects.get()
    assert alert.cleared_at == now and alert.channel == "email"

    marks(now, **{GATEWAY: 90})
    assert len(ingestion_alerts_check(now=now)) == 1
    assert len(mailoutbox) == 2
    assert IngestionAlert.objects.filter(cleared_at__isnull=True).count() == 1


def test_a_table_silent_for_longer_than_usual(mailoutbox):
    now = timezone.now()
    marks(now)
    # Rows every 10 minutes until two hours ago, then none (while the pull keeps up).
    for minutes in range(240, 119, -10):
        run(NATIVE, now - timedelta(minutes=minutes), rows_read=10, rows_stored=10)
    run(NATIVE, now - timedelta(minutes=5), rows_read=0, rows_stored=0)
    sent = ingestion_alerts_check(now=now)
    assert [(a.kind, a.table) for a in sent] == [("silent", NATIVE)]
    assert "No new rows of AzureDiagnostics for 120 minutes" in mailoutbox[0].body

    # A table whose rows usually come hours apart is not silent after two hours.
    IngestionRun.objects.all().delete()
    IngestionAlert.objects.all().delete()
    for hours in (14, 9, 4, 2):
        run(NATIVE, now - timedelta(hours=hours), rows_read=1, rows_stored=1)
    assert ingestion_alerts_check(now=now) == []


def test_rejections_above_the_share(mailoutbox):
    now = timezone.now()
    marks(now)
    run(GATEWAY, now - timedelta(minutes=10), rows_read=100, rows_stored=97, rejected=3)
    run(LLM_LOG, now - timedelta(minutes=10), rows_read=100, rows_stored=90, rejected=10)
    run(NATIVE, now - timedelta(minutes=10), rows_read=10, rows_stored=0, rejected=10)  # too few rows
    sent = ingestion_alerts_check(now=now)
    assert [(a.kind, a.table) for a in sent] == [("rejections", LLM_LOG)]
    assert "10 of 100 rows" in mailoutbox[0].body and "10.0%" in mailoutbox[0].body
    # The bad run leaves the window (the pull keeping up): the alert clears.
    later = now + timedelta(hours=2)
    marks(later)
    for table in (GATEWAY, LLM_LOG, NATIVE):
        run(table, later - timedelta(minutes=5), rows_read=5, rows_stored=5)
    assert ingestion_alerts_check(now=later) == []
    assert IngestionAlert.objects.get().cleared_at is not None


def test_an_alert_no_channel_took_is_retried(settings, mailoutbox):
    now = timezone.now()
    marks(now, **{GATEWAY: 120})
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:1/hook"  # refused
    assert ingestion_alerts_check(now=now) == []
    alert = IngestionAlert.objects.get()
    assert alert.sent_at is None and alert.error.startswith("webhook:")

    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    assert len(ingestion_alerts_check(now=now)) == 1
    assert len(mailoutbox) == 1
    alert.refresh_from_db()
    assert alert.sent_at is not None and alert.channel == "email"


def test_the_beat_task_and_the_status_page_show_open_alerts(client_for, admin_user, mailoutbox):
    now = timezone.now()
    marks(now, **{LLM_LOG: 180})
    assert ingestion_alerts_send() == 1
    page = client_for(admin_user).get("/ingestion/").content.decode()
    assert 'data-alert="lag:ApiManagementGatewayLlmLog"' in page
    assert "180 minutes behind" in page and "sent by email" in page
