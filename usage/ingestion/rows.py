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
``diagnostic_record_convert`` and then go through the same parsers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from usage.db.json import json_decode, json_dumps, json_nul_escapes_drop
from usage.regions import region_normalize

from .credentials import headers_scrub, raw_text_scrub
from .tables import CATEGORY_TABLES, GATEWAY, LLM_LOG, NATIVE

KEY_MAX_LENGTH = 64  # correlation ids and request ids (GUIDs) are keys: longer ones are rejected
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NON_NEGATIVE = (0, 2**63 - 1)
# A time outside [TIME_MIN, now + TIME_AHEAD) is not a log time (0001-01-01, 9999-12-31, 1900...):
# the row is rejected. Azure OpenAI did not exist before 2015.
TIME_MIN = datetime(2015, 1, 1, tzinfo=UTC)
TIME_AHEAD = timedelta(days=1)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Rejection:
    """Why a row cannot be stored. ``kind`` is stable (for grouping); ``detail`` names the value."""

    kind: str
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


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


class _Bad(Exception):
    """Raised inside a parser; turned into a Rejection at its boundary."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.rejection = Rejection(kind, detail)


def _show(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)  # escapes lone surrogates and NULs
    except ValueError:  # an int of more than 4,300 digits
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def has_surrogate(text: str) -> bool:
    """True if ``text`` holds a lone surrogate (from a ``"\\ud800"`` escape), which no database
    can store as text."""
    return not text.isascii() and _SURROGATE.search(text) is not None


class _Cells:
    """Column lookup: exact name first, then case-insensitive. Non-key values that cannot be used
    come back empty, with a note in ``notes``."""

    __slots__ = ("_row", "_lower", "notes")

    def __init__(self, row: Mapping[str, Any]) -> None:
        self._row = row
        self._lower: dict[str, Any] | None = None
        self.notes: list[str] = []

    def note(self, name: str, why: str, value: Any) -> None:
        # A note shows the value's head; a credential in it is redacted first (see ``credentials``).
        shown = raw_text_scrub(value) if isinstance(value, str) else value
        self.notes.append(f"{name}: {why} ({_show(shown, 40)})")

    def raw(self, name: str) -> Any:
        if name in self._row:
            return self._row[name]
        if self._lower is None:
            self._lower = {str(key).lower(): value for key, value in self._row.items()}
        return self._lower.get(name.lower())

    def text(self, name: str) -> str:
        value = self.raw(name)
        if type(value) is str and "\x00" not in value:
            return value  # the usual cell: nothing to convert
        try:
            return _as_text(value)
        except (ValueError, RecursionError):  # an int too long to print, a document too deep
            self.note(name, "not printable", value)
            return ""

    def integer(self, name: str, bounds: tuple[int, int] = _INT64) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        number = _as_number(value)
        if number is None or number != int(number):
            self.note(name, "not an integer", value)
            return None
        number = int(number)
        if not bounds[0] <= number <= bounds[1]:
            self.note(name, "negative" if number < 0 <= bounds[0] else "out of range", value)
            return None
        return number

    def number(self, name: str, *, non_negative: bool = False) -> float | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        number = _as_number(value)
        if number is None:
            self.note(name, "not finite" if _is_non_finite(value) else "not a number", value)
            return None
        if non_negative and number < 0:
            self.note(name, "negative", value)
            return None
        try:
            return float(number)
        except OverflowError:  # an int past a float's range
            self.note(name, "out of range", value)
            return None

    def boolean(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str | int) else ""
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        self.note(name, "not a boolean", value)
        return None

    def moment(self, name: str) -> datetime:
        value = self.raw(name)
        if value is None or value == "":
            raise _Bad(f"{name}: missing")
        parsed = datetime_parse(value)
        if parsed is None:
            raise _Bad(f"{name}: not a datetime", _show(value))
        if parsed < TIME_MIN:
            raise _Bad(f"{name}: out of range", f"{_show(value)} is before {TIME_MIN:%Y-%m-%d}")
        if parsed > datetime.now(UTC) + TIME_AHEAD:
            raise _Bad(f"{name}: out of range", f"{_show(value)} is more than a day ahead")
        return parsed

    def key(self, name: str) -> str:
        raw = self.raw(name)
        if isinstance(raw, bool | dict | list | float):
            raise _Bad(f"{name}: not a text", _show(raw))
        if isinstance(raw, int) and not _INT64[0] <= raw <= _INT64[1]:
            raise _Bad(f"{name}: longer than {KEY_MAX_LENGTH} characters", _show(raw))
        value = _as_text(raw).strip().lower()
        if not value:
            raise _Bad(f"{name}: missing")
        if len(value) > KEY_MAX_LENGTH:
            raise _Bad(f"{name}: longer than {KEY_MAX_LENGTH} characters", _show(value))
        if has_surrogate(value):
            raise _Bad(f"{name}: lone surrogate", _show(value))
        return value

    def dynamic(self, name: str) -> Any:
        """A ``dynamic`` cell: JSON text or an object; empty or not JSON -> None (noted)."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                return json_decode(text)
            except (ValueError, RecursionError):
                self.note(name, "not JSON", value)
                return None
        return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict | list):
        return json_nul_escapes_drop(json_dumps(value, ensure_ascii=False))
    return str(value)


_INFINITY = (float("inf"), float("-inf"))


def _is_non_finite(value: Any) -> bool:
    """NaN or an infinity, as a float or as text ("NaN", "Infinity", "-inf")."""
    if isinstance(value, float):
        return value != value or value in _INFINITY
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return False
        return number != number or number in _INFINITY
    return False


def _as_number(value: Any) -> float | int | None:
    """A finite number (int or float) or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if value - value == 0 else None  # NaN and infinities are not numbers here
    if not isinstance(value, str):
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if number.is_integer() and "." not in value:
        try:
            return int(value.strip())  # exact, past a float's 53 bits
        except ValueError:  # "1e3"
            return int(number)
    return number


_PORTAL_FORMATS = ("%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_ISO_SEPARATORS = ("T", " ")


def datetime_parse(value: Any) -> datetime | None:
    """ISO 8601 (any fraction digits, ``Z``), the portal's CSV format, or a datetime; UTC-aware."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    # Fast path: Python 3.11+ reads a final "Z" and 7-digit fractions (cut to microseconds, as
    # the general path does) itself, so Log Analytics times need no rewrite. Only for the usual
    # "YYYY-MM-DDThh..." shape: fromisoformat takes any character as the date/time separator
    # ("Z", "."), where the general path's rewrite refuses or reads the text differently.
    parsed = None
    if text[10:11] in _ISO_SEPARATORS and text.find("Z", 0, len(text) - 1) == -1:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
    if parsed is None:
        parsed = _datetime_parse_general(text)
        if parsed is None:
            return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _datetime_parse_general(text: str) -> datetime | None:
    """``datetime_parse`` of a stripped, non-empty text without its fast path (naive or aware)."""
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _PORTAL_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


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
        request_headers={**backend_request_headers, **request_headers},
        response_headers=answer,
        request_body=cells.text("RequestBody") or cells.text("BackendRequestBody"),
        response_body=cells.text("BackendResponseBody") or cells.text("ResponseBody"),
        ingest_notes=_notes(cells),
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


# --- diagnostic-settings records -------------------------------------------------------------


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

