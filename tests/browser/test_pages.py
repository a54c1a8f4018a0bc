"""Every page of the portal in real Chromium, per role, after a real Entra sign-in.

One module-wide portal (demo logs through the real ingestion path, cost centers, a flag rule, quota
tiers) served by one live server; each role signs in through the local OpenID Connect provider and
opens every page it may open. On each page: the heading, key numbers against the JSON API for the
same data, plotly charts drawn (SVG with data traces), the navigation, labels and table headers, no
console errors, and a screenshot (test-artifacts/screenshots/<role>-<page>.png).

The data is committed once for the module (loading it per test would cost seconds per test) and
flushed at the end, the way a transactional test leaves the database.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect
from pytest_django.live_server_helper import LiveServer

from audit.models import ReviewItem
from tests.support.portal_data import PortalData, portal_data_load
from usage.accounting.price_defaults import prices_seed
from usage.models import GatewayRequest, IngestionRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

ALL_NAV = [
    "Chargeback",
    "Reconciliation",
    "Latency",
    "Quotas",
    "Review queue",
    "Requests",
    "Ingestion",
    "Access audit",
    "Admin",
    "My API tokens",
]
README = bool(os.environ.get("PORTAL_README_SCREENSHOTS"))  # set by bin/screenshots
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Portal:
    url: str
    data: PortalData


@pytest.fixture(scope="module")
def portal(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        # The README screenshots show a few days of busier traffic; the tests need far less.
        data = portal_data_load(hours=72, requests_per_hour=20) if README else portal_data_load()
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            yield Portal(url=server.url, data=data)
        finally:
            server._live_server_modified_settings.disable()
            server.stop()
            call_command("flush", interactive=False, verbosity=0)
            prices_seed()  # as the migration left it


# --- helpers -------------------------------------------------------------------------------------


def money(amount: str | Decimal, currency: str) -> str:
    """The portal's money format: thousands separators, two decimals, half-up (test's own rule)."""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'−' if value < 0 else ''}{currency} {abs(value):,.2f}"


def number(value: int) -> str:
    return f"{value:,}"


def sign_in(
    new_page, entra, portal: Portal, *, roles: list[str], name: str, width: int = 1280, height: int = 900
):
    """Sign in through the local Entra provider in a fresh browser context; returns the PageVisit."""
    oid = f"00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}"
    username = name.lower().replace(" ", ".") + "@contoso.example"
    entra.profile(claims={"roles": roles, "name": name, "oid": oid, "preferred_username": username})
    visit = new_page(width=width, height=height)
    visit.page.goto(f"{portal.url}/accounts/login/")
    visit.page.get_by_role("link", name="Sign in with Microsoft Entra ID").click()
    visit.page.wait_for_url(re.compile(r"^(?!.*(/oidc/|/accounts/login/)).*$"))
    assert visit.page.get_by_text(name).first.is_visible()
    return visit


A11Y_SCRIPT = """() => {
  const problems = [];
  const named = el => (el.labels && el.labels.length) || el.getAttribute('aria-label')
    || el.getAttribute('aria-labelledby') || el.getAttribute('title');
  for (const el of document.querySelectorAll(
      'main input:not([type=hidden]):not([type=submit]):not([type=button]), main select, main textarea')) {
    if (!named(el)) problems.push('input without a label: ' + el.outerHTML.slice(0, 100));
  }
  for (const table of document.querySelectorAll('main table')) {
    if (!table.querySelector('th')) problems.push('table without header cells: ' + table.outerHTML.slice(0, 80));
  }
  for (const th of document.querySelectorAll('main table.sortable thead th')) {
    if (!th.hasAttribute('data-nosort') && !th.querySelector('button'))
      problems.push('sortable header is not a button: ' + th.textContent.trim());
  }
  for (const chart of document.querySelectorAll('main .chart')) {
    if (!chart.getAttribute('aria-label')) problems.push('chart without a text alternative: ' + chart.id);
  }
  for (const badge of document.querySelectorAll('.badge')) {
    if (!badge.textContent.trim()) problems.push('badge with colour only');
  }
  if (document.querySelectorAll('main h1').length !== 1) problems.push('not exactly one h1');
  if (!document.documentElement.lang) problems.push('no lang');
  return problems;
}"""


def open_page(visit, portal: Portal, path: str, *, shot: str, heading: str, status: int = 200) -> None:
    """Open ``path``; check status, heading, accessibility basics, no console errors; screenshot."""
    errors_before = len(visit.console_errors)
    response = visit.page.goto(portal.url + path)
    assert response is not None and response.status == status, (path, response and response.status)
    visit.page.wait_for_load_state("load")
    h1 = visit.page.locator("main h1").first.inner_text()
    assert h1 == heading or re.fullmatch(heading, h1), (path, h1)
    assert visit.page.evaluate(A11Y_SCRIPT) == [], path
    visit.screenshot(shot)
    errors = visit.console_errors[errors_before:]
    if status != 200:  # Chromium logs the refused document itself; nothing else may fail
        errors = [e for e in errors if f"status of {status}" not in e]
    assert errors == [], path


def charts_drawn(visit, *chart_ids: str) -> None:
    """Each plotly chart rendered an SVG with at least one data trace."""
    for chart_id in chart_ids:
        selector = f"#{chart_id}.js-plotly-plot svg.main-svg"
        visit.page.wait_for_selector(selector, timeout=10_000)
        traces = visit.page.locator(
            f"#{chart_id} .barlayer .trace, #{chart_id} .scatterlayer .trace, #{chart_id} .heatmaplayer image"
        ).count()
        assert traces >= 1, chart_id


def heatmap_drawn(visit) -> None:
    """The latency heatmap (an HTML table) has a row per region, coloured cells and its legend."""
    assert visit.page.locator("#latency-heatmap tbody tr").count() >= 1
    assert visit.page.locator("#latency-heatmap td[data-value]").count() >= 1
    assert "no data" in visit.page.locator("#latency-heatmap-legend").inner_text()


def column_sorts(visit, table: str, column: str) -> None:
    """Clicking a column heading sorts the rows by it, numbers as numbers; again reverses."""
    header = visit.page.locator(f"{table} thead th", has_text=column)
    index = header.evaluate("th => th.cellIndex")

    def values() -> list[float]:
        cells = visit.page.locator(f"{table} tbody tr").evaluate_all(
            "(rows, i) => rows.map(r => r.cells[i].getAttribute('data-value') ?? r.cells[i].textContent)",
            index,
        )
        return [float(re.sub(r"[^0-9.]", "", text.split("(")[0]) or 0) for text in cells]

    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert values() == sorted(values())
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert values() == sorted(values(), reverse=True)


def nav_labels(visit) -> list[str]:
    return visit.page.locator("header nav[aria-label=Main] a").all_inner_texts()


def api(visit, portal: Portal, path: str) -> dict:
    """The JSON API with the browser's own session (same user, same data)."""
    response = visit.page.request.get(portal.url + path)
    assert response.ok, (path, response.status)
    return response.json()


