"""`manage.py demo`: the embedded demo ingests generated traffic through the real pull path."""

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.utils import timezone

from aoai_portal.roles import user_roles
from quotas.models import TierAssignment
from usage.demo.data import generate_logs
from usage.demo.emulator import LogAnalyticsEmulator
from usage.demo.site import DemoScheduler, demo_log_analytics_configure
from usage.ingestion.tables import TABLES
from usage.models import CostCenterAssignment, GatewayRequest, IngestionRun, IngestionWatermark, NativeLog


@pytest.mark.django_db(transaction=True)
def test_the_demo_pulls_generated_traffic_and_prints_working_accounts(settings):
    settings.INGEST_WINDOW_SECONDS = 6 * 3600
    out = StringIO()
    call_command("demo", "--days", "0.5", "--requests-per-hour", "6", "--no-serve", "--force", stdout=out)
    output = out.getvalue()

    assert GatewayRequest.objects.count() > 0 and NativeLog.objects.count() > 0
    assert set(IngestionWatermark.objects.values_list("table", flat=True)) == set(TABLES)
    assert IngestionRun.objects.filter(source="log_analytics", status="ok").exists()
    assert CostCenterAssignment.objects.filter(kind="product", key="search").exists()
    # Quota tiers sized from the demo traffic, so the quota page has something to show.
    assert TierAssignment.objects.exists()
    # Every printed password signs its account in, with the role it names.
    for line in output.splitlines():
        if "password:" in line:
            role, _, username, _, password = line.split()
            user = authenticate(username=username, password=password)
            assert user is not None and role in user_roles(user)
    assert output.count("password:") == 3


def test_the_demo_refuses_a_non_sqlite_database_without_force(db):
    with pytest.raises(CommandError, match="Unset DATABASE_URL"):
        call_command("demo", "--no-serve", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_demo_scheduler_keeps_pulling_new_rows(settings):
    settings.INGEST_DELAY_SECONDS = 0
    settings.REDIS_URL = ""
    now = timezone.now()
    with LogAnalyticsEmulator() as emulator:
        demo_log_analytics_configure(endpoint=emulator.endpoint)
        IngestionWatermark.objects.bulk_create(
            IngestionWatermark(table=t, watermark=now - timedelta(minutes=30)) for t in TABLES
        )
        scheduler = DemoScheduler(interval=0.2).start()
        try:
            # Rows "arrive" while the scheduler runs.
            emulator.load(
                generate_logs(start=now - timedelta(hours=1), end=now, requests_per_hour=30, seed=3)
            )
            deadline = time.monotonic() + 30
            while GatewayRequest.objects.count() == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            while scheduler.runs < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            scheduler.stop()
    assert GatewayRequest.objects.filter(time__gte=now - timedelta(minutes=40)).exists()
    assert scheduler.runs >= 2
    assert min(IngestionWatermark.objects.values_list("watermark", flat=True)) > now
