"""Authentication backends: Entra ID (OIDC), break-glass local accounts, admin-role permissions."""

import hmac
import logging

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from aoai_portal.roles import ADMIN, user_roles

from .entra import entra_config, oidc_setting
from .services import SignInRefused, entra_user_sign_in

log = logging.getLogger(__name__)

# Clock skew allowed on exp / nbf / iat.
ID_TOKEN_LEEWAY_SECONDS = 60


class EntraOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow (state, nonce, PKCE) with the ID-token checks it lacks.

    The ID token is verified here: RS256 signature against Entra's JWKS, ``iss`` equal to
    ``{authority}/{tenant}/v2.0``, ``aud`` equal to the client id, ``exp``/``nbf``/``iat``, the
    nonce of this sign-in and ``tid`` equal to the configured tenant. Claims are taken from the
    verified ID token (Entra's userinfo has no ``roles``/``groups``); users are keyed on oid + tid.
    Any failure raises ``SignInRefused``, which the callback view shows as a clear page.
    """

    @staticmethod
    def get_settings(attr, *args):
        derived = oidc_setting(attr)
        if derived is not None:
            return derived
        return import_from_settings(attr, *args)

    def authenticate(self, request, **kwargs):
        if "nonce" not in kwargs:
            # Not the OIDC callback (e.g. the local sign-in form, whatever its query string says).
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SignInRefused:
            raise
        except (SuspiciousOperation, jwt.PyJWTError, requests.RequestException, KeyError, ValueError) as exc:
            raise SignInRefused(f"{type(exc).__name__}: {exc}") from exc

    def verify_token(self, token, **kwargs):
        config = entra_config()
        if not token:
            raise SignInRefused("the token response has no id_token")
        key = self.retrieve_matching_jwk(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=config.client_id,
                issuer=config.issuer,
                leeway=ID_TOKEN_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInRefused(f"ID token rejected: {type(exc).__name__}: {exc}") from exc
        expected_nonce = kwargs.get("nonce")
        if not expected_nonce or not hmac.compare_digest(str(claims.get("nonce", "")), expected_nonce):
            raise SignInRefused("ID token nonce does not match this sign-in")
        if claims.get("tid") != config.tenant_id:
            raise SignInRefused(f"ID token from tenant {claims.get('tid')!r}, expected {config.tenant_id!r}")
        if not claims.get("oid"):
            raise SignInRefused("ID token has no oid claim")
        return claims

    def get_userinfo(self, access_token, id_token, payload):
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        return entra_user_sign_in(claims=payload)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


class BreakGlassBackend(ModelBackend):
    """Local username/password sign-in, for when Entra ID is down. Off with PORTAL_LOCAL_LOGIN=false.

    Entra users have no usable password, so in practice this signs in the accounts made with
    ``createsuperuser`` (or given a password in the admin site).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.PORTAL_LOCAL_LOGIN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        # Turning local sign-in off also ends the sessions it opened.
        if not settings.PORTAL_LOCAL_LOGIN:
            return None
        return super().get_user(user_id)


class RolePermissionBackend(BaseBackend):
    """The portal's admin role holds every permission of the admin site (no per-model grants).

    Model admins that must stay read-only (the access audit) deny changes themselves.
    """

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return bool(user_obj.is_active and ADMIN in user_roles(user_obj))

    def has_module_perms(self, user_obj, app_label) -> bool:
        return bool(user_obj.is_active and ADMIN in user_roles(user_obj))
