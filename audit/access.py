"""Writing the access audit: every look at prompt text goes through ``access_audit_record``."""

from django.http import HttpRequest

from .models import AccessAuditEntry


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    # Behind the reverse proxy of docker-compose the first X-Forwarded-For hop is the client.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def access_audit_record(
    *,
    request: HttpRequest | None,
    action: str,
    correlation_id: str = "",
    reason: str = "",
    detail: dict | None = None,
    user=None,
) -> AccessAuditEntry:
    """Record who did ``action`` on which request, from which IP."""
    actor = user if user is not None else getattr(request, "user", None)
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AccessAuditEntry.objects.create(
        user=actor,
        username=actor.get_username() if actor else "system",
        action=action,
        correlation_id=correlation_id,
        ip_address=client_ip(request),
        reason=reason,
        detail=detail or {},
    )
