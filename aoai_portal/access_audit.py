"""The access audit: every look at prompt text goes through ``access_audit_record``.

A concern of the whole portal, not of one app: the request page and the admin site record views
of prompt text, the chargeback pages exports and month reopenings, retention its purges. So it
lives in the core; its model stays in the review app (``audit.AccessAuditEntry``) and is looked
up through the app registry, as the core imports no app (``.importlinter``).
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from aoai_portal.client_address import client_address


def _entries() -> Any:
    """The ``AccessAuditEntry`` model (``Any``: the registry returns a plain ``type[Model]``)."""
    return apps.get_model("audit", "AccessAuditEntry")


def access_audit_record(
    *,
    request: HttpRequest | None,
    action: str,
    correlation_id: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
    user: User | None = None,
) -> Model:
    """Record who did ``action`` (an ``AccessAuditEntry.Action``) on which request, from which IP."""
    actor = user if user is not None else getattr(request, "user", None)
    if actor is not None and not actor.is_authenticated:
        actor = None
    entry: Model = _entries().objects.create(
        user=actor,
        username=actor.get_username() if actor else "system",
        action=action,
        correlation_id=correlation_id,
        ip_address=client_address(request),
        reason=reason,
        detail=detail or {},
    )
    return entry


def access_audit_entries(
    *,
    username: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Any]:
    """Audit entries, newest first; ``date_to`` is inclusive (whole UTC days)."""
    entries: QuerySet[Any] = _entries().objects.all()
    if username:
        entries = entries.filter(username__icontains=username)
    if action:
        entries = entries.filter(action=action)
    if date_from:
        entries = entries.filter(time__gte=datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to:
        entries = entries.filter(time__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC))
    return entries.order_by("-time", "-pk")
