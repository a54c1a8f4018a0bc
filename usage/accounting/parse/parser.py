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

from .inputs import UNKNOWN, LlmLogInput, NativeInput, RequestInput, UsageResult
from .response import ResponseReading
from .sources import TokenSources


def usage_parse(
    *, request: RequestInput, native: NativeInput | None = None, llm_log: LlmLogInput | None = None
) -> UsageResult:
    """Usage of one request. Never raises; unreadable input gives token_source ``unknown``."""
    try:
        return _Parser(request, native, llm_log).run()
    except Exception as exc:  # noqa: BLE001 - a bad row must never break a batch
        return UsageResult(token_source=UNKNOWN, reason=f"parser error: {type(exc).__name__}: {exc}"[:200])


class _Parser(TokenSources, ResponseReading):
    """The steps of the package's modules, run in order on one request."""

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
