"""Writing the People table from automatic sources: portal sign-ins and Microsoft Graph.

See the package docstring for the precedence: rows written by hand only get their empty fields
filled; automatic sources overwrite each other, never with an empty value.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction

from ..models import NamedIdentity
from .selectors import MANUAL_SOURCES

log = logging.getLogger(__name__)


# display_name, email and department are all CharField(max_length=256).
_TEXT_MAX = 256


def _clip(value: str | None) -> str:
    return (value or "").strip()[:_TEXT_MAX]


@transaction.atomic
def person_observe(
    *,
    object_id: str,
    source: str,
    display_name: str = "",
    email: str = "",
    department: str = "",
    kind: str | None = None,
    graph_checked_at: datetime | None = None,
) -> NamedIdentity:
    """Record what an automatic ``source`` ("signin", "graph") says about ``object_id``.

    Empty values never replace stored ones; a row written by hand (admin site, CSV) only gets its
    empty fields filled and keeps its kind and source.
    """
    values = {
        "display_name": _clip(display_name),
        "email": _clip(email),
        "department": _clip(department),
    }
    person, created = NamedIdentity.objects.select_for_update().get_or_create(
        object_id=object_id,
        defaults={
            **values,
            "kind": kind or NamedIdentity.Kind.USER,
            "source": source,
            "graph_checked_at": graph_checked_at,
        },
    )
    if created:
        return person
    manual = person.source in MANUAL_SOURCES
    changed: dict[str, Any] = {}
    for field, value in values.items():
        if value and value != getattr(person, field) and not (manual and getattr(person, field)):
            changed[field] = value
    if kind and kind != person.kind and not manual:
        changed["kind"] = kind
    if changed and not manual:
        changed["source"] = source
    if graph_checked_at is not None:
        changed["graph_checked_at"] = graph_checked_at
    if changed:
        for field, value in changed.items():
            setattr(person, field, value)
        person.save(update_fields=[*changed, "updated_at"])
    return person


def person_sign_in_record(*, claims: dict[str, Any]) -> None:
    """The signed-in user's name and e-mail from their verified ID-token claims (key: ``oid``)."""
    upn = str(claims.get("preferred_username") or "")
    email = str(claims.get("email") or "") or (upn if "@" in upn else "")
    person_observe(
        object_id=str(claims["oid"]),
        source="signin",
        display_name=str(claims.get("name") or ""),
        email=email,
        kind=NamedIdentity.Kind.USER,
    )
