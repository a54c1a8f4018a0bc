"""Role checks for API endpoints.

A module of its own, below every app's API module: ``aoai_portal.api`` imports the apps' routers,
so a helper living there could not be imported by them without a cycle.
"""

from django.http import HttpRequest
from ninja.errors import HttpError

from .roles import user_has_role


def require_role(request: HttpRequest, *roles: str) -> None:
    """Raise 403 unless the authenticated caller holds one of ``roles``."""
    if not user_has_role(request.user, roles):
        raise HttpError(403, "Your role does not allow this endpoint.")
