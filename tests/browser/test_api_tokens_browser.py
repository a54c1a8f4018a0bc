""""My API tokens" in real Chromium: reached from the navigation, a token made (shown once, then
working against the API), listed, and revoked (then refused)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client

from aoai_portal.auth.models import ApiToken
from tests.factories import budget_owner_create
from usage.models import CostCenter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_budget_owner_creates_uses_and_revokes_a_token(live_server, new_page):
    CostCenter.objects.create(code="FIN", name="Finance")
    owner = budget_owner_create("bea", owns=("FIN",))
    client = Client()
    client.force_login(owner)
    visit = new_page()
    page = visit.page
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page.goto(f"{live_server.url}/chargeback/")
    page.get_by_role("link", name="My API tokens").click()
    page.wait_for_url("**/tokens/")
    assert "You have no API tokens yet." in page.inner_text("main")

    page.get_by_label("Name").fill("Power BI")
    expires = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    page.get_by_label("Expires").fill(expires)
    page.get_by_role("button", name="Create token").click()
    raw = page.locator("#api-token").inner_text().strip()
    assert raw.startswith("aoai_")
    row = page.locator("table.tokens tbody tr")
    assert row.count() == 1
    assert "Power BI" in row.inner_text() and expires in row.inner_text() and "Active" in row.inner_text()
    visit.screenshot("api-tokens-created")

    # The token works, as bea with her role, and is shown only that once.
    api = Client()
    me = api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert me.json() == {"username": "bea", "roles": ["budget_owner"]}
    page.goto(f"{live_server.url}/tokens/")
    assert raw not in page.content()

    page.get_by_role("button", name="Revoke Power BI").click()
    page.wait_for_url("**/tokens/")
    assert "is revoked" in page.inner_text("main")
    assert "Revoked" in page.locator("table.tokens tbody tr").inner_text()
    assert page.get_by_role("button", name="Revoke Power BI").count() == 0
    assert ApiToken.objects.get().revoked
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    visit.screenshot("api-tokens-revoked")
    assert visit.console_errors == []
