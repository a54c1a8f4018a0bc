"""The quota page in real Chromium: status in words and colour, drift listed, no console errors."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from quotas.services import tier_assign
from tests.factories import priced_request_create, rollups_refresh, tier_add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_sees_the_quota_table_with_readable_status(live_server, new_page, finance_user):
    now = timezone.now()
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    tier_assign(
        kind="product",
        key="prod-a",
        tier=tier_add("Team", tpm=100, quota=1_000),
        valid_from=start - timedelta(days=1),
    )
    at = max(start, now - timedelta(minutes=5))
    priced_request_create(sub="sub-hot", at=at, tokens=1_200)
    priced_request_create(sub="sub-warm", at=at, tokens=85)
    priced_request_create(sub="sub-warm", at=at, tokens=800)
    priced_request_create(sub="sub-calm", at=at, tokens=10)
    rollups_refresh()

    client = Client()
    client.force_login(finance_user)
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
    visit.page.goto(f"{live_server.url}/quotas/")

    rows = visit.page.locator("table.quotas tbody tr")
    assert rows.count() == 3
    first_cells = [rows.nth(i).locator("th").inner_text() for i in range(3)]
    assert first_cells == ["sub-hot", "sub-warm", "sub-calm"]
    badge = rows.nth(0).locator(".badge").first
    assert badge.inner_text() == "Over (100%+)"
    assert badge.evaluate("el => getComputedStyle(el).color") != rows.nth(2).locator(".badge").first.evaluate(
        "el => getComputedStyle(el).color"
    )
    assert visit.page.locator("table.drift tbody tr").count() >= 2
    visit.screenshot("quotas")
    assert visit.console_errors == []
