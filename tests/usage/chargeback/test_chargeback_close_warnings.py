"""Closing warns, and asks to confirm, when the month has no usage, unpriced tokens, rows still
waiting for their join partner, or ingestion not yet past month end plus the ingestion delay."""

import datetime as dt

import pytest

from tests.support.costs_data import gateway_request
from usage.chargeback.selectors.close_checks import month_close_warnings
from usage.chargeback.services import MonthCloseUnconfirmed, chargeback_month_close
from usage.models import GatewayRequest, IngestionWatermark, MonthClose, UnmatchedRow
from usage.rollups.hourly import rollup_refresh_hours

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)
APRIL_1 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def _codes() -> list[str]:
    return [warning.code for warning in month_close_warnings(month=MARCH)]


def _priced_month() -> None:
    gateway_request(subscription="sub-a", prompt=1000, cost="1.00", is_priced=True)
    rollup_refresh_hours(hours={r.time for r in GatewayRequest.objects.all()})


def test_a_clean_month_has_no_warning(settings):
    settings.INGEST_DELAY_SECONDS = 300
    _priced_month()
    IngestionWatermark.objects.create(
        table="ApiManagementGatewayLogs", watermark=APRIL_1 + dt.timedelta(minutes=5)
    )
    assert _codes() == []


def test_each_problem_is_a_warning(settings):
    settings.INGEST_DELAY_SECONDS = 300
    settings.LOG_ANALYTICS_WORKSPACE_ID = "ws"
    assert _codes() == ["no_usage", "ingestion_behind"]  # never pulled

    gateway_request(subscription="sub-a", prompt=1000, completion=234, is_priced=False)
    rollup_refresh_hours(hours={r.time for r in GatewayRequest.objects.all()})
    UnmatchedRow.objects.create(
        table="ApiManagementGatewayLogs",
        row_key="c1",
        partner_key="p1",
        time=dt.datetime(2026, 3, 31, tzinfo=dt.UTC),
    )
    UnmatchedRow.objects.create(
        table="AzureDiagnostics", row_key="c2", partner_key="c2", time=APRIL_1
    )  # April's
    # Watermark at month end, but not past the delay: rows of the last minutes may still come.
    IngestionWatermark.objects.create(
        table="ApiManagementGatewayLogs", watermark=APRIL_1 + dt.timedelta(minutes=4)
    )
    IngestionWatermark.objects.create(table="AzureDiagnostics", watermark=APRIL_1 + dt.timedelta(hours=1))
    warnings = {w.code: w.message for w in month_close_warnings(month=MARCH)}
    assert list(warnings) == ["unpriced", "unmatched", "ingestion_behind"]
    assert "1,234 tokens" in warnings["unpriced"]
    assert (
        "1 ApiManagementGatewayLogs" in warnings["unmatched"]
        and "AzureDiagnostics" not in warnings["unmatched"]
    )
    assert "2026-04-01 00:05 UTC" in warnings["ingestion_behind"]
    assert "ApiManagementGatewayLogs" in warnings["ingestion_behind"]
    assert "AzureDiagnostics" not in warnings["ingestion_behind"]


def test_the_service_refuses_unconfirmed_warnings(finance_user):
    with pytest.raises(MonthCloseUnconfirmed) as raised:
        chargeback_month_close(month=MARCH, user=finance_user)
    assert [w.code for w in raised.value.warnings] == ["no_usage"]
    assert not MonthClose.objects.exists()
    chargeback_month_close(month=MARCH, user=finance_user, warnings_confirmed=True)
    assert MonthClose.objects.filter(month=MARCH).exists()


def test_the_close_form_shows_warnings_and_needs_the_box_ticked(client_for, finance_user):
    client = client_for(finance_user)
    page = client.get("/chargeback/close/?month=2026-03").content.decode()
    assert 'data-warning="no_usage"' in page and 'name="confirm"' in page
    response = client.post("/chargeback/close/", {"month": "2026-03"})
    assert response.status_code == 400 and "Tick the box" in response.content.decode()
    assert not MonthClose.objects.exists()
    assert client.post("/chargeback/close/", {"month": "2026-03", "confirm": "yes"}).status_code == 302
    assert MonthClose.objects.filter(month=MARCH).exists()


def test_without_warnings_the_form_closes_without_a_box(client_for, finance_user):
    _priced_month()
    client = client_for(finance_user)
    page = client.get("/chargeback/close/?month=2026-03").content.decode()
    assert "close-warnings" not in page and 'name="confirm"' not in page
    assert client.post("/chargeback/close/", {"month": "2026-03"}).status_code == 302
    assert MonthClose.objects.filter(month=MARCH).exists()
