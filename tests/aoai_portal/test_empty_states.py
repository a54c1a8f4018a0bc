"""Empty pages say what to do: when ingestion last ran and when it runs next."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from usage.ingestion.freshness import ingestion_freshness_get
from usage.models import IngestionRun

pytestmark = pytest.mark.django_db

PAGES = (
    "/chargeback/?month=2026-03",
    "/latency/?from=2026-03-01&to=2026-03-02",
    "/quotas/?month=2026-03",
    "/review/",
)


def _run(
    *, source: str, started: datetime, status: str = "ok", finished: datetime | None = None
) -> IngestionRun:
    run = IngestionRun.objects.create(source=source, table="ApiManagementGatewayLogs", status=status)
    IngestionRun.objects.filter(pk=run.pk).update(started_at=started, finished_at=finished)
    run.refresh_from_db()
    return run


def test_it_says_ingestion_never_ran_and_how_to_start_it(client_for, admin_user):
    client = client_for(admin_user)
    for path in PAGES:
        text = client.get(path).content.decode()
        assert "No data yet: ingestion has not run." in text, path
        assert "python manage.py ingest" in text, path


def test_it_says_when_ingestion_last_ran_and_when_the_next_pull_is_due(client_for, admin_user, settings):
    settings.INGEST_INTERVAL_SECONDS = 600
    started = timezone.now() - timedelta(minutes=2)
    _run(source="log_analytics", started=started, finished=started + timedelta(seconds=30))
    client = client_for(admin_user)
    for path in PAGES:
        text = client.get(path).content.decode()
        finished = started + timedelta(seconds=30)
        due = started + timedelta(seconds=600)
        assert (
            f"Ingestion last ran at {finished:%Y-%m-%d %H:%M} UTC, next run at {due:%Y-%m-%d %H:%M} UTC."
            in text
        ), path


def test_an_overdue_pull_is_due_now_and_a_failed_run_says_so():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    _run(source="log_analytics", started=now - timedelta(hours=3), status="ok")
    _run(
        source="file", started=now - timedelta(hours=1), status="failed", finished=now - timedelta(minutes=59)
    )
    freshness = ingestion_freshness_get(now=now)
    assert freshness.last_status == "failed"
    assert freshness.last_run_at == now - timedelta(minutes=59)
    assert freshness.next_run_at == now


def test_file_imports_alone_have_no_next_run():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    _run(source="file", started=now - timedelta(hours=1))
    freshness = ingestion_freshness_get(now=now)
    assert freshness.has_run and freshness.next_run_at is None
