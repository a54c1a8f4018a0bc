"""The usage time series and the chargeback API's handling of bad parameters."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.chargeback_data import BEGIN, END, world_build
from tests.support.module_rows import module_rows
from usage.measures import CHARGEBACK_MEASURES

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The generated month (``world_build``), built once for the module; each test's changes are
    undone (module rows)."""
    with module_rows(django_db_blocker):
        yield world_build()


def test_the_daily_series_per_model_agrees_with_the_generated_data(world, client_for, finance_user):
    response = client_for(finance_user).get(
        "/api/v1/usage?from=2026-10-01&to=2026-11-01&group_by=model&interval=day"
    )
    assert response.status_code == 200
    data = response.json()
    assert data["from"].startswith("2026-10-01T00:00:00") and data["interval"] == "day"
    expected = world.expected(lambda r: (r["time"].date().isoformat(), r["model"]))
    got = {(row["time"][:10], row["group"]): row for row in data["rows"]}
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert Decimal(got[key]["cost"]) == want["cost"]
        for name in CHARGEBACK_MEASURES:
            if name != "cost":
                assert got[key][name] == want[name]
    assert Decimal(data["totals"]["cost"]) == world.total()["cost"]


def test_the_hourly_series_keeps_the_window_half_open(world, client_for, finance_user):
    begin, end = BEGIN - timedelta(hours=1), BEGIN + timedelta(hours=10)
    url = "/api/v1/usage?from=2026-09-30T23:00:00Z&to=2026-10-01T10:00:00Z&interval=hour"
    data = client_for(finance_user).get(url).json()
    expected = world.expected(lambda r: r["time"].replace(minute=0, second=0, microsecond=0), begin, end)
    got = {datetime.fromisoformat(row["time"].replace("Z", "+00:00")): row for row in data["rows"]}
    assert set(got) == set(expected)
    assert datetime(2026, 9, 30, 23, tzinfo=UTC) in got  # the rows just before midnight
    for hour, want in expected.items():
        assert got[hour]["requests"] == want["requests"] and Decimal(got[hour]["cost"]) == want["cost"]
        assert got[hour]["group"] == "" and got[hour]["label"] == "All"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/chargeback", "month is required"),
        ("/api/v1/chargeback?month=2026-13", "month must be YYYY-MM"),
        ("/api/v1/chargeback?month=October", "month must be YYYY-MM"),
        ("/api/v1/chargeback?month=2026-10&group_by=team", "group_by must be one of"),
        ("/api/v1/usage?to=2026-10-02", "from is required"),
        ("/api/v1/usage?from=2026-10-02&to=2026-10-01", "to must be after from"),
        ("/api/v1/usage?from=2026-10-01T10:30:00Z&to=2026-10-02", "whole hour"),
        ("/api/v1/usage?from=yesterday&to=2026-10-02", "from must be a date"),
        ("/api/v1/usage?from=2026-10-01&to=2026-10-02&interval=week", "interval must be day or hour"),
        ("/api/v1/usage?from=2026-01-01&to=2026-10-02&interval=hour", "at most 31 days"),
        ("/api/v1/usage?from=2026-10-01&to=2026-10-02&group_by=region", "group_by must be one of"),
    ],
)
def test_bad_parameters_get_a_422_with_a_clear_message(client_for, finance_user, url, message):
    response = client_for(finance_user).get(url)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_the_api_documents_the_endpoints(client_for, finance_user):
    schema = client_for(finance_user).get("/api/openapi.json").json()
    assert "/api/v1/chargeback" in schema["paths"] and "/api/v1/usage" in schema["paths"]


def test_end_is_exclusive_for_the_monthly_window(world, client_for, finance_user):
    data = client_for(finance_user).get("/api/v1/usage?from=2026-10-01&to=2026-11-01").json()
    assert data["totals"]["requests"] == len(world.in_month(BEGIN, END))


def test_a_finance_api_token_reads_the_chargeback_and_a_reviewer_token_does_not(
    world, client, finance_user, reviewer_user
):
    from aoai_portal.auth.services import api_token_create

    _token, raw = api_token_create(user=finance_user, name="power-bi")
    response = client.get(
        "/api/v1/chargeback?month=2026-10&group_by=model", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 200
    assert Decimal(response.json()["totals"]["cost"]) == world.total()["cost"]
    _token, raw = api_token_create(user=reviewer_user, name="curious")
    response = client.get("/api/v1/chargeback?month=2026-10", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
