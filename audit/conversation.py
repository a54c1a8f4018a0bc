"""The conversation of one request: its prompt messages and its completion, as plain text.

Taken from the logged bodies when they parse (JSON or an SSE stream), otherwise from the APIM
LLM-log chunks (not cut at 8,192 bytes), otherwise salvaged from what is left of a cut body.
Kept small on purpose: usage.accounting owns token and cost parsing; this only needs text.
Flag spans are offsets into ``Message.text`` as built here, so the function must stay
deterministic for the same inputs.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from usage.db.json import json_loads


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant | tool | developer | ...
    text: str


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)  # the prompt
    completion: list[Message] = field(default_factory=list)  # usually one assistant message
    # Where each part came from: body | stream | llm_log | salvaged | none.
    prompt_source: str = "none"
    completion_source: str = "none"

    @property
    def is_empty(self) -> bool:
        return not self.messages and not self.completion

    def part(self, name: str) -> list[Message]:
        return self.messages if name == "prompt" else self.completion


def _content_text(content: Any) -> str:
    """A message ``content``: a string, or a list of parts (text / input_text / output_text / refusal)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                value = part.get("text", part.get("refusal"))
                if isinstance(value, dict):  # older shapes: {"text": {"value": ...}}
                    value = value.get("value")
                if isinstance(value, str):
                    texts.append(value)
        return "\n".join(texts)
    if isinstance(content, dict):
        return _content_text([content])
    return str(content)


def _message(raw: Any, default_role: str) -> Message | None:
    if isinstance(raw, str):
        return Message(default_role, raw)
    if not isinstance(raw, dict):
        return None
    role = str(raw.get("role") or default_role)
    text = _content_text(raw.get("content"))
    calls = raw.get("tool_calls") or ([raw["function_call"]] if raw.get("function_call") else [])
    for call in calls:
        if isinstance(call, dict):
            function = call.get("function", call)
            name = function.get("name", "")
            arguments = function.get("arguments", "")
            text += ("\n" if text else "") + f"[tool call {name}] {arguments}"
    if raw.get("type") == "function_call_output":
        role, text = "tool", str(raw.get("output", ""))
    return Message(role, text)


def prompt_messages_parse(document: Any) -> list[Message]:
    """Chat ``messages``; Responses ``instructions`` + ``input``; completions ``prompt``; embeddings ``input``."""
    if isinstance(document, list):  # an LLM-log RequestMessages array
        return [m for m in (_message(raw, "user") for raw in document) if m]
    if not isinstance(document, dict):
        return [Message("user", str(document))] if document not in (None, "") else []
    messages: list[Message] = []
    if isinstance(document.get("instructions"), str):
        messages.append(Message("system", document["instructions"]))
    for key in ("messages", "input", "prompt"):
        value = document.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for raw in items:
            message = _message(raw, "user")
            if message:
                messages.append(message)
    return messages


def completion_parse(document: Any) -> list[Message]:
    """Chat ``choices[].message``, completions ``choices[].text``, Responses ``output[]``."""
    if isinstance(document, list):  # an LLM-log ResponseMessages array
        return [m for m in (_message(raw, "assistant") for raw in document) if m]
    if not isinstance(document, dict):
        return [Message("assistant", str(document))] if document not in (None, "") else []
    messages: list[Message] = []
    for choice in document.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("message"), dict):
            message = _message(choice["message"], "assistant")
            if message:
                messages.append(message)
        elif isinstance(choice.get("text"), str):
            messages.append(Message("assistant", choice["text"]))
    for item in document.get("output") or []:
        if isinstance(item, dict) and item.get("type") in ("message", "function_call"):
            if item.get("type") == "function_call":
                text = f"[tool call {item.get('name', '')}] {item.get('arguments', '')}"
                messages.append(Message("assistant", text))
            else:
                messages.append(
                    Message(str(item.get("role") or "assistant"), _content_text(item.get("content")))
                )
    return messages


