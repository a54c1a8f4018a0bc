"""Parse one Azure OpenAI call, as APIM logged it, into a usage record.

``usage_parse`` is a pure function (apart from the offline tokenizer): give it the URL, bodies and
headers of one gateway request, plus what its join partners know (the native Azure OpenAI log row
and the APIM LLM-log chunks), and it returns a ``UsageResult``. It never raises: input it cannot
read comes back as ``token_source="unknown"`` with a ``reason``.

Where tokens come from, best first:

1. ``reported``: a ``usage`` object in the response body (any SSE chunk whose usage is not null).
2. ``llm_log``: the APIM LLM log, which has tokens for streams and is never cut at 8,192 bytes.
3. ``estimated``: the model's tokenizer over the request messages (with the chat per-message
   overhead, tools and functions) and over the reassembled completion text; when the response
   body was cut, the readable part is scaled by the full ``responseLength`` of the native log,
   or, without a native row, by APIM's ``ResponseSize`` less the headers' share (and the same for
   a cut request body with ``requestLength`` / ``RequestSize``).
4. ``none`` (an error response, which costs nothing) or ``unknown`` (nothing readable).
"""

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from usage.db.json import json_loads

from .tokens import TokenizerUnavailable, tokens_count

APIM_BODY_LIMIT = 8192
# Bytes of the HTTP headers inside APIM's ResponseSize / RequestSize (which count headers and
# body), when the headers logged are fewer: an Azure OpenAI answer through APIM carries about
# twenty headers (content type and length, date, apim-request-id, x-request-id, x-ms-region,
# the x-ratelimit-* pairs, strict-transport-security, ...), a client request its host, content
# type and length, user agent and an api-key or a bearer token. Cut bodies are over 8 KiB, so an
# error of a few hundred bytes here moves an estimate by a few per cent at most.
RESPONSE_HEADER_BYTES = 600
REQUEST_HEADER_BYTES = 500

REPORTED = "reported"
LLM_LOG = "llm_log"
ESTIMATED = "estimated"
NONE = "none"
UNKNOWN = "unknown"

CHAT = "chat"
COMPLETION = "completion"
EMBEDDINGS = "embeddings"
IMAGE = "image"
AUDIO_TRANSCRIPTION = "audio_transcription"
AUDIO_TRANSLATION = "audio_translation"
RESPONSES = "responses"
ASSISTANTS = "assistants"
OTHER = "other"

