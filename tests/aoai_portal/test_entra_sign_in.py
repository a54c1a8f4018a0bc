"""Entra ID sign-in against a real local OpenID Connect provider (oauth2-mock-server, Entra paths)."""

import time

from django.contrib.auth.models import User

from aoai_portal.auth.models import EntraIdentity, RoleMapping
from aoai_portal.roles import user_roles
from tests.support.oidc_provider import TENANT_ID, authorize, query_of, sign_in

GROUP_FINANCE = "0a3e1c52-41c7-4f6e-9d0e-3c1d7b8e9f01"
OTHER_TENANT = "3c5d7e9f-1111-2222-3333-444455556666"


def _user_signed_in(client) -> User | None:
    response = client.get("/accounts/login/")
    user = response.wsgi_request.user
    return user if user.is_authenticated else None


def _assert_refused(response, client, text: bytes = b"could not be verified"):
    assert response.status_code == 403
    assert b"Sign-in failed" in response.content
    assert text in response.content
    assert _user_signed_in(client) is None


def test_it_signs_in_with_an_app_role_through_the_real_redirect_flow(client, entra):
    entra.profile(claims={"roles": ["Finance"], "email": "alice@contoso.example"})
    response = sign_in(client, entra, next_url="/chargeback/")
    assert response.status_code == 302
    assert response["Location"] == "/chargeback/"
    user = _user_signed_in(client)
    assert user.username == "alice@contoso.example"
    assert user.first_name == "Alice Example"
    assert user_roles(user) == {"finance"}
    assert not user.has_usable_password()
    identity = EntraIdentity.objects.get(user=user)
    assert (identity.tenant_id, identity.object_id) == (TENANT_ID, "00000000-0000-0000-0000-0000000000a1")
    assert client.get("/chargeback/").status_code == 200


