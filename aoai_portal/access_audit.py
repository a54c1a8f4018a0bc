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
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from aoai_portal.client_address import client_address


def _entries() -> Any:
    """The ``AccessAuditEntry`` model (``Any``: the registry returns a plain ``type[Model]``)."""
    return apps.get_model("audit", "AccessAuditEntry")


# Looks at one request by one person (from one address) within this window are one entry that
# counts them: reloading the request page after each button press is one look, not ten. The
# window starts at the entry's first look, so a page left open and reloaded all day still writes
# an entry every quarter of an hour. A look with a reason (the admin site's text view) is always
# its own entry, and so is every other action.
VIEW_WINDOW = timedelta(minutes=15)
_COLLAPSED_ACTIONS = {"view_prompt"}
_COUNTERS = ("views", "last_seen")


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
    fields: dict[str, Any] = {
        "user": actor,
        "username": actor.get_username() if actor else "system",
        "action": action,
        "correlation_id": correlation_id,
        "ip_address": client_address(request),
        "reason": reason,
    }
    detail = detail or {}
    if action in _COLLAPSED_ACTIONS and correlation_id and not reason:
        with transaction.atomic():
            earlier = _earlier_look(fields=fields, detail=detail)
            if earlier is not None:
                views = int(earlier.detail.get("views", 1)) + 1
                earlier.detail = {**earlier.detail, "views": views, "last_seen": timezone.now().isoformat()}
                earlier.save(update_fields=["detail"])
                folded: Model = earlier
                return folded
    entry: Model = _entries().objects.create(**fields, detail=detail)
    return entry


def _earlier_look(*, fields: dict[str, Any], detail: dict[str, Any]) -> Any:
    """The entry of the same look within VIEW_WINDOW (same person, request, address and detail)."""
    candidates = (
        _entries()
        .objects.select_for_update()
        .filter(**fields, time__gte=timezone.now() - VIEW_WINDOW)
        .order_by("-time", "-pk")
    )
    for entry in candidates[:5]:
        if {k: v for k, v in entry.detail.items() if k not in _COUNTERS} == detail:
            return entry
    return None


def access_audit_export(*, request: HttpRequest, what: str, format: str) -> Model:
    """An export: what, in which format, with which filters (the query string's values)."""
    return access_audit_record(
        request=request,
        action="export",
        detail={
            "what": what,
            "format": format,
            "filters": {name: value for name, value in request.GET.items() if value},
            "query": request.GET.urlencode(),
        },
    )


def access_audit_summary(entry: Any) -> str:
    """One line saying what an entry's detail holds, for the audit page."""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    parts = []
    if entry.action == "export":
        filters = detail.get("filters")
        if not isinstance(filters, dict):  # entries from before filters were kept apart
            filters = dict(QueryDict(str(detail.get("query", ""))).items())
        parts.append(" ".join(str(detail[k]) for k in ("what", "format") if detail.get(k)))
        parts.append(", ".join(f"{k}={v}" for k, v in filters.items()) or "no filters")
    else:
        views = detail.get("views")
        if views:
            parts.append(f"{views} views, last {str(detail.get('last_seen', ''))[11:19]} UTC")
        if detail.get("revealed"):
            parts.append("masked text revealed")
        parts += [
            f"{k}: {v}"
            for k, v in detail.items()
            if k not in (*_COUNTERS, "revealed") and isinstance(v, str | int | float) and not isinstance(v, bool)
        ]
    text = " · ".join(part for part in parts if part)
    return text if len(text) <= 300 else text[:299] + "…"


def access_audit_entries(
    *,
    username: str = "",
    action: str = "",
    correlation_id: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Any]:
    """Audit entries, newest first; ``date_to`` is inclusive (whole UTC days)."""
    entries: QuerySet[Any] = _entries().objects.all()
    if username:
        entries = entries.filter(username__icontains=username)
    if action:
        entries = entries.filter(action=action)
    if correlation_id:
        entries = entries.filter(correlation_id=correlation_id)
    if date_from:
        entries = entries.filter(time__gte=datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to:
        entries = entries.filter(time__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC))
    return entries.order_by("-time", "-pk")
