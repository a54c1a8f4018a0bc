"""Personal API tokens: hashed at rest, shown once, expiry, revocation, the user's roles."""

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aoai_portal.auth.models import ApiToken
from aoai_portal.auth.services import api_token_create
from aoai_portal.roles import user_roles


def _bearer(client, path: str, token: str):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_it_authenticates_api_calls_with_a_valid_token(client, finance_user):
    token, raw = api_token_create(user=finance_user, name="Power BI")
    response = _bearer(client, "/api/v1/me", raw)
    assert response.status_code == 200
    assert response.json() == {"username": "fiona", "roles": ["finance"]}
    token.refresh_from_db()
    assert token.last_used is not None
    # No session was opened by the token.
    assert client.get("/chargeback/").status_code == 302


def test_it_stores_only_the_hash_of_the_token(finance_user):
    token, raw = api_token_create(user=finance_user, name="script")
    assert raw.startswith(f"aoai_{token.prefix}_")
    assert len(raw) > 40
    assert token.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert raw not in str(stored)


def test_it_refuses_an_expired_token_with_401(client, finance_user):
    token, raw = api_token_create(user=finance_user, name="old")
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert _bearer(client, "/api/v1/me", raw).status_code == 401


def test_it_refuses_a_revoked_token_with_401(client, finance_user):
    token, raw = api_token_create(user=finance_user, name="leaked")
    assert _bearer(client, "/api/v1/me", raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    assert _bearer(client, "/api/v1/me", raw).status_code == 401


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),  # right prefix, wrong secret
        lambda raw: "aoai_ffffffff_" + raw.split("_", 2)[2],  # unknown prefix
        lambda raw: "not-a-token",
        lambda raw: "",
    ],
)
def test_it_refuses_a_forged_token_with_401(client, finance_user, mangle):
    _, raw = api_token_create(user=finance_user, name="x")
    assert _bearer(client, "/api/v1/me", mangle(raw)).status_code == 401


def test_it_refuses_the_token_of_a_deactivated_user(client, finance_user):
    _, raw = api_token_create(user=finance_user, name="x")
    finance_user.is_active = False
    finance_user.save()
    assert _bearer(client, "/api/v1/me", raw).status_code == 401


def test_a_token_carries_its_users_role_so_a_wrong_role_gets_403(client, finance_user, admin_user):
    _, finance_raw = api_token_create(user=finance_user, name="x")
    _, admin_raw = api_token_create(user=admin_user, name="y")
    assert _bearer(client, "/api/v1/access-audit", finance_raw).status_code == 403
    assert _bearer(client, "/api/v1/access-audit", admin_raw).status_code == 200


def test_an_api_call_without_credentials_gets_401(client, db):
    assert client.get("/api/v1/me").status_code == 401


def test_the_command_prints_the_token_once_and_ensures_the_role(client, norole_user):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_token",
        "nora",
        "--role",
        "reviewer",
        "--days",
        "7",
        "--name",
        "Power BI",
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip()
    assert re.fullmatch(r"aoai_[0-9a-f]{8}_[A-Za-z0-9_-]{40,}", raw)
    token = ApiToken.objects.get(user=norole_user)
    assert token.name == "Power BI"
    assert timedelta(days=6, hours=23) < token.expires - timezone.now() <= timedelta(days=7)
    assert user_roles(type(norole_user).objects.get(pk=norole_user.pk)) == {"reviewer"}
    assert _bearer(client, "/api/v1/me", raw).json()["roles"] == ["reviewer"]


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "ghost", stdout=StringIO(), stderr=StringIO())


def test_the_admin_creates_a_token_and_shows_it_only_once(client_for, admin_user, finance_user):
    client = client_for(admin_user)
    response = client.post(
        "/admin/portal_auth/apitoken/add/",
        {"user": finance_user.pk, "name": "Power BI", "days": "30"},
    )
    assert response.status_code == 200
    raw = re.search(rb"aoai_[0-9a-f]{8}_[A-Za-z0-9_-]+", response.content).group().decode()
    token = ApiToken.objects.get()
    assert token.user == finance_user and token.name == "Power BI"
    assert token.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert "no-store" in response["Cache-Control"]
    assert timedelta(days=29) < token.expires - timezone.now() <= timedelta(days=30)
    change_page = client.get(f"/admin/portal_auth/apitoken/{token.pk}/change/")
    assert change_page.status_code == 200
    assert raw.encode() not in change_page.content
    assert raw.encode() not in client.get("/admin/portal_auth/apitoken/").content


def test_the_admin_revokes_tokens(client_for, admin_user, finance_user, client):
    token, raw = api_token_create(user=finance_user, name="x")
    admin_client = client_for(admin_user)
    admin_client.post(
        "/admin/portal_auth/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked
