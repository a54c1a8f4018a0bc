"""Pure parsers: one Log Analytics row in, one normalized record (or a rejection) out.

One parser per table:

* ``gateway_row_parse``  ApiManagementGatewayLogs   -> ``GatewayRow``  (-> ``GatewayRequest``)
* ``native_row_parse``   AzureDiagnostics           -> ``NativeRow``   (-> ``NativeLog``)
* ``llm_row_parse``      ApiManagementGatewayLlmLog -> ``LlmChunkRow`` (-> ``LlmLogChunk``)

A row is a mapping of column name to value as Log Analytics gives it: strings, numbers, ISO
datetimes (or ``datetime`` objects from the SDK), and ``dynamic`` cells either as JSON text or as
already-decoded objects. Column names are matched exactly first, then case-insensitively; missing
columns are tolerated (older workspaces lack some). Nothing here raises on bad input or touches
the database:

* a row whose key cannot be used (time missing, unreadable or outside ``TIME_MIN`` .. now +
  ``TIME_AHEAD``; correlation id missing, too long, not text or holding a lone surrogate) is
  returned as a ``Rejection`` whose ``reason`` says why;
* any other value that cannot be used (not a number, NaN, Infinity, negative where a duration or
  size is meant, out of its column's range, not a boolean, not JSON) leaves its field empty and
  adds a note ("TotalTime: not finite (inf)") to the record's ``ingest_notes``: the row is kept.
  Lone surrogates in long texts are found when the database refuses them (``store.py`` then runs
  ``sanitize.record_sanitize``), not by scanning every body here.

Diagnostic-settings records (what a Storage account or Event Hub receives: lower-camel keys,
``properties`` as an object or JSON text) are first mapped to the Log Analytics shape by
``diagnostic.diagnostic_record_convert`` and then go through the same parsers. The cells of a row
are read by ``cells`` (which also holds ``Rejection`` and ``datetime_parse``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from usage.db.json import json_dumps, json_nul_escapes_drop
from usage.identity.sources import caller_from_headers, identity_header_names
from usage.regions import region_normalize

from .cells import (
    _INT32,
    _INT64,
    _NON_NEGATIVE,
    KEY_MAX_LENGTH,
    Rejection,
    _as_number,
    _as_text,
    _Bad,
    _Cells,
    _show,
    has_surrogate,
)
from .credentials import headers_scrub
from .tables import GATEWAY, LLM_LOG, NATIVE


@dataclass
class GatewayRow:
    correlation_id: str
    time: datetime
    apim_subscription_id: str = ""
    product_id: str = ""
    user_id: str = ""
    api_id: str = ""
    operation_id: str = ""
    caller_ip: str = ""
    method: str = ""
    url: str = ""
    deployment: str = ""
    api_version: str = ""
    backend_id: str = ""
    backend_url: str = ""
    response_code: int | None = None
    backend_response_code: int | None = None
    is_request_success: bool | None = None
    last_error_reason: str = ""
    total_time_ms: float | None = None
    backend_time_ms: float | None = None
    client_time_ms: float | None = None
    request_size: int | None = None
    response_size: int | None = None
    apim_region: str = ""
    backend_region: str = ""
    apim_request_id: str = ""
    ratelimit_remaining_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    retry_after_ms: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    response_body: str = ""
    ingest_notes: str = ""
    # From the identity headers, while the backend and frontend requests' are still apart
    # (usage.identity; completed with the native row and the APIM user when usage is computed).
    caller_object_id: str = ""
    caller_source: str = ""


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


@dataclass
class LlmChunkRow:
    correlation_id: str
    time: datetime
    request_id: str = ""
    sequence_number: int = 0
    deployment_name: str = ""
    model_name: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    request_messages: str = ""
    response_messages: str = ""
    is_stream_completion: bool | None = None
    api_version: str = ""
    region: str = ""
    ingest_notes: str = ""


def headers_normalize(value: Any) -> dict[str, str]:
    """A headers ``dynamic`` cell -> {lower-case name: value}; lists are joined with ", "."""
    if not value:
        return {}
    if isinstance(value, list):  # [{"name": ..., "value": ...}] or [[name, value]]
        pairs = []
        for item in value:
            if isinstance(item, Mapping) and "name" in item:
                pairs.append((item.get("name"), item.get("value")))
            elif isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((item[0], item[1]))
            else:
                raise _Bad("headers: not an object", _show(value))
        value = dict(pairs)
    if not isinstance(value, Mapping):
        raise _Bad("headers: not an object", _show(value))
    headers = {}
    for name, header in value.items():
        if isinstance(header, list):
            header = ", ".join(_as_text(part) for part in header)
        headers[_as_text(name).strip().lower()] = _as_text(header)
    return headers


_DEPLOYMENT = re.compile(r"/deployments/([^/?#]+)", re.IGNORECASE)
_V1 = re.compile(r"/openai/v1(/|$)", re.IGNORECASE)


def url_deployment_and_version(*urls: str) -> tuple[str, str]:
    """Deployment name and api-version from the first URL that names them.

    ``.../deployments/{name}/...?api-version=X`` gives (name, X). ``/openai/v1/...`` carries the
    model in the body, so the deployment stays empty (usage accounting reads it from the body)
    and the api-version is the query's, or ``v1``.
    """
    for url in urls:
        if not url:
            continue
        parts = urlsplit(url)
        version = ""
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name.lower() == "api-version":
                version = value
                break
        match = _DEPLOYMENT.search(parts.path)
        if match:
            return unquote(match.group(1)), version
        if _V1.search(parts.path):
            return "", version or "v1"
    return "", ""


def _retry_after_ms(headers: Mapping[str, str]) -> int | None:
    for name, scale in (("retry-after-ms", 1), ("x-ms-retry-after-ms", 1), ("retry-after", 1000)):
        value = headers.get(name, "").strip()
        if value:
            number = _as_number(value)
            if number is not None and number >= 0:
                return int(number * scale)
    return None


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    number = _as_number(headers.get(name, "").strip()) if headers.get(name) else None
    if number is None or not _INT64[0] <= number <= _INT64[1]:
        return None
    return int(number)


def _headers(cells: _Cells, name: str) -> dict[str, str]:
    """A headers column, normalized, credentials redacted (never stored, see ``credentials``)."""
    value = cells.dynamic(name)
    try:
        return headers_scrub(headers_normalize(value))
    except (_Bad, ValueError, RecursionError):
        # The value is not echoed into the note: unreadable headers may still hold a credential.
        cells.note(name, "not an object", "value withheld")
        return {}


def _parse_gateway(row: Mapping[str, Any]) -> GatewayRow:
    cells = _Cells(row)
    request_headers = _headers(cells, "RequestHeaders")
    backend_request_headers = _headers(cells, "BackendRequestHeaders")
    response_headers = _headers(cells, "ResponseHeaders")
    backend_response_headers = _headers(cells, "BackendResponseHeaders")
    # What the backend answered is what we need; the client-facing copy is the fallback.
    answer = {**response_headers, **backend_response_headers}
    # The client's request headers over the backend request's, except the identity headers: the
    # backend's were set by the APIM policy from the validated token, so they win (usage.identity).
    names = identity_header_names()
    caller = caller_from_headers(backend=backend_request_headers, frontend=request_headers, names=names)
    merged_request_headers = {**backend_request_headers, **request_headers}
    merged_request_headers.update((n, v) for n, v in backend_request_headers.items() if n in names)

    url = cells.text("Url")
    backend_url = cells.text("BackendUrl")
    deployment, api_version = url_deployment_and_version(url, backend_url)
    # Only what the header says: without it the region comes from the joined native row or the
    # backend host's learned region when usage is computed (usage.regions), never the host name.
    backend_region = region_normalize(answer.get("x-ms-region", ""))

    return GatewayRow(
        correlation_id=cells.key("CorrelationId"),
        time=cells.moment("TimeGenerated"),
        apim_subscription_id=cells.text("ApimSubscriptionId"),
        product_id=cells.text("ProductId"),
        user_id=cells.text("UserId"),
        api_id=cells.text("ApiId"),
        operation_id=cells.text("OperationId"),
        caller_ip=cells.text("CallerIpAddress"),
        method=cells.text("Method"),
        url=url,
        deployment=deployment,
        api_version=api_version,
        backend_id=cells.text("BackendId"),
        backend_url=backend_url,
        response_code=cells.integer("ResponseCode", _INT32),
        backend_response_code=cells.integer("BackendResponseCode", _INT32),
        is_request_success=cells.boolean("IsRequestSuccess"),
        last_error_reason=cells.text("LastErrorReason"),
        total_time_ms=cells.number("TotalTime", non_negative=True),
        backend_time_ms=cells.number("BackendTime", non_negative=True),
        client_time_ms=cells.number("ClientTime", non_negative=True),
        request_size=cells.integer("RequestSize", _NON_NEGATIVE),
        response_size=cells.integer("ResponseSize", _NON_NEGATIVE),
        apim_region=region_normalize(cells.text("Region")),
        backend_region=backend_region,
        apim_request_id=answer.get("apim-request-id", "").strip().lower()[:KEY_MAX_LENGTH],
        ratelimit_remaining_requests=_header_int(answer, "x-ratelimit-remaining-requests"),
        ratelimit_remaining_tokens=_header_int(answer, "x-ratelimit-remaining-tokens"),
        retry_after_ms=_retry_after_ms(answer),
        request_headers=merged_request_headers,
        response_headers=answer,
        request_body=cells.text("RequestBody") or cells.text("BackendRequestBody"),
        response_body=cells.text("BackendResponseBody") or cells.text("ResponseBody"),
        ingest_notes=_notes(cells),
        caller_object_id=caller.object_id,
        caller_source=caller.source,
    )


def _notes(cells: _Cells) -> str:
    return "; ".join(cells.notes)


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


def _parse_llm(row: Mapping[str, Any]) -> LlmChunkRow:
    cells = _Cells(row)
    correlation_id = cells.key("CorrelationId")
    time = cells.moment("TimeGenerated")
    # RequestId and SequenceNumber are part of the chunk's key: unusable ones reject the row.
    raw_request_id = cells.raw("RequestId")
    if isinstance(raw_request_id, bool | dict | list | float):
        raise _Bad("RequestId: not a text", _show(raw_request_id))
    request_id = "" if raw_request_id is None else _as_text(raw_request_id).strip()
    if len(request_id) > KEY_MAX_LENGTH:
        raise _Bad(f"RequestId: longer than {KEY_MAX_LENGTH} characters", _show(request_id))
    if has_surrogate(request_id):
        raise _Bad("RequestId: lone surrogate", _show(request_id))
    sequence = _sequence_number(cells.raw("SequenceNumber"))
    return LlmChunkRow(
        correlation_id=correlation_id,
        time=time,
        request_id=request_id,
        sequence_number=sequence,
        deployment_name=cells.text("DeploymentName"),
        model_name=cells.text("ModelName"),
        prompt_tokens=cells.integer("PromptTokens", _NON_NEGATIVE),
        completion_tokens=cells.integer("CompletionTokens", _NON_NEGATIVE),
        total_tokens=cells.integer("TotalTokens", _NON_NEGATIVE),
        request_messages=cells.text("RequestMessages"),
        response_messages=cells.text("ResponseMessages"),
        is_stream_completion=cells.boolean("IsStreamCompletion"),
        api_version=cells.text("ApiVersion"),
        region=cells.text("Region"),
        ingest_notes=_notes(cells),
    )


def _sequence_number(value: Any) -> int:
    if value is None or value == "":
        return 0
    number = _as_number(value)
    if number is None or number != int(number):
        raise _Bad("SequenceNumber: not an integer", _show(value))
    if not 0 <= number <= _INT32[1]:
        raise _Bad("SequenceNumber: out of range", _show(value))
    return int(number)


def _guard(parse: Callable[[Mapping[str, Any]], Any], row: Any) -> Any:
    if not isinstance(row, Mapping):
        return Rejection("row is not an object", _show(row))
    try:
        return parse(row)
    except _Bad as bad:
        return bad.rejection
    except Exception as error:  # defensive: a value no check above foresaw
        return Rejection("unreadable row", _show(f"{type(error).__name__}: {error}", 200))


def gateway_row_parse(row: Mapping[str, Any]) -> GatewayRow | Rejection:
    """One ApiManagementGatewayLogs row -> ``GatewayRow``, or a ``Rejection``."""
    return _guard(_parse_gateway, row)


def native_row_parse(row: Mapping[str, Any]) -> NativeRow | Rejection:
    """One AzureDiagnostics row (Azure OpenAI, RequestResponse) -> ``NativeRow``, or a ``Rejection``."""
    return _guard(_parse_native, row)


def llm_row_parse(row: Mapping[str, Any]) -> LlmChunkRow | Rejection:
    """One ApiManagementGatewayLlmLog row -> ``LlmChunkRow``, or a ``Rejection``."""
    return _guard(_parse_llm, row)


PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    GATEWAY: gateway_row_parse,
    NATIVE: native_row_parse,
    LLM_LOG: llm_row_parse,
}
