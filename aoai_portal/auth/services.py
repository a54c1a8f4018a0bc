"""Signing Entra users in, mapping their claims to portal roles, and personal API tokens."""

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from aoai_portal.roles import ALL_ROLES

from .hooks import sign_in_hooks_run
from .models import ApiToken, EntraIdentity, RoleMapping

log = logging.getLogger(__name__)


class SignInRefused(Exception):
    """A sign-in that must not go through. ``public_message`` is safe to show to the user."""

    def __init__(self, reason: str, *, public_message: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.public_message = public_message or (
            "The sign-in response from Microsoft Entra ID could not be verified, so you were not "
            "signed in. Please try again; if it keeps failing, tell your administrator."
        )


GROUPS_OVERAGE_MESSAGE = (
    "Your account belongs to too many groups for Microsoft Entra ID to list them in the sign-in "
    "token (groups overage), so the portal cannot tell which of its groups you are in. Ask your "
    "administrator to give you an app role for AOAI Portal (app roles can be assigned to groups), "
    "then sign in again."
)


# --- Role mapping ---------------------------------------------------------------------------


def role_mapping_pairs(*, claim_type: str) -> set[tuple[str, str]]:
    """(claim value lower-cased, portal role) pairs: the settings defaults plus the admin's rows."""
    defaults = (
        settings.ENTRA_ROLE_MAP if claim_type == RoleMapping.ClaimType.ROLE else settings.ENTRA_GROUP_MAP
    )
    pairs = {(value.lower(), role) for value, role in defaults}
    rows = RoleMapping.objects.filter(claim_type=claim_type).values_list("value", "portal_role")
    pairs.update((value.lower(), role) for value, role in rows)
    return {(value, role) for value, role in pairs if role in ALL_ROLES}


def _claim_list(claims: dict, name: str) -> list[str]:
    value = claims.get(name) or []
    if isinstance(value, str):
        value = [value]
    return [str(item) for item in value]


def roles_from_claims(*, claims: dict) -> set[str]:
    """The portal roles the ID token's ``roles`` and ``groups`` claims map to.

    Groups overage (``_claim_names.groups`` instead of ``groups``): refused when any group mapping
    exists, because the token then does not say which mapped groups the user is in. Without group
    mappings the overage does not matter and app roles alone decide.
    """
    held_roles = {value.lower() for value in _claim_list(claims, "roles")}
    held_groups = {value.lower() for value in _claim_list(claims, "groups")}
    group_pairs = role_mapping_pairs(claim_type=RoleMapping.ClaimType.GROUP)
    overage = "groups" in (claims.get("_claim_names") or {}) or bool(claims.get("hasgroups"))
    if overage and group_pairs and not held_groups:
        raise SignInRefused(
            "groups overage with group mappings configured", public_message=GROUPS_OVERAGE_MESSAGE
        )
    portal_roles = {
        role
        for value, role in role_mapping_pairs(claim_type=RoleMapping.ClaimType.ROLE)
        if value in held_roles
    }
    portal_roles.update(role for value, role in group_pairs if value in held_groups)
    return portal_roles


def user_roles_sync(*, user: User, roles: set[str]) -> None:
    """Make the user's portal-role groups exactly ``roles``; other Django groups are left alone."""
    wanted = {Group.objects.get_or_create(name=name)[0] for name in roles}
    current = set(user.groups.filter(name__in=ALL_ROLES))
    if current - wanted:
        user.groups.remove(*(current - wanted))
    if wanted - current:
        user.groups.add(*(wanted - current))
    user.__dict__.pop("_portal_roles", None)


# --- Entra sign-in ---------------------------------------------------------------------------


def _username_for(*, claims: dict) -> str:
    wanted = (claims.get("preferred_username") or claims["oid"]).strip().lower()[:150]
    if not User.objects.filter(username=wanted).exists():
        return wanted
    # Someone else (a local account or an earlier holder of the UPN) has it: never merge with them.
    return f"{wanted[:140]}~{claims['oid'][:8]}"


@transaction.atomic
def entra_user_sign_in(*, claims: dict) -> User:
    """Find or create the user of verified ID-token ``claims`` (keyed on oid + tid), sync roles."""
    roles = roles_from_claims(claims=claims)
    identity = (
        EntraIdentity.objects.select_for_update()
        .select_related("user")
        .filter(tenant_id=claims["tid"], object_id=claims["oid"])
        .first()
    )
    if identity is None:
        user = User(username=_username_for(claims=claims))
        user.set_unusable_password()
        user.save()
        identity = EntraIdentity(user=user, tenant_id=claims["tid"], object_id=claims["oid"])
    user = identity.user
    if not user.is_active:
        raise SignInRefused(
            f"user {user.pk} is deactivated",
            public_message="Your AOAI Portal account is deactivated. Ask your administrator.",
        )
    email = claims.get("email") or ""
    upn = claims.get("preferred_username") or ""
    if not email and "@" in upn:
        email = upn
    user.email = email[:254]
    user.first_name = (claims.get("given_name") or claims.get("name") or "")[:150]
    user.last_name = (claims.get("family_name") or "")[:150]
    user.save(update_fields=["email", "first_name", "last_name"])
    identity.preferred_username = upn[:256]
    identity.last_sign_in = timezone.now()
    identity.last_roles_claim = _claim_list(claims, "roles")
    identity.last_groups_claim = _claim_list(claims, "groups")
    identity.save()
    user_roles_sync(user=user, roles=roles)
    sign_in_hooks_run(claims=claims)
    log.info("Entra sign-in of %s (oid %s): roles %s", user.username, claims["oid"], sorted(roles) or "none")
    return user


# --- API tokens --------------------------------------------------------------------------------

TOKEN_PREFIX = "aoai"
# Longest life of a token a user makes for themselves ("My API tokens"); the admin site and the
# create_api_token command may set longer ones.
SELF_SERVICE_MAX_DAYS = 365


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: User, name: str, days: int = 90) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the token text (shown once, never stored)."""
    if days < 1:
        raise ValueError("An API token must expire: days must be at least 1.")
    while True:
        prefix = secrets.token_hex(4)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            break
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=_token_hash(raw),
        expires=timezone.now() + timedelta(days=days),
    )
    return token, raw


def api_token_authenticate(*, raw: str) -> User | None:
    """The user of a valid, unexpired, unrevoked token of an active user; None otherwise."""
    parts = raw.strip().split("_")
    if len(parts) < 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _token_hash(raw.strip())):
        return None
    if not token.is_usable:
        return None
    now = timezone.now()
    if token.last_used is None or now - token.last_used > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
    return token.user


def api_token_revoke(*, token: ApiToken) -> None:
    token.revoked = True
    token.save(update_fields=["revoked"])


def api_tokens_of(*, user: User) -> list[ApiToken]:
    """The user's own tokens, newest first (revoked and expired ones too: the list is the record)."""
    return list(ApiToken.objects.filter(user=user).order_by("-created", "-pk"))


def api_token_own_revoke(*, user: User, token_id: int) -> ApiToken | None:
    """Revoke ``user``'s token ``token_id``; None when it is not theirs (or does not exist)."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        return None
    if not token.revoked:
        api_token_revoke(token=token)
        log.info("API token %s (%s) revoked by its owner %s", token.prefix, token.name, user.username)
    return token
