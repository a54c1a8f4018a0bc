"""The JSON API (django-ninja). OpenAPI docs at /api/docs.

Each app contributes a router; authentication is session or a personal API token
(``Authorization: Bearer ...``), and every endpoint checks the caller's role.
"""

from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.security import django_auth

from .roles import user_has_role

api = NinjaAPI(
    title="AOAI Portal API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    auth=[django_auth],
)


def require_role(request, *roles: str) -> None:
    """Raise 403 unless the authenticated caller holds one of ``roles``."""
    if not user_has_role(request.user, roles):
        raise HttpError(403, "Your role does not allow this endpoint.")


def _register_routers() -> None:
    from audit.api import router as audit_router
    from quotas.api import router as quotas_router
    from usage.api import router as usage_router

    api.add_router("/v1/", usage_router)
    api.add_router("/v1/", audit_router)
    api.add_router("/v1/", quotas_router)


_register_routers()
