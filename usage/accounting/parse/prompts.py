"""Prompt tokens of a request body by the model's tokenizer, the way the API counts them."""

import json
from collections.abc import Mapping
from typing import Any

from ..tokens import tokens_count
from .readers import _dict, _list


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
