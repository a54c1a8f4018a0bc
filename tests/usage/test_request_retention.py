"""Request retention: whole months past REQUEST_RETENTION_MONTHS go, with their flags; rollups stay."""

import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from freezegun import freeze_time

from aoai_portal.celery import app
from audit.models import AccessAuditEntry, Flag, ReviewEvent, ReviewItem
from audit.services.flags import flags_evaluate
from audit.services.review import review_confirm, review_release, review_take
from tests.factories import chat_request_create
from usage import tasks as usage_tasks
from usage.db.partitions import (
    KEY_TABLE,
    partition_name,
    request_partitions_ensure,
    request_partitions_list,
    requests_partition_forget,
)
from usage.models import GatewayRequest, LatencyDaily, LlmLogChunk, NativeLog, UsageDaily, UsageHourly
from usage.retention import requests_retention_apply, requests_retention_cutoff
from usage.rollups.hourly import rollup_refresh_hours

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
AUGUST = datetime(2026, 8, 31, 23, tzinfo=UTC)  # past a 2-month retention on NOW
SEPTEMBER = datetime(2026, 9, 1, 0, tzinfo=UTC)  # the oldest month kept
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL only"
)


@pytest.fixture(autouse=True)
def _forget_partitions():
    requests_partition_forget()
    yield
    requests_partition_forget()


@pytest.fixture
def months(settings, reviewer_user):
    """An old flagged request under review, an old plain one, and two kept ones; rollups of all."""
    settings.REQUEST_RETENTION_MONTHS = 2
    request_partitions_ensure(months=[date(2026, 8, 1), date(2026, 9, 1)])
    chat_request_create("old-flagged", time=AUGUST, prompt="mail bob@example.com")
    chat_request_create("old-plain", time=AUGUST - timedelta(days=3))
    chat_request_create("kept-flagged", time=SEPTEMBER, prompt="mail alice@example.com")
    chat_request_create("kept-plain", time=datetime(2026, 11, 2, tzinfo=UTC))
    flags_evaluate(correlation_ids=["old-flagged", "kept-flagged"])
    review_take(item_id=ReviewItem.objects.get(request__correlation_id="old-flagged").pk, user=reviewer_user)
    rollup_refresh_hours(hours=GatewayRequest.objects.values_list("time", flat=True))


def rollup_counts() -> tuple[int, int, int]:
    return UsageHourly.objects.count(), UsageDaily.objects.count(), LatencyDaily.objects.count()


def keys() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT correlation_id FROM {KEY_TABLE}")
        return {row[0] for row in cursor.fetchall()}


def test_the_cutoff_keeps_the_current_month_and_the_retention_months_before_it():
    assert requests_retention_cutoff(now=NOW, months=2) == SEPTEMBER
    assert requests_retention_cutoff(now=datetime(2027, 1, 1, tzinfo=UTC), months=13) == datetime(
        2025, 12, 1, tzinfo=UTC
    )


def test_nothing_goes_when_retention_is_off(months, settings):
    settings.REQUEST_RETENTION_MONTHS = 0
    result = requests_retention_apply(now=NOW)
    assert result.cutoff is None and result.requests == 0
    assert GatewayRequest.objects.count() == 4
    assert not AccessAuditEntry.objects.filter(action="purge_requests").exists()


@postgresql_only
def test_old_months_partitions_are_dropped_with_their_flags_review_items_and_keys(months):
    rollups = rollup_counts()
    old_review = ReviewItem.objects.get(request__correlation_id="old-flagged")
    assert ReviewEvent.objects.filter(item=old_review).exists()

    result = requests_retention_apply(now=NOW)

    assert result.months_dropped == [date(2026, 8, 1)]
    assert (result.requests, result.flags, result.review_items) == (2, 1, 1)
    assert partition_name(date(2026, 8, 1)) not in {p.name for p in request_partitions_list()}
    assert set(GatewayRequest.objects.values_list("correlation_id", flat=True)) == {
        "kept-flagged",
        "kept-plain",
    }
    assert keys() == {"kept-flagged", "kept-plain"}
    assert not Flag.objects.filter(request_id__in=[old_review.request_id]).exists()
    assert not ReviewItem.objects.filter(pk=old_review.pk).exists()
    assert not ReviewEvent.objects.filter(item_id=old_review.pk).exists()
    assert Flag.objects.filter(request__correlation_id="kept-flagged").exists()
    assert ReviewItem.objects.filter(request__correlation_id="kept-flagged").exists()
    assert rollup_counts() == rollups  # chargeback history stays
    # The purged correlation ids are free again (a re-import would store them anew).
    chat_request_create("old-plain", time=SEPTEMBER)


