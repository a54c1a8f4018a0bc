"""Azure's own verdicts: content-filter hits per category, custom blocklists, jailbreak detected and
400 ``content_filter`` refusals, read from ``GatewayRequest.content_filter`` and the response body.

The filter results come in several spellings (``prompt_filter_results`` / ``prompt_annotations``,
``content_filter_result`` / ``content_filter_results``, ``innererror`` / ``inner_error``;
``custom_blocklists`` as an object or a list), so the walker looks for their shape, not a path.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from usage.db.json import json_loads

_SEVERITY_RANK = {"safe": 0, "low": 1, "medium": 2, "high": 3}
# Containers whose results are about the prompt (``prompt``/``error``: usage.accounting's summary).
_PROMPT_KEYS = {"prompt_filter_results", "prompt_annotations", "innererror", "inner_error", "prompt", "error"}


@dataclass
class AzureVerdicts:
    # One dict per category hit: where (prompt|completion), category, severity, filtered, detected.
    hits: list[dict] = field(default_factory=list)
    refusal: bool = False

    @property
    def jailbreak_detected(self) -> bool:
        return any(h["category"] in {"jailbreak", "indirect_attack"} and h["detected"] for h in self.hits)


def _json_values(body: str) -> list[Any]:
    """The JSON document of a body, or the JSON of each ``data:`` line of a stream (cut ones skipped)."""
    text = (body or "").strip()
    if not text:
        return []
    try:
        return [json_loads(text)]
    except ValueError:
        pass
    values = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("data:") and line[5:].strip() not in {"", "[DONE]"}:
            try:
                values.append(json_loads(line[5:].strip()))
            except ValueError:
                continue
    return values


def _category_hit(category: str, result: dict, where: str) -> dict | None:
    # Text from a body is stored in JSON columns: PostgreSQL refuses NUL characters there.
    category = category.replace("\x00", "")
    severity = str(result.get("severity") or "").lower().replace("\x00", "")
    filtered = result.get("filtered") is True
    detected = result.get("detected") is True
    if filtered or detected or _SEVERITY_RANK.get(severity, 0) > 0:
        return {
            "where": where,
            "category": category,
            "severity": severity,
            "filtered": filtered,
            "detected": detected,
        }
    return None


def _blocklist_hits(value: Any, where: str) -> list[dict]:
    details = value.get("details", []) if isinstance(value, dict) else value
    hits = []
    if isinstance(details, list):
        for entry in details:
            if isinstance(entry, dict) and entry.get("filtered") is True:
                hits.append(
                    {
                        "where": where,
                        "category": "custom_blocklist",
                        "severity": "",
                        "filtered": True,
                        "detected": True,
                        "blocklist": str(entry.get("id", "")),
                    }
                )
    if not hits and isinstance(value, dict) and value.get("filtered") is True:
        hits.append(
            {
                "where": where,
                "category": "custom_blocklist",
                "severity": "",
                "filtered": True,
                "detected": True,
            }
        )
    return hits


def _walk(node: Any, where: str, hits: list[dict]) -> None:
    if isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _walk(item, where, hits)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if not value or not isinstance(value, dict | list):
            continue  # empty, or a scalar: nothing to read under it, not even a blocklist
        is_result = (
            isinstance(value, dict)
            and ("filtered" in value or "detected" in value)
            and "details" not in value
        )
        if is_result:
            # Most results have no verdict ({"filtered": false, "severity": "safe"}): no hit,
            # whether read as a category or as a blocklist, so neither is built.
            severity = value.get("severity")
            if (
                value.get("filtered") is not True
                and value.get("detected") is not True
                and (not severity or severity == "safe")
            ):
                continue
        key_l = str(key).lower()
        inner_where = "prompt" if key_l in _PROMPT_KEYS else where
        if key_l in {"custom_blocklists", "customblocklists"}:
            hits.extend(_blocklist_hits(value, where))
        elif is_result:
            hit = _category_hit(key_l, value, where)
            if hit:
                hits.append(hit)
        else:
            _walk(value, inner_where, hits)


def _is_refusal(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    error = value.get("error")
    if isinstance(error, dict) and str(error.get("code", "")).lower() == "content_filter":
        return True
    return str(value.get("code", "")).lower() == "content_filter" and "innererror" in value


_VERDICT_VALUE = re.compile('"(?:low|medium|high|content_filter)"')


def _may_hold_verdicts(body: str) -> bool:
    """False only when no hit nor refusal can be read from ``body``: a few substring tests instead
    of decoding and walking it (most bodies repeat ``"filtered": false, "severity": "safe"``).

    A hit needs ``"filtered"/"detected": true`` (JSON spells ``true`` in lower case) or a severity
    whose ``lower()`` is low/medium/high; a refusal a code whose ``lower()`` is content_filter.
    Without ``\\u`` escapes those strings are in the text as they decode, and only ASCII letters
    lower to the ASCII letters they are made of, so ``body.lower()`` holds them, quotes included.
    """
    # "\\" first: one memchr, and most bodies have no backslash at all.
    if "true" in body or ("\\" in body and "\\u" in body):
        return True
    return _VERDICT_VALUE.search(body.lower()) is not None  # one pass instead of a scan per value


def azure_verdicts_find(*, content_filter: dict | None, response_body: str) -> AzureVerdicts:
    """Azure's verdicts on one request; the same hit read from both sources counts once."""
    documents: list[Any] = []
    if content_filter:
        documents.append(content_filter)
    if response_body and _may_hold_verdicts(response_body):
        documents.extend(_json_values(response_body))
    hits: list[dict] = []
    refusal = False
    for document in documents:
        _walk(document, "completion", hits)
        refusal = refusal or _is_refusal(document)
    # usage.accounting's summary keeps a refusal's results under "error".
    if content_filter and (
        content_filter.get("refusal") is True or isinstance(content_filter.get("error"), dict)
    ):
        refusal = True
    unique: dict[tuple, dict] = {}
    for hit in hits:
        unique.setdefault(tuple(sorted((k, str(v)) for k, v in hit.items())), hit)
    # In a fixed order (prompt first, then by category), not in the documents' key order: the
    # stored content_filter (JSONB) orders its keys differently from the parsed body, and the
    # flag's detail must come out the same from either.
    ordered = sorted(
        unique.items(), key=lambda item: (item[1]["where"] != "prompt", item[1]["category"], item[0])
    )
    return AzureVerdicts(hits=[hit for _, hit in ordered], refusal=refusal)


