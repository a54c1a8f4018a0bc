"""Per-hour latency entries: UsageHourly rows summed per hour and latency dimensions, what every
latency rollup (``latency``, ``latency_subscription``, ``latency_spans``) is built from."""

import math
from collections.abc import Iterable
from datetime import UTC

from .histograms import histogram_merge_into

LATENCY_DIMENSIONS = ("deployment", "model", "backend_region", "apim_region", "is_streaming")
# The UsageHourly fields the latency rollups are built from.
HOURLY_FIELDS = (
    "hour",
    "apim_subscription_id",
    "status_class",
    "requests",
    "tps_completion_tokens",
    "tps_backend_ms",
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "total_time_hist",
    "backend_time_hist",
    "native_duration_hist",
    "overhead_hist",
    *LATENCY_DIMENSIONS,
)

# Entry histograms and the columns that store them packed (LatencyDaily and the rollups like it).
PACKED_COLUMNS = {
    "total": "total_time_hist",
    "backend": "backend_time_hist",
    "native": "native_duration_hist",
    "overhead": "overhead_hist",
}
# The same four histograms, per hour of day (LatencyHourOfDay, spans, per-subscription rollups).
BY_HOUR_COLUMNS = {
    "total": "total_time_by_hour",
    "backend": "backend_time_by_hour",
    "native": "native_duration_by_hour",
    "overhead": "overhead_by_hour",
}
# Every hour of a day, as the latency rollups key their per-hour entries.
_DAY_HOURS = frozenset(str(hour) for hour in range(24))


def whole_day(hours: set[str]) -> bool:
    """Whether ``hours`` (hours of day, as entries key them) are all of a day's: a refresh of them
    keeps none of the day's stored hours, so it need not read them."""
    return hours >= _DAY_HOURS


# The per-hour measures, in the order rows store them as lists (``measures_by_hour``).
MEASURE_ORDER = (
    "requests",
    "throttled",
    "errors",
    "tps_tokens",
    "tps_ms",
    "last_seen_at",
    "rl_requests",
    "rl_tokens",
)


def hour_entry() -> dict:
    return {
        "requests": 0,
        "throttled": 0,
        "errors": 0,
        "tps_tokens": 0,
        "tps_ms": 0.0,
        "total": {},
        "backend": {},
        "native": {},
        "overhead": {},
        "last_seen_at": None,
        "rl_requests": None,
        "rl_tokens": None,
    }


def hour_entries(
    rows: Iterable[dict], dimensions: tuple[str, ...] = LATENCY_DIMENSIONS
) -> dict[tuple, dict[tuple, dict]]:
    """UsageHourly rows -> {day: {dims (``dimensions``' values): {hour of day: entry}}}.

    Times are summed by ``math.fsum``: exact, so the order of the rows does not matter (the
    database's fast path, ``latency_sql``, gets them in another order).
    """
    days: dict = {}
    times: list[tuple[dict, list[float]]] = []
    for row in rows:
        moment = row["hour"].astimezone(UTC)
        dims = tuple(row[d] for d in dimensions)
        entry = days.setdefault(moment.date(), {}).setdefault(dims, {}).get(str(moment.hour))
        if entry is None:
            entry = days[moment.date()][dims][str(moment.hour)] = hour_entry()
            entry["tps_ms"] = []
            times.append((entry, entry["tps_ms"]))
        entry["requests"] += row["requests"]
        entry["throttled"] += row["requests"] if row["status_class"] == "429" else 0
        entry["errors"] += row["requests"] if row["status_class"] == "5xx" else 0
        entry["tps_tokens"] += row["tps_completion_tokens"]
        if row["tps_backend_ms"]:
            entry["tps_ms"].append(row["tps_backend_ms"])
        histogram_merge_into(entry["total"], row["total_time_hist"])
        histogram_merge_into(entry["backend"], row["backend_time_hist"])
        histogram_merge_into(entry["native"], row["native_duration_hist"])
        histogram_merge_into(entry["overhead"], row["overhead_hist"])
        seen = row["last_seen_at"]
        if seen is not None:
            seen = seen.astimezone(UTC).isoformat()
            if entry["last_seen_at"] is None or seen > entry["last_seen_at"]:
                entry["last_seen_at"] = seen
                entry["rl_requests"] = row["ratelimit_remaining_requests"]
                entry["rl_tokens"] = row["ratelimit_remaining_tokens"]
    for entry, spent in times:
        entry["tps_ms"] = math.fsum(spent)
    return days