@postgresql_only
def test_old_rows_waiting_in_the_default_partition_are_deleted_row_by_row(months):
    chat_request_create("ancient", time=datetime(1999, 5, 1, tzinfo=UTC), prompt="mail eve@example.com")
    flags_evaluate(correlation_ids=["ancient"])
    result = requests_retention_apply(now=NOW)
    assert result.requests == 3 and result.flags == 2 and result.review_items == 2
    assert not GatewayRequest.objects.filter(correlation_id="ancient").exists()
    assert "ancient" not in keys()


def test_a_confirmed_item_keeps_its_request_until_an_admin_releases_it(months, reviewer_user, admin_user):
    item = ReviewItem.objects.get(request__correlation_id="old-flagged")
    review_confirm(item_id=item.pk, user=reviewer_user, note="real leak")

    result = requests_retention_apply(now=NOW)

    assert (result.requests, result.held) == (1, 1)  # old-plain went, old-flagged stays
    kept = GatewayRequest.objects.get(correlation_id="old-flagged")
    assert kept.review == item and kept.flags.exists()
    if connection.vendor == "postgresql":
        assert result.months_dropped == [date(2026, 8, 1)]
        assert "old-flagged" in keys()
        with pytest.raises(IntegrityError), transaction.atomic():
            chat_request_create("old-flagged", time=SEPTEMBER)

    review_release(item_id=item.pk, user=admin_user)
    result = requests_retention_apply(now=NOW)
    assert (result.requests, result.flags, result.review_items, result.held) == (1, 1, 1, 0)
    assert not GatewayRequest.objects.filter(correlation_id="old-flagged").exists()


def test_the_purge_is_audited_and_a_second_run_does_nothing(months):
    first = requests_retention_apply(now=NOW)
    entry = AccessAuditEntry.objects.get(action="purge_requests")
    assert entry.username == "system"
    assert entry.detail["requests"] == first.requests == 2
    assert entry.detail["cutoff"] == SEPTEMBER.isoformat()
    assert entry.detail["retention_months"] == 2

    second = requests_retention_apply(now=NOW)
    assert second.requests == 0 and second.months_dropped == []
    assert AccessAuditEntry.objects.filter(action="purge_requests").count() == 1


def test_the_command_reports_what_it_removed(months, settings):
    out = StringIO()
    with freeze_time(NOW):
        call_command("requests_purge", stdout=out)
    assert "removed 2 requests" in out.getvalue()
    settings.REQUEST_RETENTION_MONTHS = 0
    call_command("requests_purge", stdout=out)
    assert "kept forever" in out.getvalue()


def test_partitions_and_retention_run_daily_from_the_beat_schedule(months):
    ahead = [
        "usage_gatewayrequest_p2030_06",
        "usage_gatewayrequest_p2030_07",
        "usage_gatewayrequest_p2030_08",
    ]
    with freeze_time(datetime(2030, 6, 10, tzinfo=UTC)):
        assert usage_tasks.request_partitions_ahead() == (ahead if connection.vendor == "postgresql" else [])
    with freeze_time(NOW):
        assert usage_tasks.requests_retention()["requests"] == 2
    for name, task in [
        ("request-partitions", usage_tasks.request_partitions_ahead),
        ("requests-retention", usage_tasks.requests_retention),
    ]:
        entry = app.conf.beat_schedule[name]
        assert entry["task"] == task.name
        assert entry["options"]["expires"] <= 24 * 3600


