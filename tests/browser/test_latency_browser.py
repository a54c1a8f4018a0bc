"""The latency page in real headless Chromium: charts draw under the CSP, tables sort."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client

from tests.support.latency_data import RegionProfile, requests_generate
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


def test_the_latency_page_draws_its_charts_and_sorts_its_table(live_server, finance_user):
    requests_generate(
        profiles=[RegionProfile("swedencentral", 7.0, 0.4), RegionProfile("eastus", 5.0, 0.3)],
        start=H,
        hours=30,
        per_hour=2,
        seed=9,
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))

    def script(page):
        page.goto(f"{live_server.url}/latency/?from=2026-03-02&to=2026-03-03&streaming=false")
        page.wait_for_selector("#latency-heatmap .main-svg")
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
    # Regions are shown by their display names (usage.regions).
    assert (before, after) == ("East US", "Sweden Central")
    assert problems == []
