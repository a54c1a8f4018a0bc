"""The request explorer in real Chromium: from the navigation, filter, page on, open a request."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from audit.models import AccessAuditEntry
from tests.browser.test_review_browser import signed_in
from tests.factories import gateway_request_create
from tests.support.review_data import T0

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_finds_a_request_and_opens_it(live_server, new_page, reviewer_user):
    for n in range(60):
        gateway_request_create(
            correlation_id=f"x-{n:02d}",
            time=T0 + timedelta(minutes=n),
            apim_subscription_id="sub-team-a" if n % 2 else "sub-team-b",
            response_code=500 if n % 10 == 3 else 200,
            deployment="gpt-4o",
            model="gpt-4o",
        )
    visit = new_page()
    signed_in(visit, live_server, reviewer_user)
    page = visit.page

    page.goto(f"{live_server.url}/review/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    page.wait_for_url("**/requests/")
    rows = page.locator("#explorer-table tbody tr")
    expect(rows).to_have_count(50)
    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("x-09")

    page.goto(f"{live_server.url}/requests/")
    page.get_by_label("APIM subscription").fill("sub-team-a")
    page.get_by_label("Status").select_option("5xx")
    page.get_by_role("button", name="Find").click()
    expect(rows).to_have_count(6)  # 3, 13, ..., 53
    expect(rows.first).to_contain_text("x-53")
    visit.screenshot("request-explorer")

    assert visit.console_errors == []
    page.get_by_label("From (UTC)").fill("9999-01-01T00:00")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#explorer-error")).to_contain_text("years 2000 to 2999")
    assert visit.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    visit.console_errors.clear()

    page.goto(f"{live_server.url}/requests/?status=5xx&subscription=sub-team-a")
    page.get_by_role("link", name="x-53").click()
    page.wait_for_url("**/requests/x-53/")
    expect(page.locator("h1")).to_have_text("Request x-53")
    assert AccessAuditEntry.objects.filter(action="view_prompt", correlation_id="x-53").count() == 1
    assert visit.console_errors == []
