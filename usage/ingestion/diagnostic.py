"""Diagnostic-settings records (what a Storage account or Event Hub receives: lower-camel keys,
``properties`` as an object or JSON text) mapped to the shape of a Log Analytics row, so that
the row parsers of ``rows`` read them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .cells import Rejection, _Cells, _show
from .tables import CATEGORY_TABLES, GATEWAY, NATIVE


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def diagnostic_record_convert(record: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | Rejection:
    """A diagnostic-settings record -> (Log Analytics table, row in that table's shape).

    ``category`` decides the table (GatewayLogs, GatewayLlmLogs, RequestResponse); top-level
    lower-camel keys and ``properties`` (object or JSON text) are mapped to the table's columns.
    """
    if not isinstance(record, Mapping):
        return Rejection("record is not an object", _show(record))
    cells = _Cells(record)
    category = cells.text("category").strip()
    table = CATEGORY_TABLES.get(category.lower())
    if table is None:
        return Rejection("unsupported category", _show(category) if category else "missing")
    properties = cells.dynamic("properties")
    if cells.notes:  # not JSON: the record's content is all there, so it cannot be mapped
        return Rejection("properties: not JSON", _show(cells.raw("properties")))
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        return Rejection("properties: not an object", _show(properties))

    top = {
        "TimeGenerated": cells.raw("time"),
        "CorrelationId": cells.raw("correlationId"),
    }
    if table == NATIVE:
        resource_id = cells.text("resourceId")
        provider = ""
        match = re.search(r"/providers/([^/]+)/", resource_id, re.IGNORECASE)
        if match:
            provider = match.group(1).upper()
        row = {
            **top,
            "Category": category,
            "ResourceId": resource_id,
            "ResourceProvider": provider,
            "OperationName": cells.raw("operationName"),
            "ResultSignature": cells.raw("resultSignature"),
            "DurationMs": cells.raw("durationMs"),
            "CallerIPAddress": cells.raw("callerIpAddress"),
            "location_s": cells.raw("location"),
            "Tenant_s": cells.raw("Tenant"),
            "event_s": cells.raw("event"),
            "properties_s": dict(properties),
        }
        return table, row

    row = {_pascal(str(key)): value for key, value in properties.items()}
    last_error = row.pop("LastError", None)
    if isinstance(last_error, Mapping):
        for key, value in last_error.items():
            row[f"LastError{_pascal(str(key))}"] = value
    if not row.get("CorrelationId"):
        row["CorrelationId"] = top["CorrelationId"]
    row["TimeGenerated"] = top["TimeGenerated"]
    row.setdefault("Region", cells.raw("location"))
    if table == GATEWAY:
        row.setdefault("CallerIpAddress", cells.raw("callerIpAddress"))
        row.setdefault("TotalTime", cells.raw("durationMs"))
        row.setdefault("IsRequestSuccess", cells.raw("isRequestSuccess"))
        row.setdefault("Category", category)
    return table, row
