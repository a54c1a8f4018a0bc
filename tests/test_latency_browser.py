"""The latency page in real headless Chromium: charts draw under the CSP, tables sort."""

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client

from tests.latency_factories import RegionProfile, requests_generate
from usage.rollups import rollup_refresh_range

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


@pytest.fixture
def page_for(live_server, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls made here are
    # still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

        def open_as(user):
            client = Client()
            client.force_login(user)
            context = browser.new_context()
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                        "url": live_server.url,
                    }
                ]
            )
            page = context.new_page()
            page.problems = []
            page.on(
                "console",
                lambda m: (
                    m.type == "error"
                    and "favicon" not in m.location.get("url", "")
                    and page.problems.append(m.text)
                ),
            )
            page.on("pageerror", lambda e: page.problems.append(str(e)))
            return page

        yield live_server.url, open_as
        browser.close()


def test_the_latency_page_draws_its_charts_and_sorts_its_table(page_for, finance_user):
    requests_generate(
        profiles=[RegionProfile("swedencentral", 7.0, 0.4), RegionProfile("eastus", 5.0, 0.3)],
        start=H,
        hours=30,
        per_hour=2,
        seed=9,
    )
    rollup_refresh_range(start=H, end=H + timedelta(hours=30))
    base, open_as = page_for
    page = open_as(finance_user)
    page.goto(f"{base}/latency/?from=2026-03-02&to=2026-03-03&streaming=false")
    page.wait_for_selector("#latency-heatmap .main-svg")
    page.wait_for_selector("#latency-trend .main-svg")
    assert page.locator("#latency-trend .scatterlayer .trace").count() == 2

    first_region = page.locator("#latency-table tbody tr th").first
    assert first_region.inner_text() == "eastus"
    p95 = page.locator("#latency-table thead th").nth(4).locator("button")
    p95.click()  # ascending: eastus (faster) first
    p95.click()  # descending: swedencentral first
    assert first_region.inner_text() == "swedencentral"
    assert page.problems == []
