"""Which APIM requests a batch's rows touch, and the refresh of stored rows a merge changed."""

from __future__ import annotations

from typing import Any

from usage.db.lookups import any_chunks
from usage.ingestion.pipeline import requests_refresh
from usage.models import GatewayRequest, UnmatchedRow
from usage.rollups.hourly import rollup_refresh_hours

from .tables import GATEWAY, NATIVE
from .unmatched import unmatched_row_key, unmatched_rows_update


def requests_touched(*, table: str, records: list[Any]) -> set[str]:
    """APIM correlation ids whose request (or a join partner of it) changed."""
    if table == GATEWAY:
        return {record.correlation_id for record in records}
    # A native row names its request by the backend's apim-request-id; an LLM-log row by the
    # request's own correlation id.
    lookup = "apim_request_id__any" if table == NATIVE else "correlation_id__any"
    touched: set[str] = set()
    for chunk in any_chunks(sorted({record.correlation_id for record in records})):
        touched.update(
            GatewayRequest.objects.filter(**{lookup: chunk}).values_list("correlation_id", flat=True)
        )
    return touched


def merged_rows_refresh(*, table: str, merged: list[tuple[Any, Any]]) -> set[str]:
    """After stored rows changed by a merge (``(old, new)`` records): the APIM correlation ids
    whose request depends on them. Gateway rows are refreshed here: usage, cost, flags, the
    rollups of their new hour and of the hour they left, and their wait for a native row.
    Partner rows are refreshed by the caller, with the batch's."""
    records = [new for _, new in merged]
    touched = requests_touched(table=table, records=records)
    if table == GATEWAY:
        requests_refresh(correlation_ids=touched)
        moved = [old.time for old, new in merged if old.time != new.time]
        if moved:
            rollup_refresh_hours(hours=moved)
        UnmatchedRow.objects.filter(table=GATEWAY, row_key__in=sorted(touched)).delete()
        unmatched_rows_update(table=GATEWAY, records=records)
        return touched
    for old, new in merged:  # a partner row still waiting keeps its entry, at its new time
        if old.time != new.time:
            key = unmatched_row_key(table=table, record=new)
            UnmatchedRow.objects.filter(table=table, row_key=key).update(time=new.time)
    return touched
