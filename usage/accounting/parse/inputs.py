"""What the parser reads and what it returns: the inputs of one request, the result, and the
names of token sources and operations."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

APIM_BODY_LIMIT = 8192

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
