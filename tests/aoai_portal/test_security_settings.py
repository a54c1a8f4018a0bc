"""Production hardening: check --deploy, secure cookies, HSTS, SSL redirect, CSRF, CSP."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import path
from ninja import NinjaAPI

from aoai_portal import urls as portal_urls
from aoai_portal.api import api
from aoai_portal.auth.services import api_token_create

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def _production_env() -> dict[str, str]:
    return {
        "DJANGO_SECURE": "true",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "portal.example.com,testserver",
        "DATABASE_URL": "sqlite://:memory:",
    }


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_not_clean_without_production_settings():
    # Guards the test above: the same check does complain about the embedded defaults.
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DATABASE_URL="sqlite://:memory:"
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = _run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


PROBE = """
import django
django.setup()
from django.conf import settings
from django.test import Client
client = Client()
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
print("DEBUG", settings.DEBUG)
print("PLAIN", plain.status_code, plain.get("Location", ""))
print("HSTS", secure.get("Strict-Transport-Security", ""))
print("CSRF_COOKIE", secure.cookies["csrftoken"]["secure"], secure.cookies["csrftoken"]["samesite"])
print("SESSION_SECURE", settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY)
print("CSP", secure.get("Content-Security-Policy", ""))
"""


def test_production_settings_send_secure_cookies_hsts_and_redirect_to_https():
    result = _run(["-c", PROBE], DJANGO_SETTINGS_MODULE="aoai_portal.settings", **_production_env())
    assert result.returncode == 0, result.stderr
    out = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert out["DEBUG"] == "False"
    assert out["PLAIN"] == "301 https://testserver/accounts/login/"
    assert out["HSTS"] == "max-age=31536000; includeSubDomains; preload"
    assert out["CSRF_COOKIE"] == "True Lax"
    assert out["SESSION_SECURE"] == "True True"
    assert "script-src 'self'" in out["CSP"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/", "/access-audit/", "/api/docs"])
def test_every_page_sends_a_strict_content_security_policy(client_for, admin_user, path):
    response = client_for(admin_user).get(path)
    assert response.status_code == 200
    policy = dict(
        (part.split()[0], part.split()[1:])
        for part in response["Content-Security-Policy"].split(";")
        if part.strip()
    )
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_api_docs_load_their_assets_locally_not_from_a_cdn(client_for, admin_user):
    page = client_for(admin_user).get("/api/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources), sources


def test_no_template_has_an_inline_script():
    # script-src 'self' blocks inline scripts: data goes in json_script / data- attributes.
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.glob("**/templates/**/*.html")
        if ".venv" not in path.parts and inline.search(path.read_text())
    ]
    assert offenders == []


# A POST endpoint behind the portal API's own auth classes, to probe CSRF on unsafe methods.
probe_api = NinjaAPI(urls_namespace="csrf-probe", auth=api.auth, docs_url=None)


@probe_api.post("/echo")
def _echo(request) -> dict:
    return {"user": request.user.get_username()}


urlpatterns = [path("probe/", probe_api.urls), *portal_urls.urlpatterns]


@pytest.mark.urls(__name__)
def test_session_sign_in_cannot_post_to_the_api_without_a_csrf_token(db, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post("/probe/echo").status_code in (401, 403)
    client.get("/accounts/login/", secure=False)  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    ok = client.post("/probe/echo", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200 and ok.json() == {"user": "ada"}


@pytest.mark.urls(__name__)
def test_an_api_token_posts_without_a_csrf_token(db, finance_user):
    _, raw = api_token_create(user=finance_user, name="script")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/probe/echo", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json() == {"user": "fiona"}


def test_the_local_sign_in_form_is_csrf_protected(db):
    login = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x", "password": "y"})
    assert login.status_code == 403
