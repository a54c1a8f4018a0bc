"""Scrub credentials out of rows stored before ingestion redacted them (migration 0023).

Walks each table by primary key in batches, rewrites only the rows whose scrubbed value differs,
and is idempotent (a second run changes nothing). Rejected rows keep their fingerprint (a digest
of the row as it came), so re-importing the same bad row is still recognised. LLM-log chunks hold
no headers (only message text, which the review reads and masks) and are left as they are.

Takes the model classes as arguments so the migration can pass its historical models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .credentials import headers_scrub, raw_text_scrub


def _batches(model: Any, fields: tuple[str, ...], batch_size: int) -> Iterator[list[Any]]:
    last = None
    while True:
        rows = model.objects.order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows.values_list("pk", *fields)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _headers(value: Any) -> Any:
    return headers_scrub(value) if isinstance(value, dict) else value


def credentials_stored_scrub(
    *, gateway_model: Any, native_model: Any, rejected_model: Any, batch_size: int = 1000
) -> dict[str, int]:
    """Redact credential headers in stored gateway rows, native rows' properties and rejected
    rows' raw text; returns how many rows of each were rewritten."""
    changed = {"gateway": 0, "native": 0, "rejected": 0}
    for batch in _batches(gateway_model, ("request_headers", "response_headers"), batch_size):
        updates = []
        for pk, request_headers, response_headers in batch:
            new_request, new_response = _headers(request_headers), _headers(response_headers)
            if new_request != request_headers or new_response != response_headers:
                updates.append(
                    gateway_model(pk=pk, request_headers=new_request, response_headers=new_response)
                )
        if updates:
            gateway_model.objects.bulk_update(
                updates, ["request_headers", "response_headers"], batch_size=500
            )
            changed["gateway"] += len(updates)
    for batch in _batches(native_model, ("properties",), batch_size):
        updates = [
            native_model(pk=pk, properties=_headers(properties))
            for pk, properties in batch
            if _headers(properties) != properties
        ]
        if updates:
            native_model.objects.bulk_update(updates, ["properties"], batch_size=500)
            changed["native"] += len(updates)
    for batch in _batches(rejected_model, ("raw", "reason"), batch_size):
        updates = []
        for pk, raw, reason in batch:
            new_raw, new_reason = raw_text_scrub(raw), raw_text_scrub(reason)
            if new_raw != raw or new_reason != reason:
                updates.append(rejected_model(pk=pk, raw=new_raw, reason=new_reason))
        if updates:
            rejected_model.objects.bulk_update(updates, ["raw", "reason"], batch_size=500)
            changed["rejected"] += len(updates)
    return changed
