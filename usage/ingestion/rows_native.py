"""The native table's record and parser: AzureDiagnostics -> ``NativeRow``.

``NativeRow`` is stored as a ``NativeLog``; only Azure OpenAI's RequestResponse rows are read: a
row of another resource provider or category is rejected here (the store skips such rows before
parsing them, ``skipped.py``). ``properties_s`` is kept as a NUL-free JSON object, credentials
redacted. Guarded and named by table in ``rows.py``, which describes what every parser does with
bad input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from usage.db.json import json_dumps, json_nul_escapes_drop
from usage.regions import region_normalize

from .cells import _NON_NEGATIVE, _Bad, _Cells, _notes, _show
from .credentials import headers_scrub


@dataclass
class NativeRow:
    correlation_id: str
    time: datetime
    operation_name: str = ""
    result_signature: str = ""
    duration_ms: float | None = None
    caller_ip: str = ""
    location: str = ""
    resource_id: str = ""
    api_name: str = ""
    model_deployment: str = ""
    model_name: str = ""
    model_version: str = ""
    stream_type: str = ""
    object_id: str = ""
    request_length: int | None = None
    response_length: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    ingest_notes: str = ""


_NATIVE_PROVIDER = "microsoft.cognitiveservices"
_NATIVE_CATEGORY = "requestresponse"


def _parse_native(row: Mapping[str, Any]) -> NativeRow:
    cells = _Cells(row)
    provider = cells.text("ResourceProvider").strip()
    if provider and provider.lower() != _NATIVE_PROVIDER:
        raise _Bad("not an Azure OpenAI row", f"ResourceProvider {_show(provider)}")
    category = cells.text("Category").strip()
    if category and category.lower() != _NATIVE_CATEGORY:
        raise _Bad("not a RequestResponse row", f"Category {_show(category)}")
    correlation_id = cells.key("CorrelationId")
    time = cells.moment("TimeGenerated")
    properties = cells.dynamic("properties_s")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        cells.note("properties_s", "not an object", properties)
        properties = {}
    props = _Cells(properties)
    props.notes = cells.notes  # one list: a property's note names the property

    return NativeRow(
        correlation_id=correlation_id,
        time=time,
        operation_name=cells.text("OperationName"),
        result_signature=cells.text("ResultSignature"),
        duration_ms=cells.number("DurationMs", non_negative=True),
        caller_ip=cells.text("CallerIPAddress"),
        location=region_normalize(cells.text("location_s")),
        resource_id=cells.text("ResourceId") or cells.text("_ResourceId"),
        api_name=props.text("apiName"),
        model_deployment=props.text("modelDeploymentName"),
        model_name=props.text("modelName"),
        model_version=props.text("modelVersion"),
        stream_type=props.text("streamType"),
        object_id=props.text("objectId"),
        request_length=props.integer("requestLength", _NON_NEGATIVE),
        response_length=props.integer("responseLength", _NON_NEGATIVE),
        properties=headers_scrub(
            _properties_copy(cells, properties, decoded=isinstance(cells.raw("properties_s"), str))
        ),
        ingest_notes=_notes(cells),
    )


def _properties_copy(cells: _Cells, properties: dict[str, Any], *, decoded: bool) -> dict[str, Any]:
    try:
        return _json_copy(properties, decoded=decoded)
    except (ValueError, RecursionError, TypeError):  # an int too long to print, too deep
        cells.note("properties_s", "not storable", properties)
        return {}


def _json_copy(value: Any, *, decoded: bool) -> Any:
    """A NUL-free copy of ``value`` as JSON types. A document just decoded from JSON text
    (``decoded``) is one already unless it holds a NUL: it is not decoded a second time."""
    text = json_dumps(value, ensure_ascii=False)
    if decoded and "\\u0000" not in text:
        return value
    return json.loads(json_nul_escapes_drop(text))
