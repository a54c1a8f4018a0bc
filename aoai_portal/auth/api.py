"""API endpoints of sign-in and the access audit: who am I, and the audit trail for admins."""

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from aoai_portal.access_audit import access_audit_entries
from aoai_portal.api_access import require_role
from aoai_portal.params import MAX_OFFSET, in_range
from aoai_portal.roles import ADMIN, user_roles

router = Router(tags=["access"])


class MeOut(Schema):
    username: str
    roles: list[str]


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict[str, Any]:
    """The caller and the portal roles it holds (handy to check an API token)."""
    return {"username": request.user.get_username(), "roles": sorted(user_roles(request.user))}


class AccessAuditEntryOut(Schema):
    time: datetime
    username: str
    action: str
    correlation_id: str
    ip_address: str
    reason: str


class AccessAuditPageOut(Schema):
    count: int
    offset: int
    limit: int
    entries: list[AccessAuditEntryOut]


@router.get("/access-audit", response=AccessAuditPageOut)
def access_audit(
    request: HttpRequest,
    user: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    offset: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """The access audit (admins only), newest first; ``date_to`` inclusive, UTC days."""
    require_role(request, ADMIN)
    # Out-of-range offsets and limits are pulled in, not refused (the answer says what was used).
    offset = min(max(offset, 0), MAX_OFFSET)
    limit = min(max(limit, 1), 1000)
    for name, day in (("date_from", date_from), ("date_to", date_to)):
        if day is not None:
            in_range(day, name=name)
    entries = access_audit_entries(username=user, action=action, date_from=date_from, date_to=date_to)
    return {
        "count": entries.count(),
        "offset": offset,
        "limit": limit,
        "entries": list(entries[offset : offset + limit]),
    }
