"""The quota page and GET /api/v1/quotas: who may see them and what they show."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from quotas.models import QuotaTier
from quotas.services import tier_assign
from tests.factories import priced_request_create, rollups_refresh, tier_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage_this_month(db):
    now = timezone.now()
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    tier = tier_add("Team", tpm=100, quota=1_000)
    tier_assign(kind="product", key="prod-a", tier=tier, valid_from=start - timedelta(days=40))
    at = max(start, now - timedelta(minutes=5))
    priced_request_create(sub="sub-calm", at=at, tokens=10)
    priced_request_create(sub="sub-hot", at=at, tokens=1_200)  # over quota, and over TPM: drift
    rollups_refresh()
    return now


def test_finance_sees_subscriptions_riskiest_first_with_status_in_words(
    client_for, finance_user, usage_this_month
):
    response = client_for(finance_user).get("/quotas/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index('data-subscription="sub-hot"') < html.index('data-subscription="sub-calm"')
    assert '<span class="badge bad">Over (100%+)</span>' in html
    assert '<span class="badge ok">OK</span>' in html
    assert 'data-kind="tpm"' in html and 'data-kind="quota"' in html


def test_an_admin_sees_the_page_too(client_for, admin_user, usage_this_month):
    assert client_for(admin_user).get("/quotas/").status_code == 200


def test_the_page_has_an_empty_state_and_explains_a_bad_month(client_for, finance_user):
    client = client_for(finance_user)
    html = client.get("/quotas/").content.decode()
    assert "No subscription used the gateway" in html
    assert "No drift" in html
    bad = client.get("/quotas/?month=2026-13")
    assert bad.status_code == 400
    assert "is not a month" in bad.content.decode()


@pytest.mark.parametrize("who", ["reviewer_user", "norole_user"])
def test_people_without_finance_or_admin_are_refused(client_for, request, who):
    client = client_for(request.getfixturevalue(who))
    assert client.get("/quotas/").status_code == 403
    assert client.get("/api/v1/quotas").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    assert client.get("/quotas/").status_code == 302
    assert client.get("/api/v1/quotas").status_code == 401


def test_the_api_returns_rows_per_subscription_for_a_month(client_for, finance_user, usage_this_month):
    month = f"{usage_this_month:%Y-%m}"
    response = client_for(finance_user).get(f"/api/v1/quotas?month={month}")
    assert response.status_code == 200
    body = response.json()
    assert body["month"] == month
    assert [r["apim_subscription_id"] for r in body["rows"]] == ["sub-hot", "sub-calm"]
    hot = body["rows"][0]
    assert (hot["status"], hot["tier"], hot["tier_source"], hot["tokens"], hot["token_quota"]) == (
        "over",
        "Team",
        "product",
        1_200,
        1_000,
    )
    assert hot["quota_percent"] == 120.0
    assert hot["peak_tpm"] == 1_200 and hot["tier_tpm"] == 100
    assert {d["kind"] for d in hot["drift"]} == {"tpm", "quota"}
    assert body["rows"][1]["status"] == "ok"


def test_the_api_rejects_a_malformed_month_with_a_clear_message(client_for, finance_user):
    response = client_for(finance_user).get("/api/v1/quotas?month=november")
    assert response.status_code == 400
    assert "YYYY-MM" in response.json()["detail"]


def test_finance_is_sent_to_a_policy_download_it_can_open_not_to_the_admin_site(
    client_for, finance_user, usage_this_month
):
    client = client_for(finance_user)
    html = client.get("/quotas/").content.decode()
    assert "/admin/" not in html
    assert "from the admin site" not in html
    tier = QuotaTier.objects.get(name="Team")
    link = f"/quotas/tiers/{tier.pk}/policy.xml"
    assert f'href="{link}"' in html

    download = client.get(link)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/xml"
    assert "<policies>" in download.content.decode()
    assert client.get(f"{link}?flavor=nonsense").status_code == 400
    assert client.get("/quotas/tiers/999999/policy.xml").status_code == 404


def test_the_empty_page_links_the_admin_site_for_admins_only(client_for, finance_user, admin_user):
    assert "/admin/" not in client_for(finance_user).get("/quotas/").content.decode()
    assert "/admin/quotas/quotatier/" in client_for(admin_user).get("/quotas/").content.decode()
