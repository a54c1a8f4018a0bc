"""An answer streamed as server-sent events: chat and completions chunks, Responses-API events,
and a stream cut before its end."""

import re

from usage.db.json import json_loads

from .filters import _filter_merge, _filter_summary, _prompt_filters
from .readers import _dict, _int, _partial_strings
from .state import ParserState

# The rest of an SSE "data:" line (``.`` and ``^`` stop at "\n" only, as the line split did).
_SSE_DATA_LINE = re.compile(r"^data:(.*)", re.MULTILINE)
_RESPONSES_END_EVENTS = {"response.completed", "response.incomplete", "response.failed"}


class StreamReading(ParserState):
    """Steps that read a streamed answer."""

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
