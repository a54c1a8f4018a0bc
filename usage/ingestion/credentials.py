"""Credentials in logged headers are never stored: only that the header was there (and its scheme).

APIM logs the headers its diagnostic settings name; a setting that names ``Authorization`` or
``api-key`` would put live credentials into the database and onto admin pages. Ingestion passes
every header set through ``headers_scrub`` once, in the row parser; migration 0023 and the
rejected-row store scrub raw text with ``raw_text_scrub``.

A header is a credential when ``header_name_is_credential`` says so: the well-known names, and any
name ending in ``-key``, ``-secret``, ``-signature``, ``-password`` or ``x-...-token``. Rate-limit
headers (``x-ratelimit-remaining-tokens``) are data and stay. Its value becomes ``[redacted]``,
or ``Bearer [redacted]`` when it starts with an authentication scheme. Scrubbing is idempotent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

REDACTED = "[redacted]"

_NAMED = frozenset(
    {
        "api-key",
        "apikey",
        "authorization",
        "proxy-authorization",
        "ocp-apim-subscription-key",
        "cookie",
        "set-cookie",
        "x-functions-key",
        "x-api-key",
    }
)
_PATTERN = re.compile(
    r"(?:^|[-_])(?:key|secret|signature|password|passwd|credentials?|apikey)$"  # x-api-key, client-secret
    r"|^x-.*token$"  # x-ms-token-aad-access-token, x-csrf-token
)
# Rate-limit and usage headers: numbers, not credentials (x-ratelimit-remaining-tokens).
_DATA = re.compile(r"^(?:x-)?(?:ms-)?ratelimit|tokens?-(?:consumed|remaining)|-tokens$")
# "Bearer abc", "Basic abc", "SharedAccessSignature sr=...": the scheme is kept.
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9._-]{0,39})\s+\S")


@lru_cache(maxsize=4096)
def header_name_is_credential(name: str) -> bool:
    """True if a header of this name carries a credential (case-insensitive, memoised per name)."""
    lower = name.strip().lower()
    if lower in _NAMED:
        return True
    if _DATA.search(lower):
        return False
    return _PATTERN.search(lower) is not None


def header_value_redact(value: Any) -> str:
    """The stored form of a credential header's value: the marker, after the scheme if any."""
    text = (
        value
        if isinstance(value, str)
        else ", ".join(map(str, value))
        if isinstance(value, list)
        else str(value)
    )
    if not text:
        return ""
    match = _SCHEME.match(text)
    if match:
        return f"{match.group(1)} {REDACTED}"
    return REDACTED


def headers_scrub(headers: Mapping[str, Any]) -> dict[str, Any]:
    """``headers`` with every credential's value redacted; the same dict when there is none."""
    for name in headers:
        if header_name_is_credential(name):
            break
    else:
        return headers if isinstance(headers, dict) else dict(headers)
    return {
        name: header_value_redact(value) if header_name_is_credential(name) else value
        for name, value in headers.items()
    }


# --- raw text (rejected rows) ----------------------------------------------------------------


def _scrub_any(value: Any, *, in_headers: bool = False) -> Any:
    """A decoded JSON document with credentials redacted wherever headers can be.

    Header sets are objects (any object's credential-named string members are redacted), lists of
    ``{"name", "value"}`` or ``[name, value]``, or JSON text inside a member named like
    ``*headers`` or ``properties``. Other text (bodies, prompts) is left as it is.
    """
    if isinstance(value, dict):
        scrubbed = {}
        for key, item in value.items():
            name = str(key)
            lower = name.lower()
            if isinstance(item, str | list) and header_name_is_credential(name) and item:
                scrubbed[key] = header_value_redact(item)
            elif isinstance(item, str) and (lower.endswith("headers") or lower == "properties"):
                scrubbed[key] = _scrub_text(item, lines=lower.endswith("headers"))
            else:
                scrubbed[key] = _scrub_any(item, in_headers=lower.endswith("headers"))
        return scrubbed
    if isinstance(value, list):
        if in_headers:
            return [_scrub_pair(item) for item in value]
        return [_scrub_any(item) for item in value]
    return value


def _scrub_pair(item: Any) -> Any:
    if isinstance(item, dict) and "name" in item and header_name_is_credential(str(item["name"])):
        return {**item, "value": header_value_redact(item.get("value") or "")}
    if isinstance(item, list) and len(item) == 2 and header_name_is_credential(str(item[0])):
        return [item[0], header_value_redact(item[1])]
    return _scrub_any(item)


def _scrub_text(text: str, *, lines: bool) -> str:
    """JSON text (scrubbed and written back compactly) or, for headers, "name: value" lines."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            return _pairs_scrub(text)
        scrubbed = _scrub_any(decoded, in_headers=lines)
        return text if scrubbed == decoded else json.dumps(scrubbed, ensure_ascii=False)
    return _lines_scrub(text) if lines else text


# "api-key": "...", \"api-key\": \"...\", 'api-key': '...', ""api-key"": ""..."" (CSV): the
# name is matched alone (so a value is never consumed while looking for names), then its value.
_QUOTED_NAME = re.compile(r"""(?P<q>\\*"{1,2}|')(?P<name>[A-Za-z0-9_.-]{1,100})(?P=q)\s*:\s*""")
_QUOTED_VALUE = re.compile(r"""(?P<q>\\*"{1,2}|')(?P<value>.*?)(?P=q)""")
_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]{1,100})(?P<sep>[ \t]*:[ \t]*)(?P<value>.*?)(?P<end>\r?)$", re.M)


def _pairs_scrub(text: str) -> str:
    pieces, done = [], 0
    for name in _QUOTED_NAME.finditer(text):
        if name.start() < done or not header_name_is_credential(name["name"]):
            continue
        value = _QUOTED_VALUE.match(text, name.end())
        if value is None or not value["value"]:
            continue
        pieces += [text[done : value.start("value")], header_value_redact(value["value"])]
        done = value.end("value")
    return "".join(pieces) + text[done:] if pieces else text


def _lines_scrub(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if not header_name_is_credential(match["name"]) or not match["value"]:
            return str(match[0])
        return f"{match['name']}{match['sep']}{header_value_redact(match['value'])}{match['end']}"

    return _LINE.sub(replace, text)


def raw_text_scrub(text: str) -> str:
    """A rejected row's raw text with credential header values redacted.

    JSON text is decoded, scrubbed where headers can be and written back (as the store writes
    it: sorted keys, ASCII); text that is not JSON is scrubbed pair by pair (``"api-key": "..."``
    and ``api-key: ...`` lines). Unchanged text is returned as it is.
    """
    if not text:
        return text
    try:
        decoded = json.loads(text)
    except ValueError:
        return _lines_scrub(_pairs_scrub(text))
    scrubbed = _scrub_any(decoded)
    if scrubbed == decoded:
        return text
    return json.dumps(scrubbed, default=str, sort_keys=True)
