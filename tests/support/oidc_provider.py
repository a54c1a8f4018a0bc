"""The real local OpenID Connect provider of the sign-in tests (tests/oidc/entra-mock.mjs).

``entra_provider`` (session fixture) starts it once; ``entra`` (per test) points the portal's
ENTRA_* settings at it and resets its token profile. ``sign_in(client, provider)`` drives the real
redirect flow: /oidc/authenticate/ -> provider authorize -> /oidc/callback/ (Django's test client for
the portal, plain HTTP for the provider).
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

OIDC_DIR = Path(__file__).parents[1] / "oidc"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "6f1b2c3d-aaaa-4bbb-8ccc-0123456789ab"
CLIENT_SECRET = "test-client-secret"


@dataclass
class Provider:
    base_url: str
    tenant: str = TENANT_ID

    @property
    def authority(self) -> str:
        return self.base_url

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant}/v2.0"

    def profile(self, *, claims: dict | None = None, remove: list[str] | None = None, **options) -> None:
        """Shape every following ID token: extra/overridden claims, removed claims, tamper, expires_in."""
        body = {"claims": claims or {}, "remove": remove or [], **options}
        requests.post(f"{self.base_url}/__control/profile", json=body, timeout=5).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.base_url}/__control/reset", timeout=5).raise_for_status()

    def requests_seen(self) -> list[dict]:
        return requests.get(f"{self.base_url}/__control/requests", timeout=5).json()


@pytest.fixture(scope="session")
def entra_provider():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required for the sign-in tests (Debian package nodejs)")
    if not (OIDC_DIR / "node_modules" / "oauth2-mock-server").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, check=True)
    process = subprocess.Popen(
        [node, "entra-mock.mjs", "--tenant", TENANT_ID, "--port", "0"],
        cwd=OIDC_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the local OIDC provider did not start (exit {process.wait(5)})")
        yield Provider(base_url=json.loads(line)["base_url"])
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def entra(entra_provider, settings, db):
    """The portal configured for the local provider, with a fresh token profile."""
    settings.ENTRA_AUTHORITY = entra_provider.authority
    settings.ENTRA_TENANT_ID = entra_provider.tenant
    settings.ENTRA_CLIENT_ID = CLIENT_ID
    settings.ENTRA_CLIENT_SECRET = CLIENT_SECRET
    settings.ENTRA_ROLE_MAP = [
        ("Finance", "finance"),
        ("Reviewer", "reviewer"),
        ("Admin", "admin"),
        ("BudgetOwner", "budget_owner"),
    ]
    settings.ENTRA_GROUP_MAP = []
    entra_provider.reset()
    yield entra_provider
    entra_provider.reset()


def authorize(client, provider: Provider, *, next_url: str = "") -> str:
    """Start the flow and let the provider answer; returns the portal callback path with its query."""
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content
    location = start["Location"]
    assert location.startswith(f"{provider.base_url}/{provider.tenant}/oauth2/v2.0/authorize?")
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == "/oidc/callback/"
    return f"{callback.path}?{callback.query}"


def sign_in(client, provider: Provider, *, next_url: str = ""):
    """The whole redirect flow; returns the portal's answer to the callback (not followed)."""
    return client.get(authorize(client, provider, next_url=next_url))


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
