from datetime import datetime, timedelta

from tests.support.latency_data import RegionProfile, requests_generate
from usage.rollups.hourly import rollup_refresh_range

H = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
CONTRACT = {
    "group",
    "requests",
    "total_p50_ms",
    "total_p95_ms",
    "total_p99_ms",
    "backend_p50_ms",
    "backend_p95_ms",
    "backend_p99_ms",
    "native_p50_ms",
    "native_p95_ms",
    "native_p99_ms",
    "throttled_share",
    "error_share",
    "tokens_per_second",
}


def _data():
    requests_generate(
        profiles=[
            RegionProfile("swedencentral", 6.0, 0.4, throttle_rate=0.2),
            RegionProfile("eastus", 5.0, 0.3),
        ],
        start=H,
        hours=4,
        per_hour=10,
        seed=11,
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=4))


def test_it_returns_one_row_per_region_with_the_contract_fields(client_for, finance_user):
    _data()
    response = client_for(finance_user).get(
        "/api/v1/latency", {"from": "2026-03-02", "to": "2026-03-02", "group_by": "region"}
    )
    assert response.status_code == 200, response.content
    rows = response.json()["rows"]
    assert [row["group"] for row in rows] == ["eastus", "swedencentral"]
    for row in rows:
        assert CONTRACT <= set(row)
        assert row["requests"] == 40
        assert row["total_p50_ms"] <= row["total_p95_ms"] <= row["total_p99_ms"]
        assert row["tokens_per_second"] > 0
    assert rows[0]["throttled_share"] == 0
    assert 0 < rows[1]["throttled_share"] < 0.5


def test_it_groups_by_hour_of_day(client_for, reviewer_user):
    _data()
    response = client_for(reviewer_user).get(
        "/api/v1/latency",
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z", "group_by": "hour_of_day"},
    )
    rows = response.json()["rows"]
    assert [row["group"] for row in rows] == [0, 1, 2, 3]
    assert all(row["requests"] == 20 for row in rows)


def test_a_range_without_data_gives_no_rows(client_for, admin_user):
    _data()
    response = client_for(admin_user).get("/api/v1/latency", {"from": "2025-01-01", "to": "2025-01-02"})
    assert response.json() == {"rows": [], "note": ""}


def test_it_rejects_an_unknown_grouping_with_a_clear_message(client_for, finance_user):
    response = client_for(finance_user).get("/api/v1/latency", {"group_by": "colour"})
    assert response.status_code == 400
    assert "group_by must be one of" in response.json()["detail"]


def test_it_rejects_a_malformed_date_with_a_clear_message(client_for, finance_user):
    response = client_for(finance_user).get("/api/v1/latency", {"from": "yesterday"})
    assert response.status_code == 400
    assert "'from' must be a date" in response.json()["detail"]


def test_it_refuses_users_without_a_role(client_for, norole_user):
    assert client_for(norole_user).get("/api/v1/latency").status_code == 403


def test_it_refuses_anonymous_callers(client, db):
    assert client.get("/api/v1/latency").status_code == 401