# Path suffix -> operation, most specific first (chat/completions before completions).
_PATH_OPERATIONS = (
    ("/chat/completions", CHAT),
    ("/completions", COMPLETION),
    ("/embeddings", EMBEDDINGS),
    ("/images/generations", IMAGE),
    ("/images/edits", IMAGE),
    ("/images/variations", IMAGE),
    ("/audio/transcriptions", AUDIO_TRANSCRIPTION),
    ("/audio/translations", AUDIO_TRANSLATION),
    ("/responses", RESPONSES),
)
_ASSISTANTS_SEGMENTS = {"assistants", "threads", "runs", "vector_stores"}
# APIM operation ids of the Azure OpenAI API definition (casing varies).
_OPERATION_IDS = {
    "chatcompletions_create": CHAT,
    "completions_create": COMPLETION,
    "embeddings_create": EMBEDDINGS,
    "imagegenerations_create": IMAGE,
    "images_create": IMAGE,
    "transcriptions_create": AUDIO_TRANSCRIPTION,
    "translations_create": AUDIO_TRANSLATION,
    "responses_create": RESPONSES,
}
_DEPLOYMENT_IN_PATH = re.compile(r"/deployments/([^/?#]+)", re.IGNORECASE)
_VERSION_SUFFIX = re.compile(r"^(?P<model>.+?)-(?P<version>\d{4}-\d{2}-\d{2}|\d{4})$")
# The rest of an SSE "data:" line (``.`` and ``^`` stop at "\n" only, as the line split did).
_SSE_DATA_LINE = re.compile(r"^data:(.*)", re.MULTILINE)
_CONTENT_LINE = re.compile(r'"(?:content|text|arguments|delta)"\s*:\s*"[^"]')
_RESPONSES_END_EVENTS = {"response.completed", "response.incomplete", "response.failed"}
# Keys whose string values are text the model read or wrote (for cut bodies). The string body is
# written [^"\\]*(?:\\.[^"\\]*)*, not (?:[^"\\]|\\.)*: the same match, without a branch per character.
_PARTIAL_TEXT = re.compile(
    r'"(?:content|text|arguments|input|instructions|prompt|delta|name)"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)',
    re.DOTALL,
)
_PARTIAL_MODEL = re.compile(r'"model"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
# What json.loads would change or refuse inside a string literal.
_JSON_STRING_SPECIAL = re.compile(r'["\\\x00-\x1f]')


@dataclass(frozen=True)
class RequestInput:
    """What APIM logged about one request (ApiManagementGatewayLogs)."""

    url: str = ""
    response_code: int | None = None
    request_body: str | bytes = ""
    response_body: str | bytes = ""
    request_headers: Any = None
    response_headers: Any = None
    operation_id: str = ""
    deployment: str = ""
    api_version: str = ""
    # APIM's RequestSize / ResponseSize: bytes of the whole request / answer, headers included.
    request_size: int | None = None
    response_size: int | None = None


def _headers_bytes(raw: Any, floor: int) -> int:
    """Bytes the headers of a message take on the wire: those logged (``name: value`` lines and
    the status line), or ``floor`` when more than the logged ones were surely sent."""
    headers = _headers(raw)
    logged = sum(len(name) + len(value) + 4 for name, value in headers.items()) + 19 if headers else 0
    return max(logged, floor)


@dataclass(frozen=True)
class NativeInput:
    """The joined Azure OpenAI RequestResponse row (AzureDiagnostics), if any."""

    model_name: str = ""
    model_version: str = ""
    model_deployment: str = ""
    stream_type: str = ""
    request_length: int | None = None
    response_length: int | None = None


@dataclass(frozen=True)
class LlmLogInput:
    """The joined APIM LLM-log chunks of the request, merged."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    model_name: str = ""
    deployment_name: str = ""
    is_stream_completion: bool | None = None

    @property
    def has_tokens(self) -> bool:
        return self.prompt_tokens is not None or self.completion_tokens is not None


@dataclass
class UsageResult:
    operation: str = OTHER
    deployment: str = ""
    api_version: str = ""
    model: str = ""
    model_version: str = ""
    is_streaming: bool = False
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    images: int = 0
    image_size: str = ""
    image_quality: str = ""
    audio_seconds: float = 0.0
    finish_reason: str = ""
    token_source: str = UNKNOWN
    is_truncated: bool = False
    is_error: bool = False
    content_filter: dict = field(default_factory=dict)
    completion_text: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    reason: str = ""


def llm_log_merge(chunks: Iterable[Any]) -> LlmLogInput | None:
    """Merge the LLM-log rows of one request (any objects with the LlmLogChunk attributes).

    Chunks are ordered by sequence number; each field takes the first non-empty value.
    """
    ordered = sorted(chunks, key=lambda c: getattr(c, "sequence_number", 0) or 0)
    if not ordered:
        return None

    def first(attr: str) -> Any:
        for chunk in ordered:
            value = getattr(chunk, attr, None)
            if value not in (None, ""):
                return value
        return None

    return LlmLogInput(
        prompt_tokens=first("prompt_tokens"),
        completion_tokens=first("completion_tokens"),
        total_tokens=first("total_tokens"),
        model_name=first("model_name") or "",
        deployment_name=first("deployment_name") or "",
        is_stream_completion=first("is_stream_completion"),
    )


def usage_parse(
    *, request: RequestInput, native: NativeInput | None = None, llm_log: LlmLogInput | None = None
) -> UsageResult:
    """Usage of one request. Never raises; unreadable input gives token_source ``unknown``."""
    try:
        return _Parser(request, native, llm_log).run()
    except Exception as exc:  # noqa: BLE001 - a bad row must never break a batch
        return UsageResult(token_source=UNKNOWN, reason=f"parser error: {type(exc).__name__}: {exc}"[:200])


# --- small readers ------------------------------------------------------------------------------


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _byte_len(text: str) -> int:
    if text.isascii():  # O(1): CPython keeps the flag; no copy to encode
        return len(text)
    return len(text.encode("utf-8", errors="replace"))


def _int(value: Any) -> int:
    if type(value) is int:  # the usual case first (not bool, which is a subclass)
        return value if value > 0 else 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and abs(value) < 1e15:
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


_USAGE_COUNTS = ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens", "total_tokens")
_USAGE_DETAILS = (
    ("input_tokens_details", "cached_tokens"),
    ("output_tokens_details", "reasoning_tokens"),
    ("prompt_tokens_details", "cached_tokens"),
    ("completion_tokens_details", "reasoning_tokens"),
)
_TOKENS_MAX = 2**53  # no call uses more; a larger count is not a count


def _count_unusable(value: Any) -> bool:
    """A token count that is present but not one: negative, NaN, infinite, too large, not a number
    (null is absent, not unusable)."""
    if value is None:
        return False
    if type(value) is int:
        return not 0 <= value <= _TOKENS_MAX
    if isinstance(value, float):
        return not 0 <= value <= _TOKENS_MAX  # NaN fails every comparison; a fraction is cut
    if isinstance(value, str):
        digits = value.strip()
        return not (digits.isdigit() and len(digits) <= 16 and int(digits) <= _TOKENS_MAX)
    return True  # bools, lists, objects


def _usage_unusable(usage: Any) -> str:
    """"prompt_tokens: -5" for the first count of ``usage`` that cannot be used, else ""."""
    if not isinstance(usage, dict):
        return ""
    for name in _USAGE_COUNTS:
        if _count_unusable(usage.get(name)):
            return f"{name}: {_brief(usage.get(name))}"
    for details, name in _USAGE_DETAILS:
        value = _dict(usage.get(details)).get(name)
        if _count_unusable(value):
            return f"{details}.{name}: {_brief(value)}"
    return ""


def _brief(value: Any) -> str:
    try:
        return str(value)[:20]
    except ValueError:  # an int of more than 4,300 digits
        return "a number too large"


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _headers(raw: Any) -> dict[str, str]:
    """Headers as a lower-cased dict, from a dict, a list of name/value pairs or JSON text."""
    if isinstance(raw, str | bytes):
        try:
            raw = json_loads(raw)
        except ValueError:
            return {}
    if isinstance(raw, dict):
        return {str(k).lower(): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        out: dict[str, str] = {}
        for item in raw:
            if isinstance(item, dict) and "name" in item:
                out[str(item["name"]).lower()] = str(item.get("value", ""))
        return out
    return {}


def _header(raw: Any, name: str) -> str:
    """``_headers(raw).get(name, "")``; a dict (the usual case) is searched without copying it."""
    if isinstance(raw, dict):
        found = ""
        for key, value in raw.items():
            if str(key).lower() == name:
                found = str(value)  # the last spelling wins, as in _headers
        return found
    return _headers(raw).get(name, "")


@functools.lru_cache(maxsize=1024)  # a few model names, split on every request
def model_split(raw: str) -> tuple[str, str]:
    """``gpt-4o-2024-08-06`` -> (``gpt-4o``, ``2024-08-06``); ``gpt-35-turbo`` -> (it, "")."""
    name = (raw or "").strip().lower()
    match = _VERSION_SUFFIX.match(name)
    if match and not name.startswith("text-embedding"):
        return match.group("model"), match.group("version")
    return name, ""


def _json_string_decode(raw: str) -> str:
    """Decode the inside of a JSON string literal that may have been cut anywhere."""
    if not _JSON_STRING_SPECIAL.search(raw):
        return raw  # no escape, quote or control character: json.loads would give it back
    for cut in range(0, 7):
        candidate = raw[: len(raw) - cut] if cut else raw
        try:
            return json.loads(f'"{candidate}"')
        except ValueError:
            continue
    return raw.replace("\\n", "\n").replace('\\"', '"')


def _is_content_line(payload: str) -> bool:
    """``_CONTENT_LINE`` is in ``payload``; the compact ``"content":"x`` most lines carry is found by
    a plain substring search first (the regex tries its alternatives at every quote)."""
    at = payload.find('"content":"')
    if at >= 0 and payload[at + 11 : at + 12] not in ('"', ""):
        return True
    return _CONTENT_LINE.search(payload) is not None


def _partial_strings(text: str) -> list[str]:
    """The readable text values of a JSON document that was cut (content, arguments, ...)."""
    return [_json_string_decode(m.group(1)) for m in _PARTIAL_TEXT.finditer(text)]


def _partial_model(text: str) -> str:
    """The ``model`` string of a JSON document that was cut."""
    match = _PARTIAL_MODEL.search(text)
    return _json_string_decode(match.group(1)) if match else ""


@functools.lru_cache(maxsize=1024)
def _url_read(url: str) -> tuple[str, str, str]:
    """(api-version in the query, deployment in the path, operation of the path or "") of a URL.

    Cached: a gateway calls a handful of URLs, and splitting one costs more than the rest of a
    small request's parse.
    """
    raw = url.strip()
    parts = urlsplit(raw if "://" in raw or raw.startswith("/") else "/" + raw)
    path = unquote(parts.path).lower()
    api_version = (parse_qs(parts.query).get("api-version") or [""])[0]
    match = _DEPLOYMENT_IN_PATH.search(unquote(parts.path))
    deployment = match.group(1) if match else ""
    path = path.rstrip("/")
    for suffix, operation in _PATH_OPERATIONS:
        if path.endswith(suffix):
            return api_version, deployment, operation
    if set(path.split("/")) & _ASSISTANTS_SEGMENTS:
        return api_version, deployment, ASSISTANTS
    if "/responses/" in path:
        return api_version, deployment, RESPONSES
    return api_version, deployment, ""


# --- the parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, request: RequestInput, native: NativeInput | None, llm_log: LlmLogInput | None):
        self.request = request
        self.native = native
        self.llm_log = llm_log if llm_log and (llm_log.has_tokens or llm_log.model_name) else None
        self.result = UsageResult()
        self.request_text = _text(request.request_body)
        self.response_text = _text(request.response_body)
        self.request_json: dict = {}
        self.request_cut = False
        self.response_json: Any = None
        self.response_cut = False
        self.usage: dict | None = None
        self.response_model = ""
        # The stripped payloads of the SSE "data:" lines, if the answer was streamed.
        self.sse_payloads: list[str] = []

    # -- driver

    def run(self) -> UsageResult:
        r = self.result
        self._read_url()
        self._read_request_body()
        self._read_streaming_flag()
        code = self.request.response_code or 0
        if code >= 400:
            return self._error(code)
        self._read_response_body()
        self._resolve_model()
        self._tokens()
        r.total_tokens = r.total_tokens or (r.prompt_tokens + r.completion_tokens)
        r.is_truncated = self.request_cut or self.response_cut
        return r

    # -- URL, request

    def _read_url(self) -> None:
        r = self.result
        api_version, deployment, operation = _url_read(_text(self.request.url))
        r.api_version = api_version or self.request.api_version
        if deployment:
            r.deployment = deployment
        r.operation = operation or _OPERATION_IDS.get(self.request.operation_id.strip().lower(), OTHER)

    def _read_request_body(self) -> None:
        text = self.request_text.strip()
        if not text:
            return
        if text.startswith("{"):
            try:
                parsed = json_loads(text)
            except ValueError:
                self.request_cut = True
                return
            self.request_json = _dict(parsed)
        elif text.startswith("--") or "content-disposition" in text[:400].lower():
            self.request_json = self._multipart_fields(text)

    @staticmethod
    def _multipart_fields(text: str) -> dict:
        """Simple form fields of a multipart body (audio uploads): model, response_format, ..."""
        fields = {}
        for match in re.finditer(r'name="([^"]+)"\r?\n(?:[^\r\n]+\r?\n)*?\r?\n([^\r\n]{0,200})', text):
            if match.group(1) != "file":
                fields[match.group(1)] = match.group(2)
        return fields

    def _read_streaming_flag(self) -> None:
        r = self.result
        body = self.request_json
        content_type = _header(self.request.response_headers, "content-type")
        stream_type = (self.native.stream_type if self.native else "").lower()
        r.is_streaming = bool(
            body.get("stream") is True
            or str(body.get("stream", "")).lower() == "true"
            or "text/event-stream" in content_type
            or stream_type == "streaming"
            or (self.llm_log is not None and self.llm_log.is_stream_completion is True)
            or (self.request_cut and re.search(r'"stream"\s*:\s*true', self.request_text) is not None)
        )
        if not r.deployment:
            r.deployment = (
                (self.native.model_deployment if self.native else "")
                or (self.llm_log.deployment_name if self.llm_log else "")
                or self.request.deployment
                or str(body.get("model") or "")
                or _partial_model(self.request_text)
            )

    # -- errors

    def _error(self, code: int) -> UsageResult:
        r = self.result
        r.is_error = True
        r.token_source = NONE
        error = {}
        try:
            error = _dict(_dict(json_loads(self.response_text)).get("error"))
        except ValueError:
            pass
        error_code = str(error.get("code") or "")
        inner = _dict(error.get("innererror") or error.get("inner_error"))
        r.reason = f"error {code}" + (f" {error_code}" if error_code and error_code != str(code) else "")
        if error_code == "content_filter" or inner.get("code") == "ResponsibleAIPolicyViolation":
            results = _dict(inner.get("content_filter_result") or inner.get("content_filter_results"))
            r.content_filter = _filter_summary(error=results)
        self._resolve_model()
        return r

    # -- response

    def _read_response_body(self) -> None:
        text = self.response_text.strip()
        r = self.result
        if not text:
            return
        if text.startswith(("data:", "event:", ":")) or "\ndata:" in text[:2000]:
            r.is_streaming = True
            self._read_sse(text)
            return
        try:
            self.response_json = json_loads(text)
        except ValueError:
            self.response_cut = True
            self._read_cut_json(text)
            return
        body = _dict(self.response_json)
        self.response_model = str(body.get("model") or "")
        if self.result.operation == RESPONSES or body.get("object") == "response":
            self._read_responses_object(body)
        else:
            self._read_completion_object(body)

    def _read_completion_object(self, body: dict) -> None:
        r = self.result
        if isinstance(body.get("usage"), dict):
            self.usage = body["usage"]
        texts: list[str] = []
        completion_filters: dict[int, dict] = {}
        for choice in _list(body.get("choices")):
            choice = _dict(choice)
            message = _dict(choice.get("message"))
            for value in (message.get("content"), choice.get("text"), message.get("refusal")):
                if isinstance(value, str):
                    texts.append(value)
            for call in _list(message.get("tool_calls")):
                function = _dict(_dict(call).get("function"))
                r.tool_calls.append(
                    {
                        "id": str(_dict(call).get("id") or ""),
                        "name": str(function.get("name") or ""),
                        "arguments": str(function.get("arguments") or ""),
                    }
                )
            function_call = _dict(message.get("function_call"))
            if function_call:
                r.tool_calls.append(
                    {
                        "id": "",
                        "name": str(function_call.get("name") or ""),
                        "arguments": str(function_call.get("arguments") or ""),
                    }
                )
            if choice.get("finish_reason"):
                r.finish_reason = str(choice["finish_reason"])
            if isinstance(choice.get("content_filter_results"), dict):
                completion_filters[_int(choice.get("index"))] = choice["content_filter_results"]
        r.completion_text = "".join(texts)
        prompt_filters = _prompt_filters(body)
        # Images: data[] items carry their own filter results.
        data = _list(body.get("data"))
        if r.operation == IMAGE:
            r.images = len(data)
            for index, item in enumerate(data):
                item = _dict(item)
                if isinstance(item.get("content_filter_results"), dict):
                    completion_filters[index] = item["content_filter_results"]
                if isinstance(item.get("prompt_filter_results"), dict):
                    prompt_filters.append({"prompt_index": index, **item["prompt_filter_results"]})
        if r.operation in (AUDIO_TRANSCRIPTION, AUDIO_TRANSLATION):
            if isinstance(body.get("text"), str):
                r.completion_text = body["text"]
            duration = body.get("duration")
            usage = _dict(body.get("usage"))
            if usage.get("type") == "duration":
                duration = usage.get("seconds")
                self.usage = None
            if isinstance(duration, int | float) and not isinstance(duration, bool) and duration >= 0:
                r.audio_seconds = float(duration)
        r.content_filter = _filter_summary(prompt=prompt_filters, completion=completion_filters)

    def _read_responses_object(self, body: dict) -> None:
        r = self.result
        if isinstance(body.get("usage"), dict):
            self.usage = body["usage"]
        texts = []
        for item in _list(body.get("output")):
            item = _dict(item)
            if item.get("type") == "function_call":
                r.tool_calls.append(
                    {
                        "id": str(item.get("call_id") or ""),
                        "name": str(item.get("name") or ""),
                        "arguments": str(item.get("arguments") or ""),
                    }
                )
            for part in _list(item.get("content")):
                if isinstance(_dict(part).get("text"), str):
                    texts.append(part["text"])
        r.completion_text = "".join(texts)
        status = str(body.get("status") or "")
        incomplete = _dict(body.get("incomplete_details")).get("reason")
        r.finish_reason = str(incomplete or status)
        r.content_filter = _filter_summary(prompt=_prompt_filters(body))

    def _read_cut_json(self, text: str) -> None:
        """A non-streamed body cut at 8,192 bytes: keep the model and the readable text."""
        r = self.result
        self.response_model = _partial_model(text)
        if r.operation == EMBEDDINGS:
            return  # vectors, no text
        if r.operation == IMAGE:
            r.images = len(re.findall(r'"(?:b64_json|url)"\s*:', text))
        r.completion_text = "".join(_partial_strings(text))
        finish = re.findall(r'"finish_reason"\s*:\s*"([a-z_]+)"', text)
        if finish:
            r.finish_reason = finish[-1]

    def _read_sse(self, text: str) -> None:
        r = self.result
        done = False
        texts: list[str] = []
        tool_calls: dict[int, dict] = {}
        prompt_filters: list[dict] = []
        completion_filters: dict[int, dict] = {}
        last_filters: dict[int, dict] = {}
        if "\r" in text:  # the scan is cheaper than a replace that finds nothing
            text = text.replace("\r\n", "\n")
        # One C-level scan for the "data:" lines instead of a Python test per line.
        self.sse_payloads = data_lines = [p.strip() for p in _SSE_DATA_LINE.findall(text)]
        last = len(data_lines) - 1
        for position, payload in enumerate(data_lines):
            if payload == "[DONE]":
                done = True
                continue
            try:
                chunk = json_loads(payload)
            except ValueError:
                if position == last:
                    self.response_cut = True
                    texts.extend(_partial_strings(payload))
                continue
            if not isinstance(chunk, dict):
                continue  # nothing to read in it
            event_type = chunk.get("type")
            if event_type and str(event_type).startswith("response."):
                done = self._read_responses_event(chunk, texts, tool_calls) or done
                continue
            if not self.response_model and chunk.get("model"):
                self.response_model = str(chunk["model"])
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                self.usage = usage
            if "prompt_filter_results" in chunk or "prompt_annotations" in chunk:
                prompt_filters.extend(_prompt_filters(chunk))
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                continue
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if not isinstance(delta, dict):
                    delta = {}
                for value in (delta.get("content"), choice.get("text"), delta.get("refusal")):
                    if isinstance(value, str):
                        texts.append(value)
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    for call in calls:
                        call = _dict(call)
                        slot = tool_calls.setdefault(
                            _int(call.get("index")), {"id": "", "name": "", "arguments": ""}
                        )
                        function = _dict(call.get("function"))
                        if call.get("id"):
                            slot["id"] = str(call["id"])
                        if function.get("name"):
                            slot["name"] += str(function["name"])
                        if isinstance(function.get("arguments"), str):
                            slot["arguments"] += function["arguments"]
                function_call = delta.get("function_call")
                if isinstance(function_call, dict) and function_call:
                    slot = tool_calls.setdefault(-1, {"id": "", "name": "", "arguments": ""})
                    slot["name"] += str(function_call.get("name") or "")
                    slot["arguments"] += str(function_call.get("arguments") or "")
                if choice.get("finish_reason"):
                    r.finish_reason = str(choice["finish_reason"])
                results = choice.get("content_filter_results")
                if isinstance(results, dict) and results:
                    index = _int(choice.get("index"))
                    if results != last_filters.get(index):
                        last_filters[index] = results  # most chunks repeat the previous results
                        _filter_merge(completion_filters.setdefault(index, {}), results)
        if not done:
            self.response_cut = True
        r.completion_text = "".join(texts)
        r.tool_calls = [tool_calls[k] for k in sorted(tool_calls)]
        r.content_filter = _filter_summary(prompt=prompt_filters, completion=completion_filters)

    def _read_responses_event(self, chunk: dict, texts: list[str], tool_calls: dict[int, dict]) -> bool:
        """One Responses-API stream event; True when it ends the stream."""
        event_type = chunk["type"]
        if event_type == "response.output_text.delta" and isinstance(chunk.get("delta"), str):
            texts.append(chunk["delta"])
        elif event_type == "response.function_call_arguments.delta" and isinstance(chunk.get("delta"), str):
            slot = tool_calls.setdefault(
                _int(chunk.get("output_index")), {"id": "", "name": "", "arguments": ""}
            )
            slot["arguments"] += chunk["delta"]
        elif event_type == "response.output_item.added":
            item = _dict(chunk.get("item"))
            if item.get("type") == "function_call":
                slot = tool_calls.setdefault(
                    _int(chunk.get("output_index")), {"id": "", "name": "", "arguments": ""}
                )
                slot["id"] = str(item.get("call_id") or "")
                slot["name"] = str(item.get("name") or "")
        response = _dict(chunk.get("response"))
        if response.get("model") and not self.response_model:
            self.response_model = str(response["model"])
        if event_type in _RESPONSES_END_EVENTS:
            if isinstance(response.get("usage"), dict):
                self.usage = response["usage"]
            incomplete = _dict(response.get("incomplete_details")).get("reason")
            self.result.finish_reason = str(incomplete or response.get("status") or "")
            return True
        return False

    # -- model

    def _resolve_model(self) -> None:
        r = self.result
        response_model, response_version = model_split(self.response_model)
        if self.native and self.native.model_name:
            r.model, name_version = model_split(self.native.model_name)
            r.model_version = self.native.model_version or name_version or response_version
        elif response_model:
            r.model, r.model_version = response_model, response_version
        elif self.llm_log and self.llm_log.model_name:
            r.model, r.model_version = model_split(self.llm_log.model_name)
        elif self.request_json.get("model") and not _DEPLOYMENT_IN_PATH.search(_text(self.request.url)):
            # /openai/v1/... names the deployment in the body; it is the best hint we have.
            r.model, r.model_version = model_split(str(self.request_json["model"]))
        r.model = r.model[:128]
        r.model_version = r.model_version[:64]

    # -- tokens

    def _tokens(self) -> None:
        r = self.result
        unusable = _usage_unusable(self.usage) if self.usage is not None else ""
        if self.usage is not None and not unusable and self._apply_usage(self.usage):
            r.token_source = REPORTED
            return
        self._tokens_not_reported()
        if unusable:
            # Negative or NaN counts are not a report of zero tokens: what was estimated (or taken
            # from the LLM log) stands, and the note says why the body's usage was not taken.
            r.reason = "; ".join(filter(None, [f"usage in the response unusable ({unusable})", r.reason]))[:200]

    def _tokens_not_reported(self) -> None:
        r = self.result
        if self.llm_log is not None and self.llm_log.has_tokens:
            r.prompt_tokens = _int(self.llm_log.prompt_tokens)
            r.completion_tokens = _int(self.llm_log.completion_tokens)
            r.total_tokens = _int(self.llm_log.total_tokens) or r.prompt_tokens + r.completion_tokens
            r.token_source = LLM_LOG
            if self.response_cut or self.request_cut:
                r.reason = "body cut at 8,192 bytes; tokens from the APIM LLM log"
            return
        if r.operation in (IMAGE, AUDIO_TRANSCRIPTION, AUDIO_TRANSLATION):
            self._non_token_operation()
            return
        if not self.request_text.strip() and not self.response_text.strip():
            r.token_source = UNKNOWN
            r.reason = "no body logged and no LLM log"
            return
        self._estimate()

    def _apply_usage(self, usage: dict) -> bool:
        r = self.result
        if "input_tokens" in usage or "output_tokens" in usage:
            r.prompt_tokens = _int(usage.get("input_tokens"))
            r.completion_tokens = _int(usage.get("output_tokens"))
            r.cached_tokens = _int(_dict(usage.get("input_tokens_details")).get("cached_tokens"))
            r.reasoning_tokens = _int(_dict(usage.get("output_tokens_details")).get("reasoning_tokens"))
        elif "prompt_tokens" in usage or "completion_tokens" in usage:
            r.prompt_tokens = _int(usage.get("prompt_tokens"))
            r.completion_tokens = _int(usage.get("completion_tokens"))
            r.cached_tokens = _int(_dict(usage.get("prompt_tokens_details")).get("cached_tokens"))
            r.reasoning_tokens = _int(_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"))
        else:
            return False
        r.total_tokens = _int(usage.get("total_tokens")) or r.prompt_tokens + r.completion_tokens
        return True

    def _non_token_operation(self) -> None:
        """Images (dall-e) and whisper audio are billed per image / per minute, not per token."""
        r = self.result
        body = self.request_json
        if r.operation == IMAGE:
            if self.response_cut or not self.response_text.strip():
                r.images = max(r.images, _int(body.get("n")) or 1)
            r.image_size = str(body.get("size") or "")[:32]
            r.image_quality = str(body.get("quality") or "")[:32]
        if self.response_cut:
            r.reason = "body cut at 8,192 bytes"
        r.token_source = NONE

    def _estimate(self) -> None:
        r = self.result
        hint = r.model or ("text-embedding-3-small" if r.operation == EMBEDDINGS else r.deployment)
        try:
            prompt, prompt_complete = self._estimate_prompt(hint)
            completion = 0
            if r.operation != EMBEDDINGS:
                completion = tokens_count(r.completion_text, model=hint)
                completion += sum(
                    tokens_count(c["name"], model=hint) + tokens_count(c["arguments"], model=hint)
                    for c in r.tool_calls
                )
        except TokenizerUnavailable as exc:
            r.token_source = UNKNOWN
            r.reason = f"tokenizer unavailable: {exc}"[:200]
            return
        notes = []
        if self.response_cut and r.operation != EMBEDDINGS:
            full_length, by = self._full_length(response=True)
            scaled = self._scale_completion(completion, full_length)
            if scaled is None:
                notes.append("response cut, completion counted from the readable part only")
            else:
                completion = scaled
                notes.append(f"response cut, completion scaled by {by}")
        if not prompt_complete:
            full_length, by = self._full_length(response=False)
            scaled = self._scale(prompt, self.request_text, full_length)
            if scaled is None:
                notes.append("request cut, prompt counted from the readable part only")
            else:
                prompt = scaled
                notes.append(f"request cut, prompt scaled by {by}")
        if not self.response_text.strip() and r.operation != EMBEDDINGS:
            notes.append("response body not logged")
        r.prompt_tokens, r.completion_tokens = prompt, completion
        r.total_tokens = prompt + completion
        r.token_source = ESTIMATED
        r.reason = "; ".join(notes)

    def _content_line_bytes(self) -> int:
        """Bytes of the SSE lines that carried completion text / tool arguments, with their
        "data: " and blank line (computed only when a cut stream is scaled)."""
        return sum(_byte_len(p) + 8 for p in self.sse_payloads if _is_content_line(p))

    def _full_length(self, *, response: bool) -> tuple[int | None, str]:
        """Bytes of the whole body and where they come from: the native row's length, else
        APIM's size of the whole message less its headers (estimated: ``_headers_bytes``)."""
        native = self.native
        length = native and (native.response_length if response else native.request_length)
        if length:
            return length, "responseLength" if response else "requestLength"
        request = self.request
        size = request.response_size if response else request.request_size
        if not size or size <= 0:
            return None, ""
        if response:
            headers = _headers_bytes(request.response_headers, RESPONSE_HEADER_BYTES)
            return size - headers, "ResponseSize less headers"
        headers = _headers_bytes(request.request_headers, REQUEST_HEADER_BYTES)
        return size - headers, "RequestSize less headers"

    def _scale_completion(self, tokens: int, full_length: int | None) -> int | None:
        """Completion tokens of the whole answer from its readable part and its full length.

        A stream is extrapolated at the bytes-per-token rate of the SSE lines that carried
        text (the first frames only carry filter results); a JSON answer by its text bytes.
        """
        readable_bytes = _byte_len(self.response_text)
        if not full_length or full_length <= readable_bytes or tokens <= 0:
            return None
        content_line_bytes = self._content_line_bytes() if self.result.is_streaming else 0
        if content_line_bytes:
            per_token = content_line_bytes / tokens
        else:
            text_bytes = len(
                json.dumps(self.result.completion_text, ensure_ascii=False).encode("utf-8", "replace")
            )
            per_token = max(text_bytes, 1) / tokens
        return round(tokens + (full_length - readable_bytes) / per_token)

    @staticmethod
    def _scale(tokens: int, readable: str, full_length: int | None) -> int | None:
        readable_bytes = _byte_len(readable)
        if not full_length or readable_bytes <= 0 or full_length <= readable_bytes:
            return None
        return round(tokens * full_length / readable_bytes)

    def _estimate_prompt(self, hint: str) -> tuple[int, bool]:
        """Prompt tokens from the request body; False when the body was cut."""
        r = self.result
        if self.request_cut:
            return sum(tokens_count(s, model=hint) for s in _partial_strings(self.request_text)), False
        body = self.request_json
        if r.operation == CHAT or "messages" in body:
            return chat_prompt_tokens(body, model=hint), True
        if r.operation == RESPONSES:
            return responses_prompt_tokens(body, model=hint), True
        if r.operation == EMBEDDINGS:
            return _input_tokens(body.get("input"), model=hint), True
        if r.operation == COMPLETION:
            return _input_tokens(body.get("prompt"), model=hint), True
        return 0, True


# --- prompt estimates ---------------------------------------------------------------------------


def _input_tokens(value: Any, *, model: str) -> int:
    """Tokens of an ``input``/``prompt``: a string, a list of strings or of token ids."""
    if isinstance(value, str):
        return tokens_count(value, model=model)
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return len(value)
        return sum(_input_tokens(v, model=model) for v in value)
    return 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            part = _dict(part)
            for key in ("text", "input_text", "output_text", "refusal"):
                if isinstance(part.get(key), str):
                    parts.append(part[key])
        return "".join(parts)
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False)


