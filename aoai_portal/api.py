"""The JSON API (django-ninja). OpenAPI docs at /api/docs.

Each app contributes a router; authentication is session or a personal API token
(``Authorization: Bearer ...``), and every endpoint checks the caller's role.
"""

from django.contrib.auth.decorators import login_required
from ninja import NinjaAPI
from ninja.security import django_auth

from .auth.api_auth import ApiTokenAuth

api = NinjaAPI(
    title="AOAI Portal API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    docs_decorator=login_required,
    # A personal API token (scripts, Power BI) or the browser session (CSRF-checked on unsafe
    # methods). The token goes first: ninja stops at the session's CSRF refusal.
    auth=[ApiTokenAuth(), django_auth],
)


def _register_routers() -> None:
    from audit.api import router as audit_router
    from quotas.api import router as quotas_router
    from usage.api import router as usage_router

    from .auth.api import router as auth_router

    api.add_router("/v1/", usage_router)
    api.add_router("/v1/", audit_router)
    api.add_router("/v1/", quotas_router)
    api.add_router("/v1/", auth_router)


_register_routers()
