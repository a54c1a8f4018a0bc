""""My API tokens": each user with a role makes, lists and revokes their own tokens; a token acts
with its user's roles and cost centers at the time of each call."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from aoai_portal.auth.models import ApiToken
from aoai_portal.auth.services import api_token_create
from aoai_portal.roles import BUDGET_OWNER, FINANCE
from tests.factories import budget_owner_create
from tests.support.true_up_data import march_build
from usage.models import CostCenter, CostCenterOwner

pytestmark = pytest.mark.django_db
URL = "/tokens/"


def _in(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def _create(client, *, name: str = "Power BI", days: int = 30):
    return client.post(URL, {"name": name, "expires": _in(days)})


def _raw(response) -> str:
    match = re.search(r'id="api-token"[^>]*>(aoai_[^<]+)<', response.content.decode())
    assert match, "the new token is shown"
    return match.group(1)


def test_it_creates_a_token_shows_it_once_and_lists_it(client_for, reviewer_user):
    client = client_for(reviewer_user)
    response = _create(client, name="notebook", days=30)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = _raw(response)
    token = ApiToken.objects.get(user=reviewer_user)
    assert token.name == "notebook" and raw.startswith(f"aoai_{token.prefix}_")
    assert token.expires.date() == datetime.now(UTC).date() + timedelta(days=30)
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert me == {"username": "ravi", "roles": ["reviewer"]}
    listing = client.get(URL).content.decode()
    assert "notebook" in listing and f"aoai_{token.prefix}_" in listing
    assert raw not in listing, "the secret is never shown again"
    token.refresh_from_db()
    assert token.last_used is not None


@pytest.mark.parametrize(
    ("expires", "message"),
    [("", "required"), (_in(0), "after today"), (_in(-3), "after today"), (_in(366), "at most 365 days")],
)
def test_it_refuses_a_token_without_a_proper_expiry(client_for, finance_user, expires, message):
    response = client_for(finance_user).post(URL, {"name": "x", "expires": expires})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_year_is_the_longest_allowed(client_for, finance_user):
    response = _create(client_for(finance_user), days=365)
    assert response.status_code == 200
    assert ApiToken.objects.get().expires.date() == datetime.now(UTC).date() + timedelta(days=365)


def test_it_revokes_only_the_user_s_own_tokens(client_for, finance_user, reviewer_user):
    mine, raw = api_token_create(user=finance_user, name="mine")
    theirs, their_raw = api_token_create(user=reviewer_user, name="theirs")
    client = client_for(finance_user)
    listing = client.get(URL).content.decode()
    assert "mine" in listing and "theirs" not in listing
    assert client.post(f"/tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert not theirs.revoked
    response = client.post(f"/tokens/{mine.pk}/revoke/")
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.revoked
    assert "Revoked" in client.get(URL).content.decode()
    api = Client()  # no session to fall back on
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {their_raw}").status_code == 200


def test_users_without_a_role_have_no_token_page(client_for, norole_user):
    client = client_for(norole_user)
    assert client.get(URL).status_code == 403
    assert _create(client).status_code == 403
    assert not ApiToken.objects.exists()


def test_a_token_loses_the_role_its_user_lost(client_for, finance_user):
    _, raw = api_token_create(user=finance_user, name="script")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    client = client_for(finance_user)
    client.logout()
    assert client.get("/api/v1/chargeback?month=2026-03", **auth).status_code == 200
    finance_user.groups.remove(Group.objects.get(name=FINANCE))
    finance_user.groups.add(Group.objects.get_or_create(name=BUDGET_OWNER)[0])
    data = client.get("/api/v1/chargeback?month=2026-03", **auth)
    assert data.status_code == 200  # now as a budget owner of nothing
    assert data.json()["rows"] == []
    finance_user.groups.clear()
    assert client.get("/api/v1/chargeback?month=2026-03", **auth).status_code == 403


def test_a_budget_owner_token_follows_her_cost_centers_at_the_time_of_use(client):
    march_build(invoice=False)
    owner = budget_owner_create("bea", owns=("FIN",))
    _, raw = api_token_create(user=owner, name="Power BI")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    url = "/api/v1/chargeback?month=2026-03&group_by=subscription"
    assert [row["group"] for row in client.get(url, **auth).json()["rows"]] == ["sub-b"]
    CostCenterOwner.objects.create(cost_center=CostCenter.objects.get(code="RND"), kind="user", value="bea")
    assert sorted(row["group"] for row in client.get(url, **auth).json()["rows"]) == ["sub-a", "sub-b"]
    CostCenterOwner.objects.filter(value="bea").delete()
    assert client.get(url, **auth).json()["rows"] == []


def test_the_create_api_token_command_still_makes_tokens(finance_user):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_token", "fiona", "--days", "400", "--role", BUDGET_OWNER, stdout=out, stderr=StringIO())
    token = ApiToken.objects.get(user=finance_user)
    assert out.getvalue().strip().startswith(f"aoai_{token.prefix}_")
    assert finance_user.groups.filter(name=BUDGET_OWNER).exists()