def chat_prompt_tokens(body: Mapping, *, model: str) -> int:
    """OpenAI cookbook estimate: 3 per message + its values (+1 per name) + 3 reply priming.

    Tools / functions / tool calls are counted as their JSON text.
    """
    total = 0
    for message in _list(body.get("messages")):
        message = _dict(message)
        total += 3
        for key, value in message.items():
            if key == "content":
                total += tokens_count(_content_text(value), model=model)
            elif key in ("tool_calls", "function_call"):
                total += tokens_count(json.dumps(value, ensure_ascii=False), model=model)
            elif isinstance(value, str):
                total += tokens_count(value, model=model)
            if key == "name":
                total += 1
    total += 3
    for key in ("tools", "functions"):
        if body.get(key):
            total += tokens_count(json.dumps(body[key], ensure_ascii=False), model=model)
    return total


def responses_prompt_tokens(body: Mapping, *, model: str) -> int:
    total = tokens_count(str(body.get("instructions") or ""), model=model)
    value = body.get("input")
    if isinstance(value, str):
        total += 3 + tokens_count(value, model=model)
    else:
        for item in _list(value):
            item = _dict(item)
            total += 3 + tokens_count(_content_text(item.get("content")), model=model)
            if isinstance(item.get("output"), str):
                total += tokens_count(item["output"], model=model)
    if body.get("tools"):
        total += tokens_count(json.dumps(body["tools"], ensure_ascii=False), model=model)
    return total + 3


