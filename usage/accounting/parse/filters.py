"""The Azure content-filter results of one call, summed up in a small JSON record."""

from typing import Any

from .readers import _dict, _int, _list


def _prompt_filters(body: dict) -> list[dict]:
    raw = body.get("prompt_filter_results") or body.get("prompt_annotations")
    out = []
    for item in _list(raw):
        item = _dict(item)
        results = _dict(item.get("content_filter_results") or item.get("content_filter_result"))
        out.append({"prompt_index": _int(item.get("prompt_index")), **results})
    return out


def _filter_merge(into: dict, results: dict) -> None:
    for category, value in results.items():
        previous = _dict(into.get(category))
        if isinstance(value, dict):
            merged = {**previous, **value}
            if previous.get("filtered") or previous.get("detected"):
                merged["filtered"] = merged.get("filtered") or previous.get("filtered", False)
                merged["detected"] = merged.get("detected") or previous.get("detected", False)
            into[category] = merged
        else:
            into[category] = value


def _flags(results: dict) -> tuple[set[str], bool, set[str]]:
    """(filtered categories, jailbreak detected, blocklist ids that filtered) of one result set."""
    filtered: set[str] = set()
    jailbreak = False
    blocklists: set[str] = set()
    for category, value in results.items():
        if category in ("custom_blocklists", "customblocklists"):
            items = value
            if isinstance(value, dict):
                items = value.get("details") or []
                if value.get("filtered") and not items:
                    blocklists.add("custom")
            for item in _list(items):
                item = _dict(item)
                if item.get("filtered"):
                    blocklists.add(str(item.get("id") or "custom"))
            if blocklists:
                filtered.add("custom_blocklists")
            continue
        if not isinstance(value, dict):
            continue  # prompt_index, or a category without results
        if category == "jailbreak" and value.get("detected"):
            jailbreak = True
        if value.get("filtered"):
            filtered.add(category)
    return filtered, jailbreak, blocklists


def _filter_summary(
    *, prompt: list[dict] | None = None, completion: dict[int, dict] | None = None, error: dict | None = None
) -> dict:
    """A small JSON record of Azure content-filter results, with flags on top for queries."""
    prompt = prompt or []
    completion = completion or {}
    if not prompt and not completion and not error:
        return {}
    filtered: set[str] = set()
    jailbreak = False
    blocklists: set[str] = set()
    for results in [*prompt, *completion.values(), *([error] if error else [])]:
        f, j, b = _flags(_dict(results))
        filtered |= f
        jailbreak = jailbreak or j
        blocklists |= b
    summary: dict[str, Any] = {
        "blocked": bool(error) or bool(filtered),
        "filtered_categories": sorted(filtered),
        "jailbreak_detected": jailbreak,
        "blocklists": sorted(blocklists),
    }
    if prompt:
        summary["prompt"] = prompt
    if completion:
        summary["completion"] = {str(k): v for k, v in sorted(completion.items())}
    if error:
        summary["error"] = error
    return summary
