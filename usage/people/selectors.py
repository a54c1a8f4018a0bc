"""Reading the People table: labels for object ids, and the ids Microsoft Graph should be asked about."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q

from ..models import GatewayRequest, NamedIdentity, NativeLog

# Sources an admin wrote by hand; sign-ins and Graph never overwrite their values.
MANUAL_SOURCES = ("admin", "csv")
AUTOMATIC_SOURCES = ("signin", "graph")
_CHUNK = 1000


def person_labels(*, object_ids: Iterable[str]) -> dict[str, str]:
    """``{object_id: label}`` for every non-empty id given: the display name, else the id itself."""
    wanted = sorted({object_id for object_id in object_ids if object_id})
    labels = {object_id: object_id for object_id in wanted}
    for start in range(0, len(wanted), _CHUNK):
        rows = NamedIdentity.objects.filter(object_id__in=wanted[start : start + _CHUNK]).exclude(
            display_name=""
        )
        labels.update(rows.values_list("object_id", "display_name"))
    return labels


def person_label(*, object_id: str) -> str:
    """The label of one id ("" for ""): its display name, else the id."""
    return person_labels(object_ids=[object_id]).get(object_id, "")


def people_ids_seen(*, since: datetime) -> set[str]:
    """Object ids that requests since ``since`` name: the caller's, and the native log's."""
    callers = (
        GatewayRequest.objects.filter(time__gte=since)
        .exclude(caller_object_id="")
        .values_list("caller_object_id", flat=True)
        .distinct()
        .order_by()
    )
    natives = (
        NativeLog.objects.filter(time__gte=since)
        .exclude(object_id="")
        .values_list("object_id", flat=True)
        .distinct()
        .order_by()
    )
    return set(callers) | set(natives)


def people_graph_due(*, object_ids: Iterable[str], now: datetime, refresh: timedelta) -> list[str]:
    """Of ``object_ids``, those Graph should be asked about now, sorted.

    Due: no row; or a row not written by hand whose last Graph check is missing or older than
    ``refresh`` (found or not, an id is asked at most once per ``refresh``).
    """
    wanted = sorted(set(object_ids))
    due = set(wanted)
    stale_before = now - refresh
    for start in range(0, len(wanted), _CHUNK):
        fresh = NamedIdentity.objects.filter(object_id__in=wanted[start : start + _CHUNK]).filter(
            Q(source__in=MANUAL_SOURCES) | Q(graph_checked_at__gte=stale_before)
        )
        due.difference_update(fresh.values_list("object_id", flat=True))
    return sorted(due)
