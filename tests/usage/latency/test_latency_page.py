import re
from datetime import datetime, timedelta

from tests.support.latency_data import RegionProfile, requests_generate
from usage.rollups.hourly import rollup_refresh_range
from usage.views.latency import (
    HEATMAP_BOUNDS_MS,
    heatmap_legend,
    heatmap_rows,
    heatmap_step,
    sparkline_points,
)

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
    assert "vendor/plotly-finance.min.js" in html and "js/latency.js" in html
    charts = response.context["charts"]
    assert charts["regions"] == ["eastus", "swedencentral"]
    assert charts["days"] == ["2026-03-02", "2026-03-03"]
    # Every <script> either loads a static file or carries JSON data.
    for chunk in html.split("<script")[1:]:
        assert chunk.lstrip().startswith(
            (
                "src=",
                'id="latency-charts" type="application/json"',
                'id="latency-operation-trends-data" type="application/json"',
            )
        )
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


def test_the_heatmap_is_a_table_with_full_region_names_a_light_to_dark_scale_and_no_data_cells(
    client_for, finance_user
):
    _data()
    html = client_for(finance_user).get(URL + "&streaming=false").content.decode()
    heatmap = html.split('id="latency-heatmap"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">Sweden Central (swedencentral)</th>' in heatmap
    assert '<th scope="row">East US (eastus)</th>' in heatmap
    # One cell per region and hour: its colour step is the one its p95 falls in; an hour without
    # non-streaming requests is a "no data" cell.
    cells = re.findall(r'<td class="heat-(\w+)"(?: data-value="([0-9.]+)")?', heatmap)
    assert len(cells) == 2 * 24
    for step, p95 in cells:
        assert step == ("none" if not p95 else str(heatmap_step(float(p95)))), (step, p95)
    assert {step for step, _ in cells} - {"none"}  # some cells have data
    legend = html.split('id="latency-heatmap-legend"', 1)[1].split("</ul>", 1)[0]
    assert "no data" in legend and legend.count("swatch heat-") == len(HEATMAP_BOUNDS_MS) + 2


def test_heatmap_steps_go_from_light_fast_to_dark_slow():
    assert heatmap_step(None) is None
    assert [heatmap_step(ms) for ms in (100, 250, 999, 1000, 15_999, 60_000)] == [0, 1, 2, 3, 6, 7]
    legend = heatmap_legend()
    assert [entry["step"] for entry in legend] == list(range(len(HEATMAP_BOUNDS_MS) + 1))
    assert legend[0]["text"] == "under 250 ms" and legend[-1]["text"] == "16 s and more"
    charts = {
        "hours": [0, 1, 2, 3],
        "region_labels": ["East US 2 (eastus2)"],
        "heatmap_p95_ms": [[None, 20.0, 840.0, 12_400.0]],
        "heatmap_requests": [[0, 3, 4, 5]],
    }
    (row,) = heatmap_rows(charts)
    assert [(c["seconds"], c["step"]) for c in row["cells"]] == [("", None), ("<0.1", 0), ("0.8", 2), ("12", 6)]


def test_column_groups_switch_in_the_url_and_keep_the_other_filters(client_for, finance_user):
    _data()
    client = client_for(finance_user)
    latency = client.get(URL + "&group=deployment").content.decode()
    head = latency.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "Total p95" in head and "429 share" not in head and "Tokens/s" not in head
    assert 'href="?from=2026-03-02&amp;to=2026-03-03&amp;group=deployment&amp;cols=errors"' in latency
    errors = client.get(URL + "&group=deployment&cols=errors")
    head = errors.content.decode().split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "429 (throttled)" in head and "5xx share" in head and "Total p50" not in head
    assert '<input type="hidden" name="cols" value="errors">' in errors.content.decode()
    row = errors.context["rows"][0]
    assert f'data-value="{row.throttled}"' in errors.content.decode()
    throughput = client.get(URL + "&cols=throughput").content.decode()
    head = throughput.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "Tokens/s" in head and "Remaining tokens" in head and "Total p95" not in head
    assert client.get(URL + "&cols=nonsense").context["columns"] == "latency"


def test_all_requests_puts_streaming_and_non_streaming_together(client_for, finance_user):
    _data()
    client = client_for(finance_user)
    split = client.get(URL).context["rows"]
    combined = client.get(URL + "&streaming=combined")
    rows = combined.context["rows"]
    assert [r.group for r in rows] == ["eastus", "swedencentral"]
    assert all(r.streaming is None for r in rows)
    for row in rows:
        assert row.requests == sum(r.requests for r in split if r.group == row.group)
        assert row.throttled == sum(r.throttled for r in split if r.group == row.group)
    html = combined.content.decode()
    assert '<option value="combined" selected>' in html and "<td>all</td>" in html
    charts = combined.context["charts"]
    assert charts["streaming"] is None
    assert sum(map(sum, charts["heatmap_requests"])) == sum(r.requests for r in rows)


def test_it_shows_trends_per_operation_and_per_deployment(client_for, finance_user):
    _data()
    client = client_for(finance_user)
    page = client.get(URL)
    trends = page.context["trends"]
    assert trends["by"] == "operation" and [s["group"] for s in trends["series"]] == ["chat"]
    assert sum(page.context["charts"]["heatmap_requests"][0]) > 0
    html = page.content.decode()
    assert 'id="latency-operation-p95"' in html and 'id="latency-operation-errors"' in html
    by_deployment = client.get(URL + "&trend=deployment").context["trends"]
    assert [s["group"] for s in by_deployment["series"]] == ["gpt-4o"]
    series = by_deployment["series"][0]
    assert series["requests"] == 2 * 30 * 3 and len(series["p95_ms"]) == 2
    assert 0 < series["throttled_pct"][0] < 100  # swedencentral throttles a fifth of its requests