def refused(visit, portal: Portal, path: str, *, shot: str, heading: str = "Not allowed") -> None:
    open_page(visit, portal, path, shot=shot, heading=heading, status=403)


# --- finance -------------------------------------------------------------------------------------


def test_finance_sees_chargeback_drill_down_latency_and_quotas_with_the_api_numbers(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Finance"], name="Fiona Finance")
    month = portal.data.month_param
    assert nav_labels(visit) == ["Chargeback", "Reconciliation", "Latency", "Quotas", "My API tokens"]

    # Month overview: cards and the cost-center table add up to what the API says.
    open_page(
        visit, portal, f"/chargeback/?month={month}", shot="finance-chargeback", heading=r"Chargeback — .+"
    )
    report = api(visit, portal, f"/api/v1/chargeback?month={month}&group_by=cost_center")
    currency = report["currency"]
    assert visit.page.locator("[data-card=cost] .value").inner_text() == money(
        report["totals"]["cost"], currency
    )
    assert visit.page.locator("[data-card=requests] .value").inner_text() == number(
        report["totals"]["requests"]
    )
    assert visit.page.locator("[data-card=tokens] .value").inner_text() == number(
        report["totals"]["total_tokens"]
    )
    shown = {
        row.get_attribute("data-group"): row.locator("[data-measure=cost]").inner_text()
        for row in visit.page.locator("#chargeback-rows tbody tr").all()
    }
    assert shown == {row["group"]: money(row["cost"], currency).split(" ", 1)[1] for row in report["rows"]}
    assert "" in shown  # the unassigned products are listed, not dropped
    charts_drawn(visit, "chargeback-chart")
    traces = visit.page.locator("#chargeback-chart .barlayer .trace").count()
    assert traces == len(report["rows"])

    # Drill down: cost center -> subscriptions -> deployments/models -> days; each level's total is
    # the figure of the row clicked on the level above.
    expected_cost = (
        visit.page.locator("#chargeback-rows tbody tr").first.locator("[data-measure=cost]").inner_text()
    )
    for level, heading in (
        ("subscriptions", "Subscriptions"),
        ("deployments", "Deployments and models"),
        ("days", "Days"),
    ):
        visit.page.locator("#chargeback-rows tbody tr").first.locator("th a").click()
        # The click returns before the next level has loaded; expect retries until it has.
        expect(visit.page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        total = visit.page.locator("#chargeback-rows tfoot [data-measure=cost]").inner_text()
        assert total == expected_cost, level
        charts_drawn(visit, "chargeback-chart")
        assert visit.page.evaluate(A11Y_SCRIPT) == []
        visit.screenshot(f"finance-chargeback-{level}")
        if level != "days":
            expected_cost = (
                visit.page.locator("#chargeback-rows tbody tr")
                .first.locator("[data-measure=cost]")
                .inner_text()
            )
    assert "cost_center=" in visit.page.url and "subscription=" in visit.page.url  # state in the URL
    assert visit.console_errors == []

    open_page(
        visit,
        portal,
        f"/chargeback/close/?month={month}",
        shot="finance-chargeback-close",
        heading=r"Close .+\?",
    )

    # Latency: requests per region as the API counts them; heatmap and trend drawn.
    open_page(visit, portal, "/latency/", shot="finance-latency", heading="Latency per region")
    latency = api(visit, portal, "/api/v1/latency?group_by=region")
    shown = {
        (row.locator("th").inner_text(), row.locator("td").nth(0).inner_text()): row.locator("td")
        .nth(1)
        .inner_text()
        for row in visit.page.locator("#latency-table tbody tr").all()
    }
    assert shown == {
        (row["label"], "streaming" if row["streaming"] else "non-streaming"): number(row["requests"])
        for row in latency["rows"]
    }
    charts_drawn(visit, "latency-trend")
    heatmap_drawn(visit)
    # Filters keep their state in the URL: a reload (or a shared link) shows the same selection.
    visit.page.get_by_label("Streaming").select_option("false")
    visit.page.get_by_label("Group by").select_option("deployment")
    visit.page.get_by_role("button", name="Apply").click()
    visit.page.wait_for_url(re.compile(r".*streaming=false.*"))
    assert "group=deployment" in visit.page.url
    visit.page.reload()
    assert visit.page.get_by_label("Streaming").input_value() == "false"
    assert visit.page.get_by_label("Group by").input_value() == "deployment"
    assert visit.page.locator("#latency-table thead th").first.inner_text() == "Deployment"
    charts_drawn(visit, "latency-trend")
    heatmap_drawn(visit)

    # Quotas: one row per subscription, tokens as the API counts them.
    open_page(visit, portal, f"/quotas/?month={month}", shot="finance-quotas", heading=f"Quotas · {month}")
    quotas = api(visit, portal, f"/api/v1/quotas?month={month}")
    shown = {
        row.get_attribute("data-subscription"): row.locator("td.num").first.inner_text()
        for row in visit.page.locator("table.quotas tbody tr").all()
    }
    assert shown == {row["apim_subscription_id"]: number(row["tokens"]) for row in quotas["rows"]}
    assert len(shown) >= 3

    api_docs(visit, portal, shot="finance-api-docs")

    refused(visit, portal, "/review/", shot="finance-review-refused")
    refused(visit, portal, "/ingestion/", shot="finance-ingestion-refused")
    refused(visit, portal, "/access-audit/", shot="finance-access-audit-refused")
    request_id = GatewayRequest.objects.values_list("correlation_id", flat=True).first()
    refused(visit, portal, f"/requests/{request_id}/", shot="finance-request-refused")


def api_docs(visit, portal: Portal, *, shot: str) -> None:
    errors_before = len(visit.console_errors)
    visit.page.goto(f"{portal.url}/api/docs")
    visit.page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "AOAI Portal API" in visit.page.locator(".swagger-ui .info .title").inner_text()
    assert visit.page.locator(".opblock-summary-path", has_text="/api/v1/chargeback").count() >= 1
    visit.screenshot(shot)
    assert visit.console_errors[errors_before:] == []


# --- reviewer ------------------------------------------------------------------------------------


def test_a_reviewer_works_the_queue_and_opens_a_request_but_not_the_money_pages(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Reviewer"], name="Ravi Reviewer")
    assert visit.page.url.endswith("/review/")  # home sends a reviewer to the queue
    assert nav_labels(visit) == ["Latency", "Review queue", "Requests", "My API tokens"]

    open_page(visit, portal, "/review/", shot="reviewer-review-queue", heading="Review queue")
    flags = api(visit, portal, "/api/v1/flags?status=open&limit=1")
    assert flags["count"] >= 1
    assert visit.page.locator("#count-open").inner_text() == number(flags["count"])
    assert ReviewItem.objects.filter(status="open").count() == flags["count"]

    visit.page.locator("table tbody tr").first.locator("a").first.click()
    visit.page.wait_for_url(re.compile(r".*/requests/[^/]+/\?queue=$"))
    correlation_id = visit.page.locator("main h1").inner_text().removeprefix("Request ")
    record = GatewayRequest.objects.get(correlation_id=correlation_id)
    open_page(
        visit,
        portal,
        f"/requests/{correlation_id}/",
        shot="reviewer-request-detail",
        heading=f"Request {correlation_id}",
    )
    assert visit.page.locator("#token-source").inner_text().startswith(record.get_token_source_display())
    facts = visit.page.locator("dl.facts").all_inner_texts()
    assert any(f"Total tokens\n{number(record.total_tokens)}" in text for text in facts)
    assert visit.page.get_by_role("heading", name="Flags").is_visible()
    assert visit.page.locator("section[aria-labelledby=h-flags] table tbody tr").count() >= 1

    open_page(visit, portal, "/requests/", shot="reviewer-request-explorer", heading="Requests")
    assert visit.page.locator("#explorer-table tbody tr").count() == min(50, GatewayRequest.objects.count())

    open_page(visit, portal, "/latency/", shot="reviewer-latency", heading="Latency per region")
    charts_drawn(visit, "latency-trend")
    heatmap_drawn(visit)
    api_docs(visit, portal, shot="reviewer-api-docs")

    refused(
        visit, portal, f"/chargeback/?month={portal.data.month_param}", shot="reviewer-chargeback-refused"
    )
    refused(visit, portal, "/quotas/", shot="reviewer-quotas-refused")
    refused(visit, portal, "/ingestion/", shot="reviewer-ingestion-refused")
    refused(visit, portal, "/access-audit/", shot="reviewer-access-audit-refused")


# --- admin ---------------------------------------------------------------------------------------


def test_an_admin_opens_every_page(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Admin"], name="Ada Admin")
    month = portal.data.month_param
    assert nav_labels(visit) == ALL_NAV

    open_page(
        visit, portal, f"/chargeback/?month={month}", shot="admin-chargeback", heading=r"Chargeback — .+"
    )
    charts_drawn(visit, "chargeback-chart")
    open_page(visit, portal, "/latency/", shot="admin-latency", heading="Latency per region")
    charts_drawn(visit, "latency-trend")
    heatmap_drawn(visit)
    # Print: no navigation or filters, the charts still drawn and no wider than the paper.
    visit.page.emulate_media(media="print")
    assert not visit.page.locator("header nav").is_visible()
    assert not visit.page.locator("form.filters").is_visible()
    assert visit.page.locator("#latency-trend svg.main-svg").first.is_visible()
    assert visit.page.locator("#latency-heatmap").is_visible()
    visit.screenshot("admin-latency-print")
    visit.page.emulate_media(media="screen")

    open_page(visit, portal, f"/quotas/?month={month}", shot="admin-quotas", heading=f"Quotas · {month}")
    column_sorts(visit, "table.quotas", "Tokens this month")
    open_page(visit, portal, "/review/", shot="admin-review-queue", heading="Review queue")
    column_sorts(visit, "main table.sortable", "Severity")
    flagged = ReviewItem.objects.select_related("request").first().request.correlation_id
    open_page(
        visit, portal, f"/requests/{flagged}/", shot="admin-request-detail", heading=f"Request {flagged}"
    )

    open_page(visit, portal, "/ingestion/", shot="admin-ingestion", heading="Ingestion")
    # Per table: rows stored in the last 24 h and rejected, as the runs recorded them.
    for run in IngestionRun.objects.all():
        row = visit.page.locator(f"tr[data-table={run.table}]")
        cells = row.locator("td").all_inner_texts()
        assert number(run.rows_stored) in cells and number(run.rejected) in cells, (run.table, cells)
    assert visit.page.locator("table[aria-label='Rejected rows by reason'] tbody tr").count() >= 3

    open_page(visit, portal, "/access-audit/", shot="admin-access-audit", heading="Access audit")
    # The admin's own look at the request above is on record.
    assert visit.page.locator("main table tbody tr", has_text=flagged).count() >= 1

    visit.page.goto(f"{portal.url}/admin/")
    assert visit.page.get_by_role("heading", name="Administration", exact=True).is_visible()
    visit.screenshot("admin-admin-index")
    api_docs(visit, portal, shot="admin-api-docs")
    assert visit.console_errors == []


# --- no role -------------------------------------------------------------------------------------


def test_a_user_without_a_mapped_role_sees_no_access_everywhere(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Contributor"], name="Nora Norole")
    assert visit.page.locator("main h1").inner_text() == "No access"
    assert nav_labels(visit) == []
    for path, name in (
        (f"/chargeback/?month={portal.data.month_param}", "chargeback"),
        ("/latency/", "latency"),
        ("/quotas/", "quotas"),
        ("/review/", "review-queue"),
        ("/ingestion/", "ingestion"),
        ("/access-audit/", "access-audit"),
    ):
        refused(visit, portal, path, shot=f"norole-{name}", heading="No access")
    response = visit.page.request.get(f"{portal.url}/api/v1/chargeback")
    assert response.status == 403


# --- tablet, keyboard ----------------------------------------------------------------------------


def test_the_main_pages_fit_a_tablet_and_work_with_the_keyboard(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Admin"], name="Tess Tablet", width=768)
    month = portal.data.month_param
    for path, name, heading in (
        (f"/chargeback/?month={month}", "chargeback", r"Chargeback — .+"),
        ("/latency/", "latency", "Latency per region"),
        (f"/quotas/?month={month}", "quotas", f"Quotas · {month}"),
        ("/review/", "review-queue", "Review queue"),
        ("/ingestion/", "ingestion", "Ingestion"),
    ):
        open_page(visit, portal, path, shot=f"tablet-{name}", heading=heading)
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        overflow = visit.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)

    # Keyboard: the first Tab reaches "Skip to content"; a sortable column sorts with Enter.
    visit.page.goto(f"{portal.url}/chargeback/?month={month}")
    visit.page.keyboard.press("Tab")
    assert visit.page.evaluate("document.activeElement.textContent") == "Skip to content"
    header = visit.page.locator("#chargeback-rows thead th").last
    header.locator("button").focus()
    visit.page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "ascending"
    costs = [
        Decimal(cell.get_attribute("data-value"))
        for cell in visit.page.locator("#chargeback-rows tbody [data-measure=cost]").all()
    ]
    assert costs == sorted(costs)
    visit.page.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    assert visit.console_errors == []


# --- README screenshots --------------------------------------------------------------------------


@pytest.mark.skipif(not README, reason="bin/screenshots sets PORTAL_README_SCREENSHOTS")
def test_readme_screenshots_are_taken_from_demo_data(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Admin"], name="Ada Admin", height=1000)
    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The 1280 x 1000 viewport (what a reader sees first); the latency page whole, for its charts.
    for path, name, chart, full_page in (
        (f"/chargeback/?month={portal.data.month_param}", "chargeback", "chargeback-chart", False),
        ("/latency/?streaming=false", "latency", "latency-trend", True),
        ("/review/", "review", None, False),
        ("/ingestion/", "ingestion", None, False),
    ):
        visit.page.goto(portal.url + path)
        if chart:
            charts_drawn(visit, chart)
        if name == "review":  # the request page a reviewer works in: actions beside the conversation
            visit.page.locator("#queue-table a.queue-link").first.click()
            visit.page.wait_for_url("**/requests/**")
        target = README_SCREENSHOTS / f"{name}.png"
        visit.page.screenshot(path=str(target), full_page=full_page)
        assert target.stat().st_size > 10_000
    assert visit.console_errors == []


@pytest.mark.skipif(not README, reason="bin/screenshots sets PORTAL_README_SCREENSHOTS")
def test_readme_latency_heatmap_screenshot_is_taken_from_demo_data(portal, new_page, entra):
    visit = sign_in(new_page, entra, portal, roles=["Admin"], name="Ada Admin", height=1000)
    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.goto(portal.url + "/latency/?streaming=false")
    heatmap_drawn(visit)
    # The heatmap with its heading and legend, as one picture.
    heading = visit.page.get_by_role(
        "heading", name="p95 of total time by backend region and hour of day (UTC)"
    )
    top = heading.bounding_box()
    bottom = visit.page.locator("#latency-heatmap-legend").bounding_box()
    assert top and bottom
    target = README_SCREENSHOTS / "latency-heatmap.png"
    visit.page.screenshot(
        path=str(target),
        full_page=True,
        clip={
            "x": 0,
            "y": top["y"] - 8,
            "width": 1280,
            "height": bottom["y"] + bottom["height"] - top["y"] + 16,
        },
    )
    assert target.stat().st_size > 10_000
    assert visit.console_errors == []
