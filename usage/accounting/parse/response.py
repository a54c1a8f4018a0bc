"""The answer of one call when it is not a stream: chat and completions objects (with images and
audio), Responses-API objects, an answer cut at 8,192 bytes, and error answers."""

import re

from usage.db.json import json_loads

from .filters import _filter_summary, _prompt_filters
from .inputs import AUDIO_TRANSCRIPTION, AUDIO_TRANSLATION, EMBEDDINGS, IMAGE, NONE, RESPONSES, UsageResult
from .readers import _dict, _int, _list, _partial_model, _partial_strings
from .request import RequestReading
from .streaming import StreamReading


class ResponseReading(StreamReading, RequestReading):
    """Steps that read the answer: an error, a JSON object or (by ``StreamReading``) a stream."""

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
