"""Query helpers shared by the rollup reads: the filters every rollup has, days read as aligned
spans, and ``values()`` without psycopg's slow timestamptz parsing."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import BigIntegerField, Func, Q, QuerySet

from ..rollups.spans import spans_cover
from .filters import LatencyFilters


class _EpochMicroseconds(Func):
    """A PostgreSQL timestamptz as whole microseconds since 1970 (EXTRACT gives exact numeric)."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
    output_field = BigIntegerField()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _values(queryset: QuerySet, columns: Sequence[str]) -> list[dict]:
    """``queryset.values(*columns)`` as a list; on PostgreSQL ``last_seen_at`` travels as an integer
    (psycopg's pure-Python timestamptz parser is a large share of a
    month's page) and becomes the same datetime here."""
    if connection.vendor != "postgresql" or "last_seen_at" not in columns:
        return list(queryset.values(*columns))
    rows = list(
        queryset.annotate(last_seen_us=_EpochMicroseconds("last_seen_at")).values(
            *(c for c in columns if c != "last_seen_at"), "last_seen_us"
        )
    )
    for row in rows:
        microseconds = row.pop("last_seen_us")
        row["last_seen_at"] = None if microseconds is None else _EPOCH + timedelta(microseconds=microseconds)
    return rows


def _filtered(queryset: QuerySet, filters: LatencyFilters) -> QuerySet:
    """``queryset`` narrowed by the deployment, model and streaming filters (all rollups have them)."""
    if filters.deployment:
        queryset = queryset.filter(deployment=filters.deployment)
    if filters.model:
        queryset = queryset.filter(model=filters.model)
    if filters.streaming is not None:
        queryset = queryset.filter(is_streaming=filters.streaming)
    return queryset


def _day_and_span_sources(day_model: type, span_model: type, first: date, end: date) -> list[QuerySet]:
    """The querysets that read the days ``[first, end)`` as the fewest aligned pieces
    (``usage.rollups.spans.spans_cover``): ``day_model`` rows for single days, ``span_model`` rows for
    spans (one query each, at most two)."""
    pieces = spans_cover(first, end)
    days = [day for day, length in pieces if length == 1]
    spans = [Q(day=day, span_days=length) for day, length in pieces if length > 1]
    return [
        *([day_model.objects.filter(day__in=days)] if days else []),
        *([span_model.objects.filter(reduce(or_, spans))] if spans else []),
    ]
