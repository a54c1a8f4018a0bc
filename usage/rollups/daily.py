"""Maintain the daily rollups of the money pages (UsageDaily) from UsageHourly."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDay

from ..db.copy import rows_insert
from ..measures import USAGE_MEASURES
from ..models import UsageDaily, UsageHourly
from .common import hour_floor, rollup_lock
from .horizon import hourly_horizon

_DAILY_DIMENSIONS = ("apim_subscription_id", "product_id", "deployment", "model")
# Requests of one status class, counted per day: {UsageDaily field: UsageHourly status class}.
_STATUS_COUNTS = (("throttled", "429"), ("succeeded", "2xx"))
_DAILY_FIELDS = (*USAGE_MEASURES, *(name for name, _ in _STATUS_COUNTS))


def daily_sums(hourly: QuerySet) -> dict[tuple, dict]:
    """UsageHourly rows summed per (UTC day, daily dimensions): {key: {measure: sum, "throttled": n, ...}}.

    ``throttled`` counts the 429s and ``succeeded`` the 2xx requests (``_STATUS_COUNTS``).

    PostgreSQL sums NUMERIC exactly in the database; elsewhere (SQLite sums decimals as floats)
    the rows are summed in Python from exact decimals.
    """
    if connection.vendor != "postgresql":
        return daily_sums_of(
            UsageHourly(**row)
            for row in hourly.values("hour", "status_class", *_DAILY_DIMENSIONS, *USAGE_MEASURES).iterator(
                chunk_size=5000
            )
        )
    rows = (
        hourly.annotate(rollup_day=TruncDay("hour", tzinfo=UTC))
        .values("rollup_day", *_DAILY_DIMENSIONS)
        .annotate(
            **{f"s_{name}": Sum(name) for name in USAGE_MEASURES},
            **{f"s_{name}": Sum("requests", filter=Q(status_class=klass)) for name, klass in _STATUS_COUNTS},
        )
        .order_by()
    )
    sums = {}
    for row in rows:
        key = (row["rollup_day"].astimezone(UTC).date(), *(row[d] for d in _DAILY_DIMENSIONS))
        measures = {name: row[f"s_{name}"] or 0 for name in USAGE_MEASURES}
        measures["cost"] = Decimal(measures["cost"])
        for name, _ in _STATUS_COUNTS:
            measures[name] = row[f"s_{name}"] or 0
        sums[key] = measures
    return sums


def daily_sums_of(rollups: Iterable[UsageHourly]) -> dict[tuple, dict]:
    """The same sums as ``daily_sums``, from UsageHourly objects."""
    sums: dict[tuple, dict] = {}
    for rollup in rollups:
        key = (rollup.hour.astimezone(UTC).date(), *(getattr(rollup, d) for d in _DAILY_DIMENSIONS))
        measures = sums.get(key)
        if measures is None:
            measures = sums[key] = {name: 0 for name in _DAILY_FIELDS} | {"cost": Decimal(0)}
        for name in USAGE_MEASURES:
            measures[name] += getattr(rollup, name)
        for name, klass in _STATUS_COUNTS:
            measures[name] += rollup.requests if rollup.status_class == klass else 0
    return sums


def usage_daily_apply(days: Iterable, old: dict[tuple, dict], new: dict[tuple, dict]) -> None:
    """Take the refreshed hours' ``old`` contribution out of UsageDaily and put their ``new`` one in.

    Only the rows of ``days`` are read and rewritten; a row left with no requests is dropped.
    """
    fields = _DAILY_FIELDS
    for day in sorted(set(days)):
        rows = {
            (day, *(getattr(r, d) for d in _DAILY_DIMENSIONS)): {f: getattr(r, f) for f in fields}
            for r in UsageDaily.objects.filter(day=day)
        }
        for sign, part in ((-1, old), (1, new)):
            for key, measures in part.items():
                if key[0] != day:
                    continue
                row = rows.setdefault(key, {f: 0 for f in fields} | {"cost": Decimal(0)})
                for f in fields:
                    row[f] += sign * measures[f]
        UsageDaily.objects.filter(day=day).delete()
        rows_insert(
            rows=[
                UsageDaily(day=day, **dict(zip(_DAILY_DIMENSIONS, key[1:], strict=True)), **measures)
                for key, measures in rows.items()
                if measures["requests"]
            ]
        )


def usage_daily_refresh(*, days: Iterable[datetime]) -> int:
    """Rebuild the UsageDaily rows of each UTC day (midnight datetimes) from UsageHourly; days
    before the hourly horizon (``usage.rollups.horizon``) are left as they are: no hourly rows."""
    written = 0
    horizon = hourly_horizon()
    for day_start in sorted({hour_floor(d).replace(hour=0) for d in days}):
        if horizon is not None and day_start < horizon:
            continue
        with transaction.atomic():
            rollup_lock()
            sums = daily_sums(
                UsageHourly.objects.filter(hour__gte=day_start, hour__lt=day_start + timedelta(days=1))
            )
            UsageDaily.objects.filter(day=day_start.date()).delete()
            rows = [
                UsageDaily(day=key[0], **dict(zip(_DAILY_DIMENSIONS, key[1:], strict=True)), **measures)
                for key, measures in sums.items()
                if measures["requests"]
            ]
            rows_insert(rows=rows)
            written += len(rows)
    return written
