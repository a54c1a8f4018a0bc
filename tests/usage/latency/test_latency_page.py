from datetime import datetime, timedelta

from tests.support.latency_data import RegionProfile, requests_generate
from usage.rollups.hourly import rollup_refresh_range
from usage.views.latency import sparkline_points

H = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
URL = "/latency/?from=2026-03-02&to=2026-03-03"


def _data():
    requests_generate(
        profiles=[
            RegionProfile("swedencentral", 6.0, 0.4, throttle_rate=0.2),
            RegionProfile("eastus", 5.0, 0.3),
        ],
        start=H,
        hours=30,
        per_hour=3,
        seed=5,
        streaming_share=0.3,
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))


def test_it_shows_regions_with_chart_data_and_no_inline_script(client_for, finance_user):
    _data()
    response = client_for(finance_user).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "swedencentral" in html and "eastus" in html
    assert 'id="latency-charts" type="application/json"' in html
    assert "vendor/plotly.min.js" in html and "js/latency.js" in html
    charts = response.context["charts"]
    assert charts["regions"] == ["eastus", "swedencentral"]
    assert charts["days"] == ["2026-03-02", "2026-03-03"]
    # Every <script> either loads a static file or carries JSON data.
    for chunk in html.split("<script")[1:]:
        assert chunk.lstrip().startswith(("src=", 'id="latency-charts" type="application/json"'))
    assert "<polyline" in html  # sparklines


def test_the_filters_live_in_the_query_string(client_for, reviewer_user):
    _data()
    client = client_for(reviewer_user)
    response = client.get(URL + "&streaming=true&group=deployment")
    rows = response.context["rows"]
    assert [r.group for r in rows] == ["gpt-4o"] and all(r.streaming for r in rows)
    html = response.content.decode()
    assert '<option value="true" selected>' in html
    assert '<option value="deployment" selected>' in html


def test_it_shows_an_empty_state_when_nothing_matches(client_for, admin_user):
    response = client_for(admin_user).get("/latency/?from=2024-01-01&to=2024-01-02")
    assert response.status_code == 200
    assert b'id="latency-empty"' in response.content
    assert b"latency-heatmap" not in response.content


def test_a_bad_filter_gives_a_message_not_an_error(client_for, finance_user):
    response = client_for(finance_user).get("/latency/?from=not-a-date")
    assert response.status_code == 200
    assert b"&#x27;from&#x27; must be a date" in response.content


def test_users_without_a_role_are_refused(client_for, norole_user):
    assert client_for(norole_user).get("/latency/").status_code == 403


def test_sparkline_points_scale_into_the_box_and_skip_gaps():
    points = sparkline_points([10.0, None, 30.0, 20.0])
    coordinates = [tuple(map(float, p.split(","))) for p in points.split()]
    assert len(coordinates) == 3
    assert coordinates[0][1] > coordinates[1][1]  # higher value, higher on screen (smaller y)
    assert sparkline_points([None, 5.0]) == ""
