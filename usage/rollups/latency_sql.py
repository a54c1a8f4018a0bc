"""PostgreSQL fast path of ``entries.hour_entries``: the per-hour latency entries of some hours,
summed from their UsageHourly rows by the database.

The portable path reads every UsageHourly row of the hours into Python (four JSON histograms
each) and merges them entry by entry; at moderate volumes that is about one row per request, read
three times over (the latency dimensions, and those of both per-subscription rollups). Here one
GROUP BY per set of dimensions sums the counts, keeps the latest rate-limit headroom
(``DISTINCT ON``) and adds the histograms bucket by bucket (``jsonb_each_text``), so Python gets
one row per entry with each histogram as two arrays. Times are summed by ``math.fsum`` on both
paths, so the order the rows come in does not change the last digit. ``LATENCY_SQL_FAST_PATH =
False`` forces the portable path; tests hold both to the same entries and rollups.
"""

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection

from .entries import LATENCY_DIMENSIONS
from .histograms import LANE_BITS

# On PostgreSQL the entries are summed by the database; False forces the portable path.
LATENCY_SQL_FAST_PATH = True

_HISTOGRAMS = (
    ("total", "total_time_hist"),
    ("backend", "backend_time_hist"),
    ("native", "native_duration_hist"),
    ("overhead", "overhead_hist"),
)


def latency_sql_enabled() -> bool:
    return LATENCY_SQL_FAST_PATH and connection.vendor == "postgresql"


def _statement(dimensions: tuple[str, ...]) -> str:
    key = ", ".join(("hour", *dimensions))
    joined = {other: " AND ".join(f"m.{k} = {other}.{k}" for k in ("hour", *dimensions)) for other in "lg"}
    lanes = ", ".join(f"({i}, {column})" for i, (_, column) in enumerate(_HISTOGRAMS))
    arrays = ", ".join(
        f"array_agg(bucket ORDER BY bucket) FILTER (WHERE which = {i}) AS b{i}, "
        f"array_agg(n ORDER BY bucket) FILTER (WHERE which = {i}) AS n{i}"
        for i in range(len(_HISTOGRAMS))
    )
    return f"""
WITH h AS MATERIALIZED (
    SELECT {key}, status_class, requests, tps_completion_tokens, tps_backend_ms, last_seen_at,
        ratelimit_remaining_requests, ratelimit_remaining_tokens,
        {", ".join(column for _, column in _HISTOGRAMS)}
    FROM usage_usagehourly WHERE hour = ANY(%(hours)s)
),
m AS (
    SELECT {key}, SUM(requests)::bigint AS n,
        SUM(CASE WHEN status_class = '429' THEN requests ELSE 0 END)::bigint AS throttled,
        SUM(CASE WHEN status_class = '5xx' THEN requests ELSE 0 END)::bigint AS errors,
        SUM(tps_completion_tokens)::bigint AS tps_tokens,
        array_agg(tps_backend_ms) FILTER (WHERE tps_backend_ms <> 0) AS tps_ms
    FROM h GROUP BY {key}
),
l AS (
    SELECT DISTINCT ON ({key}) {key}, last_seen_at, ratelimit_remaining_requests, ratelimit_remaining_tokens
    FROM h WHERE last_seen_at IS NOT NULL
    ORDER BY {key}, last_seen_at DESC
),
c AS (
    SELECT {key}, which, key::integer AS bucket, SUM(value::bigint)::bigint AS n
    FROM h CROSS JOIN LATERAL (VALUES {lanes}) AS v(which, histogram)
        CROSS JOIN LATERAL jsonb_each_text(v.histogram)
    GROUP BY {key}, which, key
),
g AS (SELECT {key}, {arrays} FROM c GROUP BY {key})
SELECT m.*, l.last_seen_at, l.ratelimit_remaining_requests, l.ratelimit_remaining_tokens,
    {", ".join(f"g.b{i}, g.n{i}" for i in range(len(_HISTOGRAMS)))}
FROM m
LEFT JOIN l ON {joined["l"]}
LEFT JOIN g ON {joined["g"]}
"""


def hour_entries_stored(
    *, hours: Iterable[datetime], dimensions: tuple[str, ...] = LATENCY_DIMENSIONS, lanes: bool = False
) -> dict:
    """``hour_entries`` of the stored UsageHourly rows of ``hours``: {day: {dims: {hour of day:
    entry}}}; with ``lanes`` each histogram is given as its lanes (an integer, as
    ``histograms.histogram_lanes_of`` makes them) instead of a ``{bucket: count}`` dict."""
    days: dict = {}
    width = len(dimensions)
    with connection.cursor() as cursor:
        cursor.execute(_statement(dimensions), {"hours": sorted(set(hours))})
        for row in cursor.fetchall():
            moment = row[0].astimezone(UTC)
            n, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = row[
                1 + width : 9 + width
            ]
            entry = {
                "requests": n,
                "throttled": throttled,
                "errors": errors,
                "tps_tokens": tps_tokens,
                "tps_ms": math.fsum(tps_ms) if tps_ms else 0.0,
                "last_seen_at": None if seen is None else seen.astimezone(UTC).isoformat(),
                "rl_requests": None if seen is None else rl_requests,
                "rl_tokens": None if seen is None else rl_tokens,
            }
            position = 9 + width
            for name, _ in _HISTOGRAMS:
                buckets, counts = row[position], row[position + 1]
                position += 2
                if lanes:
                    entry[name] = (
                        sum(c << (b * LANE_BITS) for b, c in zip(buckets, counts, strict=True))
                        if buckets
                        else 0
                    )
                else:
                    entry[name] = {str(b): c for b, c in zip(buckets, counts, strict=True)} if buckets else {}
            days.setdefault(moment.date(), {}).setdefault(tuple(row[1 : 1 + width]), {})[str(moment.hour)] = (
                entry
            )
    return days
