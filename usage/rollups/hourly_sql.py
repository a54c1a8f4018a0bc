"""PostgreSQL fast path of ``usage.rollups.hourly``: a run of hours' UsageHourly rows written by one
``INSERT … SELECT … GROUP BY`` in the database, histograms included.

The portable path (``hourly._rollup_compute``) runs the same GROUP BY queries through the ORM,
brings every row to Python, builds the histograms there and sends the rows back with
``bulk_create``: at moderate volumes UsageHourly holds about one row per request, so that round
trip is most of a rebuild. Here the rows never leave the database: the request rows of the run
are read once (with their native partner's duration), the four histograms become ``jsonb`` maps
of bucket counts (``jsonb_object_agg``), the latest rate-limit headroom is the last of each key's
rows in time order, and the result is inserted directly. The SQL is a twin of the ORM expressions (status class, bucket
index, TPS condition, latest headroom by time then id), and tests hold both paths to the same
rows. ``HOURLY_SQL_FAST_PATH = False`` forces the portable path.
"""

from datetime import datetime

from django.db import connection

from ..measures import TOKEN_MEASURES
from ..models import TokenSource
from .common import DIMENSIONS, TPS_OPERATIONS
from .histograms import BUCKET_COUNT, EPSILON, SCALE

# On PostgreSQL the hourly rows are computed and written in the database; False forces the ORM path.
HOURLY_SQL_FAST_PATH = True

_KEY = ("hour", "klass", *DIMENSIONS)
_KEY_SQL = ", ".join(_KEY)


def hourly_sql_enabled() -> bool:
    return HOURLY_SQL_FAST_PATH and connection.vendor == "postgresql"


def _bucket(column: str) -> str:
    """SQL twin of ``histograms.bucket_index`` (as ``hourly._bucket_expression`` writes it)."""
    return (
        f"CASE WHEN {column} < 1 THEN 0 ELSE "
        f"LEAST(FLOOR(LN({column}) * {SCALE!r} + {EPSILON!r}) + 1.0, {float(BUCKET_COUNT - 1)!r})::integer END"
    )


_HISTOGRAMS = {
    "total_time_hist": "total_time_ms",
    "backend_time_hist": "backend_time_ms",
    "overhead_hist": "GREATEST(total_time_ms - backend_time_ms, 0.0)",
    "native_duration_hist": "native_ms",
}
_HISTOGRAM_CONDITIONS = {
    "total_time_hist": "total_time_ms IS NOT NULL",
    "backend_time_hist": "backend_time_ms IS NOT NULL",
    "overhead_hist": "total_time_ms IS NOT NULL AND backend_time_ms IS NOT NULL",
    "native_duration_hist": "native_ms IS NOT NULL",
}
_TPS = (
    "NOT is_streaming AND response_code >= 200 AND response_code < 400 AND completion_tokens > 0 "
    "AND backend_time_ms > 0 AND operation = ANY(%(tps_operations)s)"
)
# The request's time and headroom, stored as the key's last_seen_at and latest headroom.
_HEADROOM = ("time", "ratelimit_remaining_requests", "ratelimit_remaining_tokens")
# Summed from the requests' fields of the same names.
_MEASURES = (*TOKEN_MEASURES, "images")