@pytest.mark.slow
def test_sqlite_keeps_a_plain_table_and_retention_deletes_rows(tmp_path):
    """The embedded default: migrations leave the table alone; retention deletes rows in batches."""
    script = textwrap.dedent(
        """
        import django
        from datetime import UTC, datetime
        django.setup()
        from django.core.management import call_command
        from django.db import IntegrityError, connection, transaction
        call_command("migrate", verbosity=0)
        from audit.models import Flag
        from audit.services.flags import flags_evaluate
        from tests.factories import chat_request_create
        from usage.models import GatewayRequest, NativeLog
        from usage.db.partitions import request_partitions_ensure, request_partitions_list
        from usage.retention import requests_retention_apply
        assert request_partitions_ensure(months=[datetime(2026, 1, 1, tzinfo=UTC)]) == []
        assert request_partitions_list() == []
        chat_request_create("old", time=datetime(2026, 8, 2, tzinfo=UTC), prompt="mail bob@example.com")
        chat_request_create("kept", time=datetime(2026, 9, 2, tzinfo=UTC))
        flags_evaluate(correlation_ids=["old"])
        GatewayRequest.objects.filter(correlation_id="old").update(apim_request_id="apim-old")
        NativeLog.objects.create(correlation_id="apim-old", time=datetime(2026, 8, 2, tzinfo=UTC))
        result = requests_retention_apply(now=datetime(2026, 11, 15, tzinfo=UTC))
        assert (result.requests, result.flags, result.review_items) == (1, 1, 1), result
        assert result.native_logs == 1 and not NativeLog.objects.exists()
        assert list(GatewayRequest.objects.values_list("correlation_id", flat=True)) == ["kept"]
        assert not Flag.objects.exists()
        with connection.cursor() as cursor:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'usage_gatewayrequest'")
            assert "UNIQUE" in cursor.fetchone()[0]
        print("sqlite ok")
        """
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REQUEST_RETENTION_MONTHS": "2",
        "DJANGO_SETTINGS_MODULE": "aoai_portal.settings",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sqlite ok" in done.stdout


def partner_rows(correlation_id: str, *, time: datetime, apim_request_id: str = "") -> None:
    """A native row (joined on the request's apim_request_id) and an LLM-log chunk of ``correlation_id``."""
    if apim_request_id:
        GatewayRequest.objects.filter(correlation_id=correlation_id).update(apim_request_id=apim_request_id)
    NativeLog.objects.create(correlation_id=apim_request_id or f"apim-{correlation_id}", time=time)
    LlmLogChunk.objects.create(correlation_id=correlation_id, request_id="r1", sequence_number=0, time=time)


def test_native_rows_and_llm_chunks_go_with_their_requests(months, reviewer_user):
    partner_rows("old-plain", time=AUGUST - timedelta(days=3), apim_request_id="apim-old-plain")
    partner_rows("old-flagged", time=AUGUST, apim_request_id="apim-old-flagged")
    # A kept request whose partners were logged a second before the cutoff keeps them.
    partner_rows("kept-flagged", time=SEPTEMBER - timedelta(seconds=1), apim_request_id="apim-kept-flagged")
    partner_rows("never-came-old", time=AUGUST)  # partners of a request never stored
    partner_rows("never-came-new", time=SEPTEMBER + timedelta(days=1))
    item = ReviewItem.objects.get(request__correlation_id="old-flagged")
    review_confirm(item_id=item.pk, user=reviewer_user, note="held")  # its request and partners stay

    result = requests_retention_apply(now=NOW)

    assert (result.native_logs, result.llm_log_chunks) == (2, 2)
    assert set(NativeLog.objects.values_list("correlation_id", flat=True)) == {
        "apim-old-flagged",
        "apim-kept-flagged",
        "apim-never-came-new",
    }
    assert set(LlmLogChunk.objects.values_list("correlation_id", flat=True)) == {
        "old-flagged",
        "kept-flagged",
        "never-came-new",
    }
    entry = AccessAuditEntry.objects.get(action="purge_requests")
    assert (entry.detail["native_logs"], entry.detail["llm_log_chunks"]) == (2, 2)
    again = requests_retention_apply(now=NOW)
    assert (again.requests, again.native_logs, again.llm_log_chunks) == (0, 0, 0)


def test_old_partner_rows_go_in_batches(months, monkeypatch):
    monkeypatch.setattr("usage.retention.BATCH", 3)
    for n in range(8):
        partner_rows(f"orphan-{n}", time=AUGUST - timedelta(minutes=n))
    partner_rows("kept-plain", time=AUGUST, apim_request_id="apim-kept-plain")
    result = requests_retention_apply(now=NOW)
    assert (result.native_logs, result.llm_log_chunks) == (8, 8)
    assert list(NativeLog.objects.values_list("correlation_id", flat=True)) == ["apim-kept-plain"]
