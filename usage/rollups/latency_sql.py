"""PostgreSQL fast path of ``entries.hour_entries``: the per-hour latency entries of some hours,
summed from their UsageHourly rows by the database.

The portable path reads every UsageHourly row of the hours into Python (four JSON histograms
each) and merges them entry by entry; at moderate volumes that is about one row per request, read
three times over (the latency dimensions, and those of both per-subscription rollups). Here one
GROUP BY sums the rows per hour and the finest dimensions the latency rollups key by (the
subscription and the latency dimensions): counts, the latest rate-limit headroom, and each
histogram as the list of the rows' own (most keys have a single row, so expanding the histograms
bucket by bucket and grouping again in SQL cost more than it saved); Python adds those into
integer lanes, and the coarser entries are added up from them (``entries_coarsen``).
Times are summed by ``math.fsum`` on both paths, so the order the rows come in does not change the
last digit. ``LATENCY_SQL_FAST_PATH = False`` forces the portable path; tests hold both to the
same entries and rollups.
"""

import math
from collections.abc import Iterable
from datetime import date, datetime
from json import loads
from typing import Any

from django.db import connection

from .entries import LATENCY_DIMENSIONS
from .histograms import LANE_BITS, histogram_from_lanes

# On PostgreSQL the entries are summed by the database; False forces the portable path.
LATENCY_SQL_FAST_PATH = True

# The finest dimensions a latency rollup keys by: every other one's are among them.
FINEST = ("apim_subscription_id", *LATENCY_DIMENSIONS)
_HISTOGRAMS = (
    ("total", "total_time_hist"),
    ("backend", "backend_time_hist"),
    ("native", "native_duration_hist"),
    ("overhead", "overhead_hist"),
)
_EPOCH = date(1970, 1, 1).toordinal()
# A fine entry: [requests, throttled, errors, tps tokens, [tps ms...], last seen (ISO), rate-limit
# remaining requests, tokens, then the four histograms' lanes in _HISTOGRAMS order].
_SEEN = 5
_LANES = 8
FineEntry = list[Any]
FineEntries = dict[date, dict[tuple[Any, ...], dict[str, FineEntry]]]  # {day: {dims: {hour: entry}}}
Entries = dict[date, dict[tuple[Any, ...], dict[str, dict[str, Any]]]]  # as hour_entries gives them

_KEY = ", ".join(("hour", *FINEST))
# The latest rate-limit headroom: each value from the row seen last (ties broken by the values, so
# all three come from one row).
_LATEST = "ORDER BY last_seen_at DESC, ratelimit_remaining_requests DESC, ratelimit_remaining_tokens DESC"
_HEADROOM = (
    ("last_seen_at", "seen"),
    ("ratelimit_remaining_requests", "rl_requests"),
    ("ratelimit_remaining_tokens", "rl_tokens"),
)
_LATEST_HEADROOM = ", ".join(
    f"(array_agg({column} {_LATEST}) FILTER (WHERE last_seen_at IS NOT NULL))[1] AS {name}"
    for column, name in _HEADROOM
)
# Each histogram as the list of the key's rows' own, empty ones left out.
_HISTOGRAM_LISTS = ", ".join(
    f"jsonb_agg({column}) FILTER (WHERE {column} <> '{{}}'::jsonb) AS h{i}"
    for i, (_, column) in enumerate(_HISTOGRAMS)
)
_STATEMENT = f"""
SELECT (extract(epoch FROM hour)::bigint / 3600)::bigint, {", ".join(FINEST)},
    n, throttled, errors, tps_tokens, tps_ms,
    -- datetime.isoformat() of the UTC time, as the portable path compares and stores it
    to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM seen)::bigint %% 1000000 = 0 THEN ''
           ELSE to_char(seen AT TIME ZONE 'UTC', '.US') END || '+00:00',
    rl_requests, rl_tokens,
    -- the four histograms' lists in one JSON value (one parse per entry)
    jsonb_build_array({", ".join(f"h{i}" for i in range(len(_HISTOGRAMS)))})::text
FROM (
    SELECT {_KEY}, SUM(requests)::bigint AS n,
        SUM(CASE WHEN status_class = '429' THEN requests ELSE 0 END)::bigint AS throttled,
        SUM(CASE WHEN status_class = '5xx' THEN requests ELSE 0 END)::bigint AS errors,
        SUM(tps_completion_tokens)::bigint AS tps_tokens,
        array_agg(tps_backend_ms) FILTER (WHERE tps_backend_ms <> 0) AS tps_ms,
        {_LATEST_HEADROOM},
        {_HISTOGRAM_LISTS}
    FROM usage_usagehourly WHERE hour = ANY(%(hours)s)
    GROUP BY {_KEY}
) m
"""