def test_it_uses_state_nonce_and_pkce_s256(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    callback = authorize(client, entra)
    assert client.get(callback).status_code == 302
    seen = entra.requests_seen()
    authorize_query = next(r["query"] for r in seen if r["kind"] == "authorize")
    token_body = next(r["body"] for r in seen if r["kind"] == "token")
    assert authorize_query["state"] == query_of(callback)["state"]
    assert len(authorize_query["nonce"]) >= 32
    assert authorize_query["code_challenge_method"] == "S256"
    assert authorize_query["scope"] == "openid profile email"
    # The provider checked the verifier against the challenge before issuing tokens.
    assert len(token_body["code_verifier"]) >= 43
    assert token_body["client_secret"] == "***"


def test_it_maps_a_group_object_id_from_the_admin_mapping(client, entra):
    RoleMapping.objects.create(claim_type="group", value=GROUP_FINANCE.upper(), portal_role="reviewer")
    entra.profile(claims={"roles": [], "groups": [GROUP_FINANCE, "ffffffff-0000-0000-0000-000000000000"]})
    assert sign_in(client, entra).status_code == 302
    assert user_roles(_user_signed_in(client)) == {"reviewer"}


def test_it_maps_a_group_from_the_settings_defaults(client, entra, settings):
    settings.ENTRA_GROUP_MAP = [(GROUP_FINANCE, "finance")]
    entra.profile(claims={"groups": [GROUP_FINANCE]})
    assert sign_in(client, entra).status_code == 302
    assert user_roles(_user_signed_in(client)) == {"finance"}


def test_it_removes_a_role_taken_away_in_entra_at_the_next_sign_in(client, entra):
    entra.profile(claims={"roles": ["Finance", "Reviewer"]})
    sign_in(client, entra)
    user = _user_signed_in(client)
    assert user_roles(user) == {"finance", "reviewer"}
    unrelated = user.groups.create(name="newsletter")
    client.post("/accounts/logout/")

    entra.profile(claims={"roles": ["Reviewer"]})
    sign_in(client, entra)
    user = User.objects.get(pk=user.pk)
    assert user_roles(user) == {"reviewer"}
    assert client.get("/chargeback/").status_code == 403
    # Only portal roles are synced; other Django groups stay.
    assert unrelated in user.groups.all()
    assert User.objects.count() == 1


def test_it_keys_users_on_oid_not_on_the_changeable_username(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    sign_in(client, entra)
    first = _user_signed_in(client)
    client.post("/accounts/logout/")
    # Renamed in Entra: same account.
    entra.profile(claims={"roles": ["Finance"], "preferred_username": "alice.new@contoso.example"})
    sign_in(client, entra)
    assert _user_signed_in(client).pk == first.pk
    client.post("/accounts/logout/")
    # Someone else later holds the old name: a different account, never merged.
    entra.profile(
        claims={"roles": ["Reviewer"], "oid": "00000000-0000-0000-0000-0000000000b2"},
    )
    sign_in(client, entra)
    second = _user_signed_in(client)
    assert second.pk != first.pk
    assert second.username != first.username
    assert user_roles(User.objects.get(pk=first.pk)) == {"finance"}


def test_it_never_takes_over_a_local_account_with_the_same_username(client, entra, admin_user):
    entra.profile(claims={"roles": [], "preferred_username": admin_user.username})
    sign_in(client, entra)
    user = _user_signed_in(client)
    assert user.pk != admin_user.pk
    assert user_roles(user) == frozenset()


def test_it_shows_the_no_access_page_when_no_role_is_mapped(client, entra):
    entra.profile(claims={"roles": ["Something.Else"], "groups": [GROUP_FINANCE]})
    response = sign_in(client, entra)
    assert response.status_code == 302
    page = client.get(response["Location"], follow=True)
    assert page.status_code == 403
    assert b"no AOAI Portal role" in page.content
    assert _user_signed_in(client) is not None


def test_it_refuses_a_tampered_signature(client, entra):
    entra.profile(claims={"roles": ["Admin"]}, tamper=True)
    _assert_refused(sign_in(client, entra), client)
    assert not User.objects.exists()


def test_it_refuses_a_token_for_another_audience(client, entra):
    entra.profile(claims={"roles": ["Admin"], "aud": "11111111-2222-3333-4444-555555555555"})
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_a_token_from_another_tenant(client, entra):
    # A genuine-looking token of another tenant: its own iss and tid.
    entra.profile(
        claims={
            "roles": ["Admin"],
            "tid": OTHER_TENANT,
            "iss": f"{entra.base_url}/{OTHER_TENANT}/v2.0",
        }
    )
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_a_token_with_the_right_issuer_but_another_tid(client, entra):
    entra.profile(claims={"roles": ["Admin"], "tid": OTHER_TENANT})
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_a_token_with_a_wrong_issuer(client, entra):
    entra.profile(claims={"roles": ["Admin"], "iss": "https://sts.windows.net/" + TENANT_ID + "/"})
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_an_expired_token(client, entra):
    entra.profile(claims={"roles": ["Admin"]}, expires_in=-600)
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_a_token_without_oid(client, entra):
    entra.profile(claims={"roles": ["Admin"]}, remove=["oid"])
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_a_replayed_state(client, entra):
    entra.profile(claims={"roles": ["Admin"]})
    callback = authorize(client, entra)
    assert client.get(callback).status_code == 302
    # Same browser session: the state was used up.
    replay = client.get(callback)
    assert replay.status_code == 403 and b"already used" in replay.content
    # After signing out: the session holds no states at all.
    client.post("/accounts/logout/")
    _assert_refused(client.get(callback), client, b"already used")


def test_it_refuses_a_callback_whose_state_this_browser_never_started(client, entra, django_user_model):
    entra.profile(claims={"roles": ["Admin"]})
    callback = authorize(client, entra)
    from django.test import Client

    other_browser = Client()
    other_browser.get("/oidc/authenticate/")  # has a session with its own states
    response = other_browser.get(callback)
    _assert_refused(response, other_browser, b"already used")


def test_it_refuses_a_replayed_nonce(client, entra):
    entra.profile(claims={"roles": ["Admin"]})
    first_callback = authorize(client, entra)
    old_nonce = next(r["query"]["nonce"] for r in entra.requests_seen() if r["kind"] == "authorize")
    client.get(first_callback)
    client.post("/accounts/logout/")
    # The provider (or an attacker) answers a new sign-in with the ID token of the old one.
    entra.profile(claims={"roles": ["Admin"], "nonce": old_nonce})
    _assert_refused(sign_in(client, entra), client)


def test_it_refuses_groups_overage_clearly_when_groups_are_mapped(client, entra):
    RoleMapping.objects.create(claim_type="group", value=GROUP_FINANCE, portal_role="finance")
    entra.profile(
        claims={
            "roles": ["Finance"],
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {
                "src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}
            },
        },
        remove=["groups"],
    )
    _assert_refused(sign_in(client, entra), client, b"too many groups")


def test_it_signs_in_despite_groups_overage_when_only_app_roles_are_mapped(client, entra):
    entra.profile(claims={"roles": ["Finance"], "_claim_names": {"groups": "src1"}}, remove=["groups"])
    assert sign_in(client, entra).status_code == 302
    assert user_roles(_user_signed_in(client)) == {"finance"}


def test_it_shows_a_clear_page_when_entra_returns_an_error(client, entra):
    client.get("/oidc/authenticate/")
    state = next(iter(client.session["oidc_states"]))
    response = client.get(f"/oidc/callback/?error=access_denied&state={state}")
    _assert_refused(response, client, b"access_denied")


def test_it_refuses_a_deactivated_user(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    sign_in(client, entra)
    user = _user_signed_in(client)
    client.post("/accounts/logout/")
    User.objects.filter(pk=user.pk).update(is_active=False)
    _assert_refused(sign_in(client, entra), client, b"deactivated")


def test_sign_out_clears_the_session_and_offers_entra_sign_out(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    sign_in(client, entra)
    response = client.post("/accounts/logout/")
    assert response.status_code == 200
    assert _user_signed_in(client) is None
    link = f"{entra.base_url}/{TENANT_ID}/oauth2/v2.0/logout?".encode()
    assert link in response.content
    assert b"post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Flogin%2F" in response.content
    assert client.get("/chargeback/").status_code == 302


def test_the_oidc_logout_url_goes_to_entra_end_session(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    sign_in(client, entra)
    response = client.post("/oidc/logout/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{entra.base_url}/{TENANT_ID}/oauth2/v2.0/logout?")
    assert _user_signed_in(client) is None


def test_the_sign_in_page_says_when_entra_is_not_configured(client, db, settings):
    settings.ENTRA_TENANT_ID = ""
    page = client.get("/accounts/login/")
    assert b"not configured" in page.content
    assert client.get("/oidc/authenticate/").status_code == 503


def test_the_provider_issues_entra_shaped_tokens(entra):
    # Guards the fixture itself: the claims the portal relies on are really in the tokens.
    import jwt
    import requests

    entra.profile(claims={"roles": ["Finance"], "groups": [GROUP_FINANCE]})
    base = f"{entra.base_url}/{TENANT_ID}"
    answer = requests.get(
        f"{base}/oauth2/v2.0/authorize",
        params={"response_type": "code", "redirect_uri": "http://x/cb", "state": "s", "nonce": "n"},
        allow_redirects=False,
        timeout=5,
    )
    code = query_of(answer.headers["Location"])["code"]
    tokens = requests.post(
        f"{base}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "c",
            "redirect_uri": "http://x/cb",
        },
        timeout=5,
    ).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["iss"] == f"{base}/v2.0"
    assert claims["tid"] == TENANT_ID and claims["oid"] and claims["preferred_username"]
    assert claims["roles"] == ["Finance"] and claims["groups"] == [GROUP_FINANCE]
    assert claims["nonce"] == "n" and claims["aud"] == "c"
    assert claims["exp"] > time.time()
    discovery = requests.get(f"{base}/v2.0/.well-known/openid-configuration", timeout=5).json()
    assert discovery["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert discovery["issuer"] == claims["iss"]


def test_it_ignores_a_next_url_on_another_site(client, entra):
    entra.profile(claims={"roles": ["Finance"]})
    response = sign_in(client, entra, next_url="https://evil.example/steal")
    assert response.status_code == 302
    assert response["Location"] == "/"
