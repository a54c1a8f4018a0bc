"""Maintain the latency rollups read by the latency page: LatencyDaily and LatencyHourOfDay here,
and with them (``latency_hours_apply``) the per-subscription ones (``latency_subscription``) and
the spans over the changed days (``latency_spans``).

Refreshed hours are replaced and the day's other hours kept: every row stores its per-hour
entries, so refreshing an hour never needs the rest of the day's hourly rollups.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from django.db import transaction

from ..db.copy import rows_insert
from ..models import LatencyDaily, LatencyHourOfDay, UsageHourly
from .common import hour_floor, rollup_lock
from .entries import (
    BY_HOUR_COLUMNS,
    HOURLY_FIELDS,
    LATENCY_DIMENSIONS,
    MEASURE_ORDER,
    PACKED_COLUMNS,
    hour_entries,
    hour_entry,
    whole_day,
)
from .histograms import histogram_merge_into, histogram_pack, histograms_pack, histograms_unpack
from .horizon import hourly_horizon
from .latency_operations import latency_operations_apply
from .latency_spans import latency_spans_apply
from .latency_sql import entries_coarsen, hour_entries_stored, latency_sql_enabled
from .latency_subscription import (
    latency_subscription_apply,
    subscription_entries,
    subscription_entries_stored,
)


def _daily_hours(row: LatencyDaily) -> dict[str, dict]:
    """The per-hour entries stored in a LatencyDaily row."""
    totals = histograms_unpack(row.total_time_by_hour)
    hours = {}
    for hour, measures in row.measures_by_hour.items():
        entry = {key: value for key, value in measures.items()}
        entry["requests"] = row.requests_by_hour.get(hour, 0)
        entry["total"] = totals.get(hour, {})
        hours[hour] = entry
    return hours


def _daily_build(day, dims: tuple, hours: dict[str, dict]) -> LatencyDaily:
    """A LatencyDaily row whose day totals are the sums of its per-hour entries."""
    row = LatencyDaily(
        day=day,
        **dict(zip(LATENCY_DIMENSIONS, dims, strict=True)),
        requests_by_hour={},
        measures_by_hour={},
    )
    totals: dict[str, dict] = {name: {} for name in ("total", "backend", "native", "overhead")}
    total_by_hour = {}
    last_seen = None
    for hour in sorted(hours, key=int):
        entry = hours[hour]
        row.requests += entry["requests"]
        row.throttled += entry["throttled"]
        row.errors += entry["errors"]
        row.tps_completion_tokens += entry["tps_tokens"]
        row.tps_backend_ms += entry["tps_ms"]
        for name, histogram in totals.items():
            histogram_merge_into(histogram, entry[name])
        total_by_hour[hour] = entry["total"]
        row.requests_by_hour[hour] = entry["requests"]
        row.measures_by_hour[hour] = {k: v for k, v in entry.items() if k not in ("requests", "total")}
        if entry["last_seen_at"] is not None and (last_seen is None or entry["last_seen_at"] > last_seen):
            last_seen = entry["last_seen_at"]
            row.ratelimit_remaining_requests = entry["rl_requests"]
            row.ratelimit_remaining_tokens = entry["rl_tokens"]
    for name, histogram in totals.items():
        setattr(row, PACKED_COLUMNS[name], histogram_pack(histogram))
    row.total_time_by_hour = histograms_pack(total_by_hour)
    row.last_seen_at = datetime.fromisoformat(last_seen) if last_seen else None
    return row


def hour_of_day_entries(entries: Mapping[date, Mapping[tuple, Mapping[str, dict]]]) -> dict[tuple, dict]:
    """Per-hour entries ({day: {latency dims: {hour of day: entry}}}) summed over the regions.

    Returns {(day, deployment, model, is_streaming): {hour of day: entry}}: the rows of
    LatencyHourOfDay. Pure (no database), so migration 0012 builds the table from LatencyDaily's
    stored entries with it.
    """
    merged: dict[tuple, dict] = {}
    for day, by_dims in entries.items():
        # In a fixed order, so float sums (tps_ms) come out the same whoever built ``entries``.
        for dims in sorted(by_dims):
            deployment, model, _backend_region, _apim_region, streaming = dims
            hours = merged.setdefault((day, deployment, model, streaming), {})
            for hour, entry in by_dims[dims].items():
                target = hours.get(hour)
                if target is None:
                    target = hours[hour] = hour_entry()
                for name in ("requests", "throttled", "errors", "tps_tokens", "tps_ms"):
                    target[name] += entry[name]
                for name in BY_HOUR_COLUMNS:
                    histogram_merge_into(target[name], entry[name])
                seen = entry["last_seen_at"]
                if seen is not None and (target["last_seen_at"] is None or seen > target["last_seen_at"]):
                    target["last_seen_at"] = seen
                    target["rl_requests"] = entry["rl_requests"]
                    target["rl_tokens"] = entry["rl_tokens"]
    return merged


def hour_of_day_fields(key: tuple, hours: Mapping[str, Mapping]) -> dict:
    """The LatencyHourOfDay field values of one ``hour_of_day_entries`` item."""
    day, deployment, model, streaming = key
    ordered = sorted(hours, key=int)
    return {
        "day": day,
        "deployment": deployment,
        "model": model,
        "is_streaming": streaming,
        "measures_by_hour": {hour: [hours[hour][name] for name in MEASURE_ORDER] for hour in ordered},
        **{
            column: histograms_pack({hour: hours[hour][name] for hour in ordered})
            for name, column in BY_HOUR_COLUMNS.items()
        },
    }


def _hour_of_day_hours(row: LatencyHourOfDay) -> dict[str, dict]:
    """The per-hour entries stored in a LatencyHourOfDay row."""
    histograms = {name: histograms_unpack(getattr(row, column)) for name, column in BY_HOUR_COLUMNS.items()}
    return {
        hour: dict(zip(MEASURE_ORDER, values, strict=True))
        | {name: histograms[name].get(hour, {}) for name in BY_HOUR_COLUMNS}
        for hour, values in row.measures_by_hour.items()
    }


def _latency_hour_of_day_apply(day: date, refreshed_hours: set[str], new: Mapping[tuple, dict]) -> None:
    """Replace the ``refreshed_hours`` of ``day`` in LatencyHourOfDay by ``new`` (that day's
    ``hour_of_day_entries`` items); keep its other hours."""
    existing = {
        (day, r.deployment, r.model, r.is_streaming): r
        for r in (() if whole_day(refreshed_hours) else LatencyHourOfDay.objects.filter(day=day))
    }
    rows = []
    for key in sorted(existing.keys() | new.keys()):
        hours = _hour_of_day_hours(existing[key]) if key in existing else {}
        for hour in refreshed_hours:
            hours.pop(hour, None)
        hours.update(new.get(key, {}))
        if hours:
            rows.append(LatencyHourOfDay(**hour_of_day_fields(key, hours)))
    LatencyHourOfDay.objects.filter(day=day).delete()
    rows_insert(rows=rows)


def _latency_daily_apply(day, refreshed_hours: set[str], entries: dict[tuple, dict[str, dict]]) -> int:
    """Replace the ``refreshed_hours`` of ``day`` in LatencyDaily by ``entries``; keep its other hours.

    Every day total is re-summed from the row's own per-hour entries, so refreshing an hour never
    needs the rest of the day's hourly rollups: the cost does not grow with the day's volume.
    """
    existing = {
        tuple(getattr(r, d) for d in LATENCY_DIMENSIONS): r
        # A whole day refreshed (a rebuild) keeps none of the stored hours: not read.
        for r in (() if whole_day(refreshed_hours) else LatencyDaily.objects.filter(day=day))
    }
    rows = []
    for dims in existing.keys() | entries.keys():
        hours = _daily_hours(existing[dims]) if dims in existing else {}
        for hour in refreshed_hours:
            hours.pop(hour, None)
        hours.update(entries.get(dims, {}))
        if hours:
            rows.append(_daily_build(day, dims, hours))
    LatencyDaily.objects.filter(day=day).delete()
    rows_insert(rows=rows)
    return len(rows)


def latency_hours_apply(hours: Iterable[datetime], values: list[dict] | None = None) -> int:
    """Replace ``hours`` in the latency rollups (LatencyDaily, LatencyHourOfDay, both
    per-subscription ones, and the spans over their days) by ``values``: every UsageHourly row of
    those hours, as ``HOURLY_FIELDS`` dicts; None: the stored ones (summed by the database on
    PostgreSQL, ``latency_sql``). Returns the number of LatencyDaily rows written."""
    written = 0
    hours = [hour_floor(hour) for hour in hours]
    refreshed: dict[date, set[str]] = {}
    for hour in hours:
        refreshed.setdefault(hour.date(), set()).add(str(hour.hour))
    if values is None and latency_sql_enabled():
        fine = hour_entries_stored(hours=hours)
        entries = entries_coarsen(fine, LATENCY_DIMENSIONS)
        by_subscription = subscription_entries_stored(fine)
    else:
        if values is None:
            values = list(UsageHourly.objects.filter(hour__in=hours).order_by().values(*HOURLY_FIELDS))
        entries = hour_entries(values)
        by_subscription = subscription_entries(values)
    by_hour_of_day = hour_of_day_entries(entries)
    for day, day_hours in refreshed.items():
        written += _latency_daily_apply(day, day_hours, entries.get(day, {}))
        _latency_hour_of_day_apply(
            day, day_hours, {key: hours for key, hours in by_hour_of_day.items() if key[0] == day}
        )
        latency_subscription_apply(day, day_hours, by_subscription)
    latency_spans_apply(refreshed)
    return written


def latency_daily_refresh(*, days: Iterable[datetime]) -> int:
    """Rebuild the LatencyDaily, LatencyHourOfDay and both per-subscription latency rows of each UTC day
    (midnight datetimes) from UsageHourly, the latency spans over those days, and the days'
    LatencyOperationDaily rows from their requests. Days before the hourly horizon
    (``usage.rollups.horizon``) are left as they are: no hourly rows to rebuild from."""
    written = 0
    horizon = hourly_horizon()
    for day_start in sorted({hour_floor(d).replace(hour=0) for d in days}):
        if horizon is not None and day_start < horizon:
            continue
        with transaction.atomic():
            rollup_lock()
            day_hours = [day_start + timedelta(hours=h) for h in range(24)]
            written += latency_hours_apply(day_hours)
            latency_operations_apply(day_hours)
    return written
