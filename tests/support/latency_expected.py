"""Expected latency rollup content computed in Python from UsageHourly rows (shared by the tests)."""

from collections.abc import Iterable


def hour_entry(histograms: Iterable[str]) -> dict:
    """The measures of one hour of day before any UsageHourly row is added."""
    return {"requests": 0, "throttled": 0, "errors": 0, "tps_tokens": 0, "tps_ms": 0.0, "seen": None} | {
        name: [] for name in histograms
    }


def hour_entry_add(entry: dict, row, histograms: Iterable[str]) -> None:
    """Add one UsageHourly row to ``entry``: counts summed, histograms listed, latest rate limits."""
    entry["requests"] += row.requests
    entry["throttled"] += row.requests if row.status_class == "429" else 0
    entry["errors"] += row.requests if row.status_class == "5xx" else 0
    entry["tps_tokens"] += row.tps_completion_tokens
    entry["tps_ms"] += row.tps_backend_ms
    for name in histograms:
        entry[name].append(getattr(row, name))
    if row.last_seen_at and (entry["seen"] is None or row.last_seen_at > entry["seen"][0]):
        entry["seen"] = (row.last_seen_at, row.ratelimit_remaining_requests, row.ratelimit_remaining_tokens)
