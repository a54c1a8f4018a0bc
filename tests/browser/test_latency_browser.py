"""The latency page in real headless Chromium: charts draw under the CSP, tables sort."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client

from tests.browser.conftest import ARTIFACTS
from tests.factories import gateway_request
from tests.support.latency_data import RegionProfile, requests_generate
from usage.models import GatewayRequest
from usage.rollups.hourly import rollup_refresh_range

pytestmark = pytest.mark.browser
H = datetime.fromisoformat("2026-03-02T00:00:00+00:00")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _in_browser(base_url: str, session: str, script) -> object:
    """Run ``script(page)`` in Chromium signed in with ``session``; returns its result.

    Runs in its own thread: Playwright's sync API refuses a thread with a running event loop.
    """
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    def run():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            try:
                context = browser.new_context()
                context.add_cookies(
                    [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url}]
                )
                page = context.new_page()
                problems: list[str] = []
                page.on(
                    "console",
                    lambda m: (
                        m.type == "error"
                        and "favicon" not in m.location.get("url", "")
                        and problems.append(m.text)
                    ),
                )
                page.on("pageerror", lambda e: problems.append(str(e)))
                return script(page), problems
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=120)


def _traffic() -> None:
    requests_generate(
        profiles=[
            RegionProfile("swedencentral", 7.0, 0.4, throttle_rate=0.2),
            RegionProfile("eastus", 5.0, 0.3, error_rate=0.1),
        ],
        start=H,
        hours=30,
        per_hour=2,
        seed=9,
        streaming_share=0.3,
    )
    GatewayRequest.objects.bulk_create(
        gateway_request(
            time=H + timedelta(hours=h),
            operation_id="embeddings_create",
            operation="embeddings",
            deployment="text-embedding-3-small",
            model="text-embedding-3-small",
            total_time_ms=120.0,
        )
        for h in range(30)
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))


PAGE = "/latency/?from=2026-03-02&to=2026-03-03"


def test_the_latency_page_draws_its_charts_and_sorts_its_table(live_server, finance_user):
    _traffic()

    def script(page):
        page.goto(f"{live_server.url}{PAGE}&streaming=false")
        page.wait_for_selector("#latency-trend .main-svg")
        traces = page.locator("#latency-trend .scatterlayer .trace").count()
        first_region = page.locator("#latency-table tbody tr th").first
        before = first_region.inner_text()
        p95 = page.locator("#latency-table thead th").nth(4).locator("button")
        p95.click()  # ascending
        p95.click()  # descending: the slow region first
        return traces, before, first_region.inner_text()

    (traces, before, after), problems = _in_browser(live_server.url, _session_cookie(finance_user), script)
    assert traces == 2
    # Regions are shown by their display and region names (usage.regions).
    assert (before, after) == ("East US (eastus)", "Sweden Central (swedencentral)")
    assert problems == []


def test_the_heatmap_reads_light_to_dark_with_whole_labels_and_a_no_data_legend(live_server, finance_user):
    _traffic()

    def script(page):
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"{live_server.url}{PAGE}&streaming=true")
        labels = page.locator("#latency-heatmap tbody th")
        # No label is cut: each shows all of its text (wrapped if need be, never clipped).
        clipped = labels.evaluate_all("ths => ths.filter(th => th.scrollWidth > th.clientWidth).length")
        cells = page.locator("#latency-heatmap td[data-value]").evaluate_all(
            "tds => tds.map(td => [parseFloat(td.dataset.value), getComputedStyle(td).backgroundColor])"
        )
        empty = page.locator("#latency-heatmap td.heat-none").count()
        legend = page.locator("#latency-heatmap-legend").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#latency-heatmap").screenshot(path=str(ARTIFACTS / "latency-heatmap.png"))
        return labels.all_inner_texts(), clipped, cells, empty, legend

    (labels, clipped, cells, empty, legend), problems = _in_browser(
        live_server.url, _session_cookie(finance_user), script
    )
    assert labels == ["East US (eastus)", "Sweden Central (swedencentral)"] and clipped == 0
    assert "no data" in legend and empty > 0  # streaming is 30% of 2 requests an hour: gaps

    def lightness(colour: str) -> float:
        red, green, blue = (int(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3])
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    # Slower cells are never lighter than faster ones.
    ordered = sorted(cells)
    assert all(lightness(a[1]) >= lightness(b[1]) for a, b in zip(ordered, ordered[1:], strict=False))
    assert problems == []


def test_column_groups_switch_in_the_url_and_the_table_fits_a_laptop(live_server, finance_user):
    _traffic()

    def script(page):
        page.set_viewport_size({"width": 1366, "height": 768})
        page.goto(f"{live_server.url}{PAGE}&group=deployment")
        widths = {}
        for key in ("latency", "errors", "throughput"):
            page.locator(f"#latency-columns a[data-cols={key}]").click()
            page.wait_for_url(f"**cols={key}**")
            widths[key] = page.evaluate(
                "document.getElementById('latency-table').getBoundingClientRect().right - window.innerWidth"
            )
        headers = page.locator("#latency-table thead th").all_inner_texts()
        page.reload()
        current = page.locator("#latency-columns a[aria-current=page]").inner_text()
        page.get_by_label("Streaming").select_option("false")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url("**streaming=false**")
        return widths, headers, current, page.url

    (widths, headers, current, url), problems = _in_browser(
        live_server.url, _session_cookie(finance_user), script
    )
    assert all(overflow <= 0 for overflow in widths.values()), widths
    assert headers[0] == "Deployment" and "Tokens/s" in headers[3] and not any("p99" in h for h in headers)
    assert current == "Throughput"
    assert "cols=throughput" in url and "group=deployment" in url  # Apply keeps the column group
    assert problems == []


def test_all_requests_and_the_trends_per_operation_and_deployment(live_server, finance_user):
    _traffic()

    def script(page):
        page.goto(f"{live_server.url}{PAGE}")
        page.get_by_label("Streaming").select_option("combined")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url("**streaming=combined**")
        kinds = set(page.locator("#latency-table tbody tr td:first-of-type").all_inner_texts())
        page.wait_for_selector("#latency-operation-p95 .main-svg")
        page.wait_for_selector("#latency-operation-errors .main-svg")
        by_operation = page.locator("#latency-operation-p95 .legendtext").all_text_contents()
        error_traces = page.locator("#latency-operation-errors .scatterlayer .trace").count()
        page.locator("#latency-trend-by a[data-trend=deployment]").click()
        page.wait_for_url("**trend=deployment**")
        page.wait_for_selector("#latency-operation-p95 .main-svg")
        by_deployment = page.locator("#latency-operation-p95 .legendtext").all_text_contents()
        heading = page.locator("#trends-heading").inner_text()
        return kinds, by_operation, error_traces, by_deployment, heading, page.url

    (kinds, by_operation, error_traces, by_deployment, heading, url), problems = _in_browser(
        live_server.url, _session_cookie(finance_user), script
    )
    assert kinds == {"all"}
    assert by_operation == ["chat", "embeddings_create"] and error_traces == 4  # 429 and 5xx of each
    assert by_deployment == ["gpt-4o", "text-embedding-3-small"] and heading == "Trends per deployment"
    assert "streaming=combined" in url  # the view is kept when switching the trends
    assert problems == []


def test_the_latency_page_ships_at_most_one_and_a_half_megabytes_of_javascript(live_server, finance_user):
    _traffic()

    def script(page):
        scripts = []
        page.on("response", lambda r: r.request.resource_type == "script" and scripts.append(r))
        page.goto(f"{live_server.url}{PAGE}")
        page.wait_for_selector("#latency-trend .main-svg")
        return {response.url: len(response.body()) for response in scripts}

    sizes, problems = _in_browser(live_server.url, _session_cookie(finance_user), script)
    assert any(url.endswith("/plotly-finance.min.js") for url in sizes)
    assert sum(sizes.values()) <= 1_500_000, sizes
    assert problems == []
