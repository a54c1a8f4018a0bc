"""Store the caller of requests (``usage.identity.sources`` says how it is found).

Ingestion sets it where usage is computed (``usage.accounting.services``), so a native row that
joins hours later updates it with the rest; ``callers_reevaluate`` re-reads requests already
stored (after a gateway identity or the header names changed, or for rows stored before).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db import transaction

from usage.db.bulk import rows_update
from usage.models import GatewayRequest, NativeLog

from .gateway import gateway_identities_get
from .sources import Caller, caller_resolve, identity_header_names

CALLER_FIELDS = ("caller_object_id", "caller_source")
_READ_FIELDS = ("id", "time", "apim_request_id", "user_id", "request_headers", *CALLER_FIELDS)


class _HasObjectId(Protocol):
    object_id: str


def callers_apply(
    *,
    rows: Collection[GatewayRequest],
    natives: Mapping[str, _HasObjectId],
    gateway_ids: Collection[str] | None = None,
) -> None:
    """Set the caller of each row (instances only); ``natives`` by correlation id."""
    if gateway_ids is None:
        gateway_ids = gateway_identities_get()
    names = identity_header_names()
    for row in rows:
        native = natives.get(row.apim_request_id) if row.apim_request_id else None
        caller = caller_resolve(
            headers=row.request_headers if isinstance(row.request_headers, dict) else {},
            names=names,
            native_object_id=native.object_id if native is not None else "",
            user_id=row.user_id,
            gateway_ids=gateway_ids,
            stored=Caller(row.caller_object_id, row.caller_source),
        )
        row.caller_object_id, row.caller_source = caller.object_id, caller.source


@dataclass
class CallersReevaluated:
    examined: int = 0
    changed: int = 0


def callers_reevaluate(
    *,
    begin: datetime | None = None,
    end: datetime | None = None,
    batch: int = 2000,
    progress: Callable[[CallersReevaluated], None] | None = None,
) -> CallersReevaluated:
    """Re-derive the caller of the stored requests of ``[begin, end)`` (all when unbounded) and
    write those that changed. Idempotent: a second run changes nothing."""
    result = CallersReevaluated()
    gateway_ids = gateway_identities_get()
    requests = GatewayRequest.objects.all()
    if begin is not None:
        requests = requests.filter(time__gte=begin)
    if end is not None:
        requests = requests.filter(time__lt=end)
    last = 0
    while True:
        rows = list(requests.filter(pk__gt=last).order_by("pk").only(*_READ_FIELDS)[:batch])
        if not rows:
            break
        last = rows[-1].pk
        before = {row.pk: (row.caller_object_id, row.caller_source) for row in rows}
        ids = [row.apim_request_id for row in rows if row.apim_request_id]
        natives = {
            n.correlation_id: n
            for n in NativeLog.objects.filter(correlation_id__any=ids).only("correlation_id", "object_id")
        }
        callers_apply(rows=rows, natives=natives, gateway_ids=gateway_ids)
        changed = [row for row in rows if before[row.pk] != (row.caller_object_id, row.caller_source)]
        if changed:
            with transaction.atomic():
                rows_update(rows=changed, fields=CALLER_FIELDS)
        result.examined += len(rows)
        result.changed += len(changed)
        if progress is not None:
            progress(result)
    return result
