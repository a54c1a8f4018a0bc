"""Microsoft Entra ID (v2.0 endpoints, single tenant), derived from the authority and tenant.

Only ENTRA_AUTHORITY differs between the public cloud, sovereign clouds and the tests' local
provider; every endpoint below follows Entra's path layout under ``{authority}/{tenant}``.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse


@dataclass(frozen=True)
class EntraConfig:
    authority: str
    tenant_id: str
    client_id: str
    client_secret: str

    @property
    def configured(self) -> bool:
        return bool(self.tenant_id and self.client_id and self.client_secret)

    @property
    def base(self) -> str:
        return f"{self.authority}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        """The ``iss`` of a v2.0 ID token; the tenant must be the tenant id (GUID), not a domain."""
        return f"{self.base}/v2.0"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.base}/oauth2/v2.0/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base}/oauth2/v2.0/token"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.base}/oauth2/v2.0/logout"

    @property
    def jwks_uri(self) -> str:
        return f"{self.base}/discovery/v2.0/keys"


def entra_config() -> EntraConfig:
    """The Entra settings as they are now (tests override them per test)."""
    return EntraConfig(
        authority=settings.ENTRA_AUTHORITY.rstrip("/"),
        tenant_id=settings.ENTRA_TENANT_ID,
        client_id=settings.ENTRA_CLIENT_ID,
        client_secret=settings.ENTRA_CLIENT_SECRET,
    )


def entra_logout_url(request: HttpRequest) -> str:
    """Entra's end-session URL, coming back to the portal's sign-in page afterwards.

    Also used as mozilla-django-oidc's OIDC_OP_LOGOUT_URL_METHOD (``/oidc/logout/``).
    """
    config = entra_config()
    if not config.configured:
        return reverse("login")
    query = urlencode(
        {
            "client_id": config.client_id,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
        }
    )
    return f"{config.end_session_endpoint}?{query}"


def oidc_setting(name: str) -> object | None:
    """Values mozilla-django-oidc reads that are derived from the ENTRA_* settings (None = not one)."""
    config = entra_config()
    derived = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": config.authorization_endpoint,
        "OIDC_OP_TOKEN_ENDPOINT": config.token_endpoint,
        "OIDC_OP_JWKS_ENDPOINT": config.jwks_uri,
        "OIDC_RP_CLIENT_ID": config.client_id,
        "OIDC_RP_CLIENT_SECRET": config.client_secret,
    }
    return derived.get(name)
