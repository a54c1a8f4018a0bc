"""The JSON API (django-ninja). OpenAPI docs at /api/docs.

Each app contributes a router; authentication is session or a personal API token
(``Authorization: Bearer ...``), and every endpoint checks the caller's role.
"""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.security import django_auth

from .auth.api_auth import ApiTokenAuth
from .params import ParamError
from .roles import ALL_ROLES, role_required

api = NinjaAPI(
    title="AOAI Portal API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    # The docs and the schema list every endpoint and its parameters: for portal roles only
    # (anonymous -> sign-in, signed in without a role -> the "no access" page).
    docs_decorator=role_required(*ALL_ROLES),
    # A personal API token (scripts, Power BI) or the browser session (CSRF-checked on unsafe
    # methods). The token goes first: ninja stops at the session's CSRF refusal.
    auth=[ApiTokenAuth(), django_auth],
)


@api.exception_handler(ParamError)
def param_error(request: HttpRequest, error: ParamError) -> HttpResponse:
    """A parameter refused by ``aoai_portal.params``: 400 with the reason."""
    return api.create_response(request, {"detail": str(error)}, status=400)


def _register_routers() -> None:
    from audit.api import router as audit_router
    from costs.api import router as costs_router
    from quotas.api import router as quotas_router
    from usage.api.router import router as usage_router

    from .auth.api import router as auth_router

    api.add_router("/v1/", usage_router)
    api.add_router("/v1/", audit_router)
    api.add_router("/v1/", quotas_router)
    api.add_router("/v1/", auth_router)
    api.add_router("/v1/", costs_router)


_register_routers()