def _stream_completion(body: str) -> list[Message] | None:
    """Concatenate the deltas of an SSE stream (chat ``choices[].delta`` or Responses events)."""
    if "data:" not in body:
        return None
    texts: dict[int, list[str]] = {}
    tool_args: dict[int, list[str]] = {}
    seen = False
    for line in body.splitlines():
        if not line:  # the blank line after every event
            continue
        line = line.strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload in ("", "[DONE]"):
            continue
        try:
            event = json_loads(payload)
        except ValueError:
            continue  # the cut last line of a truncated stream
        seen = True
        if not isinstance(event, dict):
            continue
        if event.get("type") == "response.output_text.delta":
            texts.setdefault(int(event.get("output_index") or 0), []).append(str(event.get("delta", "")))
            continue
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = int(choice.get("index") or 0)
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str):
                    # Not setdefault(index, []): that builds a list for every delta.
                    if index in texts:
                        texts[index].append(content)
                    else:
                        texts[index] = [content]
                for call in delta.get("tool_calls") or ():
                    arguments = (
                        (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                    )
                    if isinstance(arguments, str):
                        tool_args.setdefault(index, []).append(arguments)
            elif isinstance(choice.get("text"), str):
                texts.setdefault(index, []).append(choice["text"])
    if not seen:
        return None
    messages = []
    for index in sorted(set(texts) | set(tool_args)):
        text = "".join(texts.get(index, []))
        if tool_args.get(index):
            text += ("\n" if text else "") + "[tool call] " + "".join(tool_args[index])
        messages.append(Message("assistant", text))
    return messages


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json_loads(text)
    except ValueError:
        return False, None


_ROLE_CONTENT = re.compile(r'"role"\s*:\s*"(\w+)"')
# The string value unrolled (runs of plain characters between escapes): the same match as
# ((?:[^"\\]|\\.)*), with one repeat per run instead of one alternation per character.
_CONTENT = re.compile(r'"(?:content|text|input|prompt|instructions)"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)("?)')


def _unescape(fragment: str) -> str:
    fragment = re.sub(r"\\u[0-9a-fA-F]{0,3}$|\\$", "", fragment)  # an escape cut in half
    try:
        text: str = json.loads(f'"{fragment}"')
        return text
    except ValueError:
        return fragment


def _salvage(body: str, default_role: str) -> list[Message]:
    """Text strings of a JSON body cut at 8,192 bytes (the last one may be cut too)."""
    messages = []
    for match in _CONTENT.finditer(body):
        # The role given in the 200 characters before (not a copy of all of them per match).
        roles = _ROLE_CONTENT.findall(body[max(match.start() - 200, 0) : match.start()])
        messages.append(Message(roles[-1] if roles else default_role, _unescape(match.group(1))))
    return [m for m in messages if m.text]


def llm_log_join(parts: list[str]) -> Any:
    """Chunks of one LLM-log column, in sequence order, joined back into one JSON value (or text)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    ok, value = _json("".join(parts))
    if ok:
        return value
    values = []
    for part in parts:
        ok, value = _json(part)
        if not ok:
            return "".join(parts)
        values.extend(value if isinstance(value, list) else [value])
    return values


def conversation_extract(
    *,
    request_body: str,
    response_body: str,
    llm_request_messages: list[str] | None = None,
    llm_response_messages: list[str] | None = None,
) -> Conversation:
    """Build the conversation; ``llm_*`` are the LLM-log columns of each chunk in sequence order."""
    conversation = Conversation()
    ok, document = _json(request_body) if request_body else (False, None)
    llm_request = llm_log_join(llm_request_messages or [])
    if ok and (messages := prompt_messages_parse(document)):
        conversation.messages, conversation.prompt_source = messages, "body"
    elif llm_request is not None and (messages := prompt_messages_parse(llm_request)):
        conversation.messages, conversation.prompt_source = messages, "llm_log"
    elif request_body and (messages := _salvage(request_body, "user")):
        conversation.messages, conversation.prompt_source = messages, "salvaged"

    ok, document = _json(response_body) if response_body else (False, None)
    llm_response = llm_log_join(llm_response_messages or [])
    stream = None if ok or not response_body else _stream_completion(response_body)
    stream_complete = stream is not None and "[DONE]" in response_body
    if ok and (messages := completion_parse(document)):
        conversation.completion, conversation.completion_source = messages, "body"
    elif stream_complete and stream:
        conversation.completion, conversation.completion_source = stream, "stream"
    elif llm_response is not None and (messages := completion_parse(llm_response)):
        conversation.completion, conversation.completion_source = messages, "llm_log"
    elif stream:
        conversation.completion, conversation.completion_source = stream, "stream_cut"
    elif response_body and not ok and (messages := _salvage(response_body, "assistant")):
        conversation.completion, conversation.completion_source = messages, "salvaged"
    return conversation