# --- content filters ----------------------------------------------------------------------------


def _prompt_filters(body: dict) -> list[dict]:
    raw = body.get("prompt_filter_results") or body.get("prompt_annotations")
    out = []
    for item in _list(raw):
        item = _dict(item)
        results = _dict(item.get("content_filter_results") or item.get("content_filter_result"))
        out.append({"prompt_index": _int(item.get("prompt_index")), **results})
    return out


def _filter_merge(into: dict, results: dict) -> None:
    for category, value in results.items():
        previous = _dict(into.get(category))
        if isinstance(value, dict):
            merged = {**previous, **value}
            if previous.get("filtered") or previous.get("detected"):
                merged["filtered"] = merged.get("filtered") or previous.get("filtered", False)
                merged["detected"] = merged.get("detected") or previous.get("detected", False)
            into[category] = merged
        else:
            into[category] = value


def _flags(results: dict) -> tuple[set[str], bool, set[str]]:
    """(filtered categories, jailbreak detected, blocklist ids that filtered) of one result set."""
    filtered: set[str] = set()
    jailbreak = False
    blocklists: set[str] = set()
    for category, value in results.items():
        if category in ("custom_blocklists", "customblocklists"):
            items = value
            if isinstance(value, dict):
                items = value.get("details") or []
                if value.get("filtered") and not items:
                    blocklists.add("custom")
            for item in _list(items):
                item = _dict(item)
                if item.get("filtered"):
                    blocklists.add(str(item.get("id") or "custom"))
            if blocklists:
                filtered.add("custom_blocklists")
            continue
        if not isinstance(value, dict):
            continue  # prompt_index, or a category without results
        if category == "jailbreak" and value.get("detected"):
            jailbreak = True
        if value.get("filtered"):
            filtered.add(category)
    return filtered, jailbreak, blocklists


def _filter_summary(
    *, prompt: list[dict] | None = None, completion: dict[int, dict] | None = None, error: dict | None = None
) -> dict:
    """A small JSON record of Azure content-filter results, with flags on top for queries."""
    prompt = prompt or []
    completion = completion or {}
    if not prompt and not completion and not error:
        return {}
    filtered: set[str] = set()
    jailbreak = False
    blocklists: set[str] = set()
    for results in [*prompt, *completion.values(), *([error] if error else [])]:
        f, j, b = _flags(_dict(results))
        filtered |= f
        jailbreak = jailbreak or j
        blocklists |= b
    summary: dict[str, Any] = {
        "blocked": bool(error) or bool(filtered),
        "filtered_categories": sorted(filtered),
        "jailbreak_detected": jailbreak,
        "blocklists": sorted(blocklists),
    }
    if prompt:
        summary["prompt"] = prompt
    if completion:
        summary["completion"] = {str(k): v for k, v in sorted(completion.items())}
    if error:
        summary["error"] = error
    return summary
