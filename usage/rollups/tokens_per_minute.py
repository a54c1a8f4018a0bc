"""Maintain the quota rollup (TokensPerMinuteHourly): tokens per subscription and UTC minute, and
each hour's peak minute."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Max, Q, QuerySet, Sum
from django.db.models.functions import TruncMinute

from ..db.bulk import rows_update
from ..db.copy import rows_insert
from ..models import TokensPerMinuteHourly

# On PostgreSQL the database folds the minutes into their hour too (a rebuild then reads a row
# per subscription and hour instead of one per active minute); False: the portable fold.
TPM_SQL_FAST_PATH = True

# The portable path's fold in SQL: the peak is the most tokens, the earliest such minute; the map
# keeps the minutes with tokens; the product is the greatest non-empty one (per minute by the
# database's collation, across minutes by code point, as Python compares the minutes' products).
_FOLD = """
WITH m AS (
    SELECT apim_subscription_id AS sub, date_trunc('minute', time AT TIME ZONE 'UTC') AS minute,
        COALESCE(SUM(total_tokens), 0) AS tokens,
        MAX(product_id) FILTER (WHERE product_id <> '') AS product
    FROM ({requests}) r
    WHERE apim_subscription_id <> ''
    GROUP BY 1, 2
)
SELECT date_trunc('hour', minute), sub, COALESCE(MAX(product COLLATE "C"), ''),
    (array_agg(tokens ORDER BY tokens DESC, minute))[1],
    (array_agg(minute ORDER BY tokens DESC, minute))[1],
    COALESCE(
        jsonb_object_agg(EXTRACT(MINUTE FROM minute)::int::text, tokens) FILTER (WHERE tokens <> 0),
        '{{}}'::jsonb
    )::text
FROM m
GROUP BY 1, 2
"""


def tokens_per_minute_compute(requests: QuerySet, *, model: type = TokensPerMinuteHourly) -> list:
    """``TokensPerMinuteHourly`` rows (unsaved) for the requests in ``requests`` (whole hours).

    One GROUP BY (subscription, UTC minute) in the database: per minute its tokens and greatest
    non-empty product; the hour's peak, peak minute and per-minute map are folded from those rows
    (by PostgreSQL, ``TPM_SQL_FAST_PATH``; else in Python), whose number is bounded by the active
    minutes, not the requests. ``model`` lets the migration that backfills the table pass its
    historical model.
    """
    if TPM_SQL_FAST_PATH and connection.vendor == "postgresql":
        return _computed_by_sql(requests, model=model)
    minutes = (
        requests.exclude(apim_subscription_id="")
        .annotate(minute=TruncMinute("time", tzinfo=UTC))
        .values("apim_subscription_id", "minute")
        .annotate(tokens=Sum("total_tokens"), product=Max("product_id", filter=~Q(product_id="")))
        .order_by()
    )
    rollups: dict[tuple, object] = {}
    for row in minutes.iterator(chunk_size=5000):
        minute = row["minute"].astimezone(UTC)
        key = (minute.replace(minute=0), row["apim_subscription_id"])
        rollup = rollups.get(key)
        if rollup is None:
            rollup = rollups[key] = model(
                hour=key[0],
                apim_subscription_id=key[1],
                product_id="",
                peak_tokens=-1,
                peak_minute=minute,
                tokens_by_minute={},
            )
        tokens = int(row["tokens"] or 0)
        if tokens:
            rollup.tokens_by_minute[str(minute.minute)] = tokens
        if tokens > rollup.peak_tokens or (tokens == rollup.peak_tokens and minute < rollup.peak_minute):
            rollup.peak_tokens, rollup.peak_minute = tokens, minute
        if row["product"] and row["product"] > rollup.product_id:
            rollup.product_id = row["product"]
    return list(rollups.values())


def _computed_by_sql(requests: QuerySet, *, model: type) -> list:
    columns = requests.values("apim_subscription_id", "time", "total_tokens", "product_id").order_by()
    sql, params = columns.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(_FOLD.format(requests=sql), params)
        return [
            model(
                hour=hour.replace(tzinfo=UTC),
                apim_subscription_id=sub,
                product_id=product,
                peak_tokens=int(peak),
                peak_minute=peak_minute.replace(tzinfo=UTC),
                tokens_by_minute={minute: int(tokens) for minute, tokens in json.loads(by_minute).items()},
            )
            for hour, sub, product, peak, peak_minute, by_minute in cursor.fetchall()
        ]


def tokens_per_minute_add(minutes: Mapping[tuple, Mapping[datetime, list]]) -> None:
    """Add per-minute tokens of new requests to TokensPerMinuteHourly (what
    ``tokens_per_minute_compute`` gives for the hours with them): the minutes only grow, so the
    peak is the stored one or one of the minutes added to (the earliest of equal ones)."""
    if not minutes:
        return
    stored = {
        (r.hour.astimezone(UTC), r.apim_subscription_id): r
        for r in TokensPerMinuteHourly.objects.filter(
            hour__in={hour for hour, _ in minutes}, apim_subscription_id__in={sub for _, sub in minutes}
        )
    }
    updated, created = [], []
    for key, added in minutes.items():
        rollup = stored.get(key)
        if rollup is None:
            rollup = TokensPerMinuteHourly(
                hour=key[0], apim_subscription_id=key[1], product_id="", peak_tokens=-1, tokens_by_minute={}
            )
            created.append(rollup)
        else:
            updated.append(rollup)
        by_minute = rollup.tokens_by_minute
        for minute in sorted(added):
            tokens, product = added[minute]
            name = str(minute.minute)
            total = by_minute.get(name, 0) + tokens
            if total:
                by_minute[name] = total
            if total > rollup.peak_tokens or (total == rollup.peak_tokens and minute < rollup.peak_minute):
                rollup.peak_tokens, rollup.peak_minute = total, minute
            if product > rollup.product_id:
                rollup.product_id = product
    rows_update(rows=updated, fields=["product_id", "peak_tokens", "peak_minute", "tokens_by_minute"])
    rows_insert(rows=created)
