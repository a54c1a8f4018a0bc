"""The request side of one call: its URL (api-version, deployment, operation), its body, whether
the answer was streamed, and the model that served it."""

import functools
import re
from urllib.parse import parse_qs, unquote, urlsplit

from usage.db.json import json_loads

from .inputs import (
    ASSISTANTS,
    AUDIO_TRANSCRIPTION,
    AUDIO_TRANSLATION,
    CHAT,
    COMPLETION,
    EMBEDDINGS,
    IMAGE,
    OTHER,
    RESPONSES,
)
from .readers import _dict, _header, _partial_model, _text, model_split
from .state import ParserState

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


class RequestReading(ParserState):
    """Steps that read the URL and the request body, and name the model."""

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
