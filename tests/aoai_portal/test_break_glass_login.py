"""Local break-glass sign-in: works while Entra ID is down, can be turned off."""

from django.contrib.auth.models import User

BROKEN_AUTHORITY = "http://127.0.0.1:9"  # nothing listens: Entra is "down"


def _superuser() -> User:
    return User.objects.create_superuser("breakglass", "bg@example.com", "a-long-break-glass-password")


def test_it_signs_in_a_local_superuser_while_entra_is_down(client, db, settings):
    settings.ENTRA_AUTHORITY = BROKEN_AUTHORITY
    settings.ENTRA_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    settings.ENTRA_CLIENT_ID = "client"
    settings.ENTRA_CLIENT_SECRET = "secret"
    _superuser()
    response = client.post(
        "/accounts/login/",
        {"username": "breakglass", "password": "a-long-break-glass-password", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/access-audit/").status_code == 200


def test_it_rejects_a_wrong_local_password(client, db):
    _superuser()
    response = client.post("/accounts/login/", {"username": "breakglass", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert client.get("/admin/").status_code == 302


def test_it_turns_local_sign_in_off_with_portal_local_login_false(client, db, settings):
    _superuser()
    settings.PORTAL_LOCAL_LOGIN = False
    page = client.get("/accounts/login/")
    assert b"Local account" not in page.content
    response = client.post(
        "/accounts/login/", {"username": "breakglass", "password": "a-long-break-glass-password"}
    )
    assert response.status_code == 403
    assert b"Local sign-in is turned off" in response.content
    assert client.get("/admin/").status_code == 302


def test_turning_local_sign_in_off_ends_open_local_sessions(client, db, settings):
    _superuser()
    client.post("/accounts/login/", {"username": "breakglass", "password": "a-long-break-glass-password"})
    assert client.get("/admin/").status_code == 200
    settings.PORTAL_LOCAL_LOGIN = False
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_page_sends_to_the_portal_sign_in(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/admin/")


def test_a_local_sign_out_does_not_offer_entra_sign_out(client, db, settings):
    settings.ENTRA_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    settings.ENTRA_CLIENT_ID = "client"
    settings.ENTRA_CLIENT_SECRET = "secret"
    _superuser()
    client.post("/accounts/login/", {"username": "breakglass", "password": "a-long-break-glass-password"})
    response = client.post("/accounts/logout/")
    assert response.status_code == 200
    assert b"Signed out" in response.content
    assert b"oauth2/v2.0/logout" not in response.content


def test_sign_out_needs_a_post_with_a_csrf_token(db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    _superuser()
    client.force_login(User.objects.get(username="breakglass"))
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get("/admin/").status_code == 200


def test_the_local_form_never_runs_the_oidc_flow_from_its_query_string(client, db, settings):
    settings.ENTRA_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    settings.ENTRA_CLIENT_ID = "client"
    settings.ENTRA_CLIENT_SECRET = "secret"
    settings.ENTRA_AUTHORITY = BROKEN_AUTHORITY
    _superuser()
    response = client.post(
        "/accounts/login/?code=stolen&state=forged",
        {"username": "breakglass", "password": "a-long-break-glass-password"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
