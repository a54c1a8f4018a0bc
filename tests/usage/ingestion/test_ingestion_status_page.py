"""The admins' ingestion status page: per table lag, last run, errors, rejections, unmatched joins."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.support.log_analytics_fixtures import END, START
from usage.ingestion.log_analytics import log_analytics_pull
from usage.ingestion.status import ingestion_rejections_by_reason, ingestion_table_statuses
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import LatencyPendingHour, RejectedRow

URL = reverse("usage:ingestion_status")


def test_it_sends_anonymous_users_to_sign_in(client, db):
    assert client.get(URL).status_code == 302


@pytest.mark.parametrize("user", ["finance_user", "reviewer_user"])
def test_it_is_forbidden_to_other_roles(client_for, user, request):
    assert client_for(request.getfixturevalue(user)).get(URL).status_code == 403


def test_it_shows_an_empty_state_before_anything_was_ingested(client_for, admin_user):
    response = client_for(admin_user).get(URL)
    assert response.status_code == 200
    assert b"never pulled" in response.content
    assert b"No rejected rows." in response.content


def test_it_shows_each_table_with_its_watermark_runs_and_failures(client_for, admin_user, emulator, settings):
    emulator.fail_next("server_error", table=NATIVE, times=settings.INGEST_RETRIES + 1)
    log_analytics_pull(since=START, until=END)

    statuses = {status.table: status for status in ingestion_table_statuses()}
    assert statuses[GATEWAY].watermark == END and statuses[GATEWAY].last_run.status == "ok"
    assert statuses[GATEWAY].stored_24h > 0
    assert statuses[NATIVE].watermark is None and statuses[NATIVE].failed_24h == 1
    assert "HTTP 500" in statuses[NATIVE].last_error.error
    # Gateway requests whose native partner was not pulled (the native table failed) are unmatched.
    assert statuses[GATEWAY].unmatched > 0
    assert statuses[LLM_LOG].unmatched == 0

    page = client_for(admin_user).get(URL).content.decode()
    assert "2026-10-05 12:00:00" in page
    assert "HTTP 500" in page
    assert f'data-table="{NATIVE}"' in page


@pytest.mark.parametrize(
    ("first", "second", "kind"),
    [
        ("properties_s: not JSON: '{\"a\": 1'", "properties_s: not JSON: '[1, 2'", "properties_s: not JSON"),
        (
            "not an Azure OpenAI row: ResourceProvider 'A'",
            "not an Azure OpenAI row: Category 'B'",
            "not an Azure OpenAI row",
        ),
        ("CorrelationId: missing", "CorrelationId: missing", "CorrelationId: missing"),
    ],
)
def test_it_groups_rejections_by_the_reason_without_its_detail(db, first, second, kind):
    RejectedRow.objects.create(source=NATIVE, reason=first, raw="x", fingerprint="f1")
    RejectedRow.objects.create(source=NATIVE, reason=second, raw="y", fingerprint="f2")
    RejectedRow.objects.create(
        source=NATIVE, reason="TimeGenerated: not a datetime: 'soon'", raw="z", fingerprint="f3"
    )
    groups = ingestion_rejections_by_reason()
    assert (groups[0].reason, groups[0].count) == (kind, 2)
    assert (groups[1].reason, groups[1].count) == ("TimeGenerated: not a datetime", 1)


def test_it_counts_rejected_rows_by_kind_of_reason(client_for, admin_user, emulator):
    log_analytics_pull(since=START, until=END)
    groups = ingestion_rejections_by_reason()
    assert groups
    assert sum(group.count for group in groups) == RejectedRow.objects.count()
    page = client_for(admin_user).get(URL).content.decode()
    for group in groups:
        assert escape(group.reason) in page


def test_it_shows_hours_whose_latency_rollups_wait(client_for, admin_user):
    page = client_for(admin_user).get(URL).content.decode()
    assert "Latency rollups are up to date" in page
    for hour in (5, 3):
        LatencyPendingHour.objects.create(hour=datetime(2026, 11, 2, hour, tzinfo=UTC))
    page = client_for(admin_user).get(URL).content.decode()
    assert "Latency rollups waiting: 2 hours" in page and "2026-11-02 03:00 UTC" in page
