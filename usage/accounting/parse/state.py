"""What the parser's steps share about the request being parsed."""

from typing import Any

from .inputs import LlmLogInput, NativeInput, RequestInput, UsageResult
from .readers import _text


class ParserState:
    """The request being parsed and what the steps have read of it so far."""

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
