"""The gateway table's record and parser: ApiManagementGatewayLogs -> ``GatewayRow``.

``GatewayRow`` is stored as a ``GatewayRequest``. Besides its cells, a gateway row is read from its
headers (normalized, credentials redacted, the caller's identity headers taken from the backend
request first) and its URL (deployment and api-version). Guarded and named by table in
``rows.py``, which describes what every parser does with bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from usage.identity.sources import caller_from_headers, identity_header_names
from usage.regions import region_normalize

from .cells import (
    _INT32,
    _INT64,
    _NON_NEGATIVE,
    KEY_MAX_LENGTH,
    _as_number,
    _as_text,
    _Bad,
    _Cells,
    _notes,
    _show,
)
from .credentials import headers_scrub


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