def _statement() -> str:
    dims = ", ".join(DIMENSIONS)
    # Each request's bucket in each histogram (NULL where it adds none), computed as the rows are read.
    buckets = ", ".join(
        f"CASE WHEN {_HISTOGRAM_CONDITIONS[name]} THEN {_bucket(source)} END AS b_{name}"
        for name, source in _HISTOGRAMS.items()
    )
    lists = ", ".join(
        f"array_agg(b_{name}) FILTER (WHERE b_{name} IS NOT NULL) AS {name}" for name in _HISTOGRAMS
    )
    sums = ", ".join(f"SUM({m}) AS {m}" for m in _MEASURES)
    # The latest rate-limit headroom: the rows of a key come in (time, id) order, so the last of
    # those with a headroom (the array's last element) is the latest by time, then id.
    latest = ", ".join(
        f"array_agg({column}) FILTER (WHERE has_headroom) AS latest_{column}" for column in _HEADROOM
    )
    columns = (
        "hour, status_class, " + dims + ", requests, " + ", ".join(_MEASURES) + ", cost, "
        "estimated_tokens, unpriced_tokens, tps_completion_tokens, tps_backend_ms, "
        + ", ".join(_HISTOGRAMS)
        + ", last_seen_at, ratelimit_remaining_requests, ratelimit_remaining_tokens"
    )
    # A key's bucket list counted into its {bucket: count} map (most keys hold one request or two:
    # those without a subquery).
    histograms = ", ".join(
        f"CASE WHEN s.{name} IS NULL THEN '{{}}'::jsonb "
        f"WHEN cardinality(s.{name}) = 1 THEN jsonb_build_object(s.{name}[1]::text, 1) "
        f"WHEN cardinality(s.{name}) = 2 THEN CASE WHEN s.{name}[1] = s.{name}[2] "
        f"THEN jsonb_build_object(s.{name}[1]::text, 2) "
        f"ELSE jsonb_build_object(s.{name}[1]::text, 1, s.{name}[2]::text, 1) END "
        f"ELSE (SELECT jsonb_object_agg(bucket::text, n) FROM (SELECT bucket, COUNT(*) AS n "
        f"FROM unnest(s.{name}) AS bucket GROUP BY bucket) counted) END"
        for name in _HISTOGRAMS
    )
    values = (
        "s.hour, s.klass, "
        + ", ".join(f"s.{d}" for d in DIMENSIONS)
        + ", s.n, "
        + ", ".join(f"s.{m}" for m in _MEASURES)
        + ", s.cost, s.estimated, s.unpriced, s.tps_tokens, s.tps_ms, "
        + histograms
        + ", "
        + ", ".join(f"s.latest_{column}[cardinality(s.latest_{column})]" for column in _HEADROOM)
    )
    return f"""
WITH r AS (
    SELECT g.id, g.time,
        date_trunc('hour', g.time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
        CASE WHEN g.response_code = 429 THEN '429' WHEN g.response_code >= 500 THEN '5xx'
             WHEN g.response_code >= 400 THEN '4xx' WHEN g.response_code >= 200 THEN '2xx'
             ELSE 'unknown' END AS klass,
        {", ".join(f"g.{d}" for d in DIMENSIONS)},
        {", ".join(f"g.{m}" for m in _MEASURES)}, g.cost, g.token_source, g.is_priced,
        g.response_code, g.operation, g.total_time_ms, g.backend_time_ms,
        g.ratelimit_remaining_requests, g.ratelimit_remaining_tokens,
        n.duration_ms AS native_ms
    FROM usage_gatewayrequest g
    -- Looked up by its unique index (LIMIT 1 keeps the planner from hashing the whole native
    -- table, every month of it, for each run of hours).
    LEFT JOIN LATERAL (
        SELECT duration_ms FROM usage_nativelog
        WHERE g.apim_request_id <> '' AND correlation_id = g.apim_request_id LIMIT 1
    ) n ON true
    WHERE g.time >= %(start)s AND g.time < %(end)s
),
s AS (
    SELECT {_KEY_SQL}, COUNT(*) AS n, {sums}, SUM(cost) AS cost,
        SUM(CASE WHEN token_source = %(estimated)s THEN total_tokens ELSE 0 END) AS estimated,
        SUM(CASE WHEN NOT is_priced THEN total_tokens ELSE 0 END) AS unpriced,
        SUM(CASE WHEN {_TPS} THEN completion_tokens ELSE 0 END) AS tps_tokens,
        SUM(CASE WHEN {_TPS} THEN backend_time_ms ELSE 0.0 END) AS tps_ms,
        {lists}, {latest}
    -- In (time, id) order within each key, whatever the plan: the float sums (tps_ms) add up in
    -- the order the portable path adds them, to the last digit.
    FROM (
        SELECT *, {buckets},
            ratelimit_remaining_requests IS NOT NULL OR ratelimit_remaining_tokens IS NOT NULL AS has_headroom
        FROM r ORDER BY {_KEY_SQL}, time, id
    ) b
    GROUP BY {_KEY_SQL}
)
INSERT INTO usage_usagehourly ({columns})
SELECT {values}
FROM s
"""


def hourly_rows_insert(*, start: datetime, end: datetime) -> int:
    """Insert the UsageHourly rows of the requests in [start, end) (whole hours, none stored yet);
    returns the number of rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            _statement(),
            {
                "start": start,
                "end": end,
                "estimated": TokenSource.ESTIMATED,
                "tps_operations": list(TPS_OPERATIONS),
            },
        )
        return int(cursor.rowcount)