def latency_sql_enabled() -> bool:
    return LATENCY_SQL_FAST_PATH and connection.vendor == "postgresql"


def hour_entries_stored(*, hours: Iterable[datetime]) -> FineEntries:
    """The fine entries of the stored UsageHourly rows of ``hours``, summed by the database:
    {day: {``FINEST`` values: {hour of day: fine entry}}}, for ``entries_coarsen``."""
    days: FineEntries = {}
    dates: dict[int, date] = {}
    width = len(FINEST)
    with connection.cursor() as cursor:
        cursor.execute(_STATEMENT, {"hours": sorted(set(hours))})
        for row in cursor.fetchall():
            day_number, hour = divmod(row[0], 24)
            day = dates.get(day_number)
            if day is None:
                day = dates[day_number] = date.fromordinal(_EPOCH + day_number)
            n, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = row[
                1 + width : 9 + width
            ]
            entry = [n, throttled, errors, tps_tokens, tps_ms or [], seen, rl_requests, rl_tokens]
            # Each histogram as the list of the key's rows' own ({bucket: count}; most keys have one)
            for histograms in loads(row[9 + width]):
                lanes = 0
                for histogram in histograms or ():
                    for bucket, count in histogram.items():
                        lanes += count << (int(bucket) * LANE_BITS)
                entry.append(lanes)
            days.setdefault(day, {}).setdefault(tuple(row[1 : 1 + width]), {})[str(hour)] = entry
    return days


def entries_coarsen(fine: FineEntries, dimensions: tuple[str, ...], *, lanes: bool = False) -> Entries:
    """``hour_entries`` (keyed by ``dimensions``, some of ``FINEST``) of the fine entries ``fine``;
    with ``lanes`` each histogram is given as its lanes (an integer, as
    ``histograms.histogram_lanes_of`` makes them) instead of a ``{bucket: count}`` dict."""
    positions = [FINEST.index(d) for d in dimensions]
    days: Entries = {}
    if tuple(dimensions) == FINEST:  # nothing to add up
        return {
            day: {
                dims: {hour: _entry(values, lanes=lanes) for hour, values in hours.items()}
                for dims, hours in by_dims.items()
            }
            for day, by_dims in fine.items()
        }
    for day, by_dims in fine.items():
        summed: dict[tuple[Any, ...], dict[str, FineEntry]] = {}
        for dims, hours in by_dims.items():
            target_hours = summed.setdefault(tuple(dims[i] for i in positions), {})
            for hour, entry in hours.items():
                target = target_hours.get(hour)
                if target is None:
                    target_hours[hour] = [*entry[:4], list(entry[4]), *entry[_SEEN:]]
                    continue
                for i in (0, 1, 2, 3, 8, 9, 10, 11):
                    target[i] += entry[i]
                target[4].extend(entry[4])
                seen = entry[_SEEN]
                if seen is not None and (target[_SEEN] is None or seen > target[_SEEN]):
                    target[_SEEN:_LANES] = entry[_SEEN:_LANES]
        days[day] = {
            dims: {hour: _entry(values, lanes=lanes) for hour, values in hours.items()}
            for dims, hours in summed.items()
        }
    return days


def _entry(values: FineEntry, *, lanes: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "requests": values[0],
        "throttled": values[1],
        "errors": values[2],
        "tps_tokens": values[3],
        "tps_ms": math.fsum(values[4]),
        "last_seen_at": values[_SEEN],
        "rl_requests": values[6],
        "rl_tokens": values[7],
    }
    for i, (name, _) in enumerate(_HISTOGRAMS):
        entry[name] = values[_LANES + i] if lanes else histogram_from_lanes(values[_LANES + i])
    return entry
