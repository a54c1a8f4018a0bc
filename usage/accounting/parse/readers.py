"""Small readers that never raise: text, counts, dicts and lists, headers, the readable strings
of cut JSON, and model names."""

import functools
import json
import re
from typing import Any

from usage.db.json import json_loads

_VERSION_SUFFIX = re.compile(r"^(?P<model>.+?)-(?P<version>\d{4}-\d{2}-\d{2}|\d{4})$")
# Keys whose string values are text the model read or wrote (for cut bodies). The string body is
# written [^"\\]*(?:\\.[^"\\]*)*, not (?:[^"\\]|\\.)*: the same match, without a branch per character.
_PARTIAL_TEXT = re.compile(
    r'"(?:content|text|arguments|input|instructions|prompt|delta|name)"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)',
    re.DOTALL,
)
_PARTIAL_MODEL = re.compile(r'"model"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
# What json.loads would change or refuse inside a string literal.
_JSON_STRING_SPECIAL = re.compile(r'["\\\x00-\x1f]')


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


def _partial_strings(text: str) -> list[str]:
    """The readable text values of a JSON document that was cut (content, arguments, ...)."""
    return [_json_string_decode(m.group(1)) for m in _PARTIAL_TEXT.finditer(text)]


def _partial_model(text: str) -> str:
    """The ``model`` string of a JSON document that was cut."""
    match = _PARTIAL_MODEL.search(text)
    return _json_string_decode(match.group(1)) if match else ""