def verdict_severity(verdicts: AzureVerdicts) -> int:
    """0 = none, 1 low, 2 medium, 3 high: the worst of the hits (a refusal or jailbreak is high)."""
    if verdicts.refusal or verdicts.jailbreak_detected:
        return 3
    worst = 0
    for hit in verdicts.hits:
        rank = _SEVERITY_RANK.get(hit["severity"], 0)
        if hit["filtered"]:
            rank = max(rank, 2)
        if hit["category"] == "custom_blocklist" or hit["detected"]:
            rank = max(rank, 2)
        worst = max(worst, rank)
    return worst


# Prompt Shields' annotations in Azure OpenAI's filter results (``jailbreak`` on the prompt for user
# prompt attacks, ``indirect_attack`` for attacks in documents / tool output) -> their flag names.
AZURE_ATTACK_FLAGS = {"jailbreak": "azure_jailbreak", "indirect_attack": "azure_indirect_attack"}


def azure_attacks_find(verdicts: AzureVerdicts) -> dict[str, list[dict]]:
    """Flag name -> the Prompt Shields hits of that kind, detected or filtered (annotate-only too)."""
    found: dict[str, list[dict]] = {}
    for hit in verdicts.hits:
        name = AZURE_ATTACK_FLAGS.get(hit["category"])
        if name is not None and (hit["detected"] or hit["filtered"]):
            found.setdefault(name, []).append(hit)
    return found
