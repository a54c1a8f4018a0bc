"""Token estimates with the model's tokenizer, for calls without a usable count, scaled up to the
whole body when a body was cut (by the native log's length or APIM's size less the headers)."""

import json
import re
from typing import Any

from ..tokens import TokenizerUnavailable, tokens_count
from .inputs import CHAT, COMPLETION, EMBEDDINGS, ESTIMATED, RESPONSES, UNKNOWN
from .prompts import _input_tokens, chat_prompt_tokens, responses_prompt_tokens
from .readers import _byte_len, _headers, _partial_strings
from .state import ParserState

# Bytes of the HTTP headers inside APIM's ResponseSize / RequestSize (which count headers and
# body), when the headers logged are fewer: an Azure OpenAI answer through APIM carries about
# twenty headers (content type and length, date, apim-request-id, x-request-id, x-ms-region,
# the x-ratelimit-* pairs, strict-transport-security, ...), a client request its host, content
# type and length, user agent and an api-key or a bearer token. Cut bodies are over 8 KiB, so an
# error of a few hundred bytes here moves an estimate by a few per cent at most.
RESPONSE_HEADER_BYTES = 600
REQUEST_HEADER_BYTES = 500
_CONTENT_LINE = re.compile(r'"(?:content|text|arguments|delta)"\s*:\s*"[^"]')


def _headers_bytes(raw: Any, floor: int) -> int:
    """Bytes the headers of a message take on the wire: those logged (``name: value`` lines and
    the status line), or ``floor`` when more than the logged ones were surely sent."""
    headers = _headers(raw)
    logged = sum(len(name) + len(value) + 4 for name, value in headers.items()) + 19 if headers else 0
    return max(logged, floor)


def _is_content_line(payload: str) -> bool:
    """``_CONTENT_LINE`` is in ``payload``; the compact ``"content":"x`` most lines carry is found by
    a plain substring search first (the regex tries its alternatives at every quote)."""
    at = payload.find('"content":"')
    if at >= 0 and payload[at + 11 : at + 12] not in ('"', ""):
        return True
    return _CONTENT_LINE.search(payload) is not None


class Estimating(ParserState):
    """Steps that estimate tokens with the tokenizer and scale cut bodies up."""

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
