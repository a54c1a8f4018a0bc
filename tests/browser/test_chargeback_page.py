"""The chargeback page in real Chromium: the stacked daily chart renders, tables sort, no console errors."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client

from tests.support.chargeback_data import world_build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MONTH_END_MINUS_HOUR = datetime(2026, 10, 31, 23, tzinfo=UTC)


def _signed_in(live_server, new_page, user):
    client = Client()
    client.force_login(user)
    visit = new_page()
    visit.page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return visit


def test_finance_sees_the_daily_cost_chart_stacked_by_cost_center(live_server, new_page, finance_user):
    world_build(count=120)
    visit = _signed_in(live_server, new_page, finance_user)
    visit.page.goto(f"{live_server.url}/chargeback/?month=2026-10")
    chart = visit.page.locator("#chargeback-chart")
    chart.locator(".main-svg").first.wait_for()
    # One stacked bar trace per cost center, Unassigned included.
    traces = visit.page.evaluate("() => document.getElementById('chargeback-chart').data.map(t => t.name)")
    assert sorted(traces) == ["FIN — Finance", "OPS — Operations", "RND — Research", "Unassigned"]
    assert (
        visit.page.evaluate("() => document.getElementById('chargeback-chart').layout.barmode") == "relative"
    )
    assert chart.locator("g.trace.bars").count() == 4

    # Sorting by a column reorders the rows (cost descending is the default order).
    rows = visit.page.locator("#chargeback-rows tbody tr")
    before = [rows.nth(i).get_attribute("data-group") for i in range(rows.count())]
    visit.page.locator("#chargeback-rows thead th", has_text="Cost (USD)").click()
    after = [rows.nth(i).get_attribute("data-group") for i in range(rows.count())]
    assert after == list(reversed(before))
    visit.screenshot("chargeback-month")
    assert visit.console_errors == []

    # Drill into a cost center by clicking its cost.
    visit.page.locator('#chargeback-rows tr[data-group="RND"] td[data-measure="cost"] a').click()
    visit.page.wait_for_url("**cost_center=RND")
    groups = visit.page.locator("#chargeback-rows tbody tr").evaluate_all(
        "rs => rs.map(r => r.dataset.group)"
    )
    assert sorted(groups) == ["sub-alpha", "sub-charlie"]
    assert visit.console_errors == []


def test_a_closed_month_charts_late_usage_as_an_adjustment(live_server, new_page, finance_user):
    import random
    from datetime import timedelta
    from decimal import Decimal

    from tests.support.chargeback_data import BEGIN, MONTH, request_row, requests_store
    from usage.chargeback.services import chargeback_month_close

    world_build(count=60)
    chargeback_month_close(month=MONTH, user=finance_user, warnings_confirmed=True)
    late = request_row(random.Random(1), BEGIN + timedelta(days=2, hours=3), 990_001, response_code=200)
    late.update(is_priced=True, cost=Decimal("25.00000000"))
    requests_store([late])
    visit = _signed_in(live_server, new_page, finance_user)
    visit.page.goto(f"{live_server.url}/chargeback/?month=2026-10")
    visit.page.locator("#chargeback-chart .main-svg").first.wait_for()
    traces = visit.page.evaluate(
        "() => document.getElementById('chargeback-chart').data.map(t => [t.name, t.y])"
    )
    adjustment = dict((name, values) for name, values in traces)["Adjustments after close"]
    assert adjustment[2] == 25.0 and sum(adjustment) == 25.0
    assert visit.page.locator("#chargeback-adjustments tbody tr").count() == 1
    visit.screenshot("chargeback-closed-month")
    assert visit.console_errors == []


def test_closing_a_month_with_warnings_needs_an_explicit_confirm(live_server, new_page, finance_user):
    from tests.support.chargeback_data import MONTH
    from usage.models import MonthClose, UnmatchedRow

    world_build(count=30)
    UnmatchedRow.objects.create(
        table="ApiManagementGatewayLogs", row_key="late-1", partner_key="p-1", time=MONTH_END_MINUS_HOUR
    )
    visit = _signed_in(live_server, new_page, finance_user)
    visit.page.goto(f"{live_server.url}/chargeback/?month=2026-10")
    visit.page.get_by_role("link", name="Close month…").click()
    warnings = visit.page.get_by_test_id("close-warnings")
    warnings.wait_for()
    codes = warnings.locator("li").evaluate_all("ls => ls.map(l => l.dataset.warning)")
    assert "unmatched" in codes
    assert "still waiting for their join partner" in warnings.inner_text()
    # The browser will not submit until the box is ticked (required), and nothing is closed.
    visit.page.get_by_role("button", name="Close October 2026").click()
    assert visit.page.locator("input[name=confirm]:invalid").count() == 1
    assert not MonthClose.objects.exists()
    visit.screenshot("chargeback-close-warnings")
    visit.page.get_by_label("I have read the warnings").check()
    visit.page.get_by_role("button", name="Close October 2026").click()
    visit.page.wait_for_url("**/chargeback/?month=2026-10")
    assert "is closed; its figures are frozen" in visit.page.content()
    assert MonthClose.objects.filter(month=MONTH).count() == 1
    assert visit.console_errors == []
