from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja.security import HttpBearer

from .services import api_token_authenticate


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer aoai_...``: a personal API token acts as its user, with the user's roles.

    Unknown, expired or revoked tokens (or a deactivated user) get 401.
    """

    openapi_description = "Personal API token (create in the admin site or with create_api_token)."

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = api_token_authenticate(raw=token)
        if user is None:
            return None
        # Views and require_role() look at request.user, as for session sign-in.
        request.user = user
        return user
