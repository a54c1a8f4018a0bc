"""Maintain LatencyOperationDaily (latency, 429s and 5xx per day, API operation and deployment).

UsageHourly has no operation, so this rollup follows the requests themselves, in the same two
ways as UsageHourly: hours refreshed whole (``usage.rollups.hourly.rollup_refresh_hours``) are
aggregated again from GatewayRequest, one GROUP BY per run of consecutive hours
(``latency_operations_apply``); new requests add their own entries, summed in Python as they are
written (``operation_entries_add`` by ``RollupDelta``, ``latency_operations_add`` by
``rollup_add``), never reading the request table. Each day's rows keep their per-hour entries:
refreshing an hour replaces that hour and keeps the others.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncHour

from ..db.copy import rows_insert
from ..models import GatewayRequest, LatencyOperationDaily
from ..models.requests import status_class
from .common import hour_floor
from .expressions import bucket_expression, status_class_expression
from .histograms import bucket_index, histogram_merge_into

_DIMENSIONS = ("deployment", "model", "is_streaming")
_MAX_RUN_HOURS = 72  # hours aggregated by one query at most (bounds memory for long rebuilds)
_LAST_HOUR = datetime(9999, 12, 31, 23, tzinfo=UTC)  # has no end: left out, as hourly.py does
# An hour's entry: [requests, throttled, errors, {bucket: count}]
_REQUESTS, _THROTTLED, _ERRORS, _HISTOGRAM = range(4)
_MEASURES = ("requests", "throttled", "errors", "total_time_hist", "hours")
Key = tuple[str, str, str, bool]  # (operation, deployment, model, is_streaming)
Entry = list[Any]  # [requests, throttled, errors, {bucket: count}]
OperationEntries = dict[date, dict[Key, dict[str, Entry]]]  # {day: {key: {hour of day: entry}}}


def _entry_add(
    entries: OperationEntries, *, hour: datetime, key: Key, klass: str, bucket: int | None, count: int
) -> None:
    entry = entries.setdefault(hour.date(), {}).setdefault(key, {}).setdefault(str(hour.hour), [0, 0, 0, {}])
    entry[_REQUESTS] += count
    if klass == "429":
        entry[_THROTTLED] += count
    elif klass == "5xx":
        entry[_ERRORS] += count
    if bucket is not None:  # requests without a total time count, but add no time
        histogram = entry[_HISTOGRAM]
        histogram[str(bucket)] = histogram.get(str(bucket), 0) + count


def operation_entries_add(entries: OperationEntries, request: GatewayRequest) -> None:
    """Add one request to ``entries`` (the Python twin of ``_operation_entries``' SQL)."""
    _entry_add(
        entries,
        hour=hour_floor(request.time),
        key=(
            request.operation_id or request.operation,
            request.deployment,
            request.model,
            request.is_streaming,
        ),
        klass=status_class(request.response_code),
        bucket=None if request.total_time_ms is None else bucket_index(request.total_time_ms),
        count=1,
    )


def _runs(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    runs: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if hour >= _LAST_HOUR:
            continue
        if runs and runs[-1][1] == hour and hour - runs[-1][0] < timedelta(hours=_MAX_RUN_HOURS):
            runs[-1] = (runs[-1][0], hour + timedelta(hours=1))
        else:
            runs.append((hour, hour + timedelta(hours=1)))
    return runs


def _operation_entries(hours: list[datetime]) -> OperationEntries:
    """The entries of every request of ``hours``, aggregated in SQL."""
    entries: OperationEntries = {}
    for start, end in _runs(hours):
        grouped = (
            GatewayRequest.objects.filter(time__gte=start, time__lt=end)
            .annotate(
                rollup_hour=TruncHour("time", tzinfo=UTC),
                klass=status_class_expression(),
                bucket=bucket_expression("total_time_ms"),
            )
            .values("rollup_hour", "operation_id", "operation", *_DIMENSIONS, "klass", "bucket")
            .order_by()
            .annotate(n=Count("id"))
        )
        for row in grouped:
            _entry_add(
                entries,
                hour=row["rollup_hour"].astimezone(UTC),
                key=(row["operation_id"] or row["operation"], *(row[d] for d in _DIMENSIONS)),
                klass=row["klass"],
                bucket=row["bucket"],
                count=row["n"],
            )
    return entries


def _day_row(day: date, key: Key, hours: dict[str, Entry]) -> LatencyOperationDaily:
    operation, deployment, model, is_streaming = key
    row = LatencyOperationDaily(
        day=day,
        operation=operation,
        deployment=deployment,
        model=model,
        is_streaming=is_streaming,
        hours=dict(sorted(hours.items(), key=lambda item: int(item[0]))),
        total_time_hist={},
    )
    for entry in hours.values():
        row.requests += entry[_REQUESTS]
        row.throttled += entry[_THROTTLED]
        row.errors += entry[_ERRORS]
        histogram_merge_into(row.total_time_hist, entry[_HISTOGRAM])
    return row


def latency_operations_apply(hours: Iterable[datetime]) -> int:
    """Replace ``hours`` in LatencyOperationDaily by what the requests of those hours say now.
    Returns the number of rows written (for the days touched)."""
    refreshed = sorted({hour_floor(h) for h in hours})
    if not refreshed:
        return 0
    new = _operation_entries(refreshed)
    written = 0
    for day in sorted({hour.date() for hour in refreshed}):
        day_hours = {str(hour.hour) for hour in refreshed if hour.date() == day}
        merged: dict[Key, dict[str, Entry]] = {}
        for stored in LatencyOperationDaily.objects.filter(day=day).order_by():
            kept = {hour: entry for hour, entry in stored.hours.items() if hour not in day_hours}
            if kept:
                key = (stored.operation, stored.deployment, stored.model, stored.is_streaming)
                merged[key] = kept
        for key, entries in new.get(day, {}).items():
            merged.setdefault(key, {}).update(entries)
        LatencyOperationDaily.objects.filter(day=day).delete()
        rows = [_day_row(day, key, entries) for key, entries in merged.items()]
        rows_insert(rows=rows)
        written += len(rows)
    return written


def latency_operations_add(entries: OperationEntries) -> None:
    """Add the entries of requests stored for the first time to their days' rows (in the caller's
    transaction, under the rollup lock, as ``rollup_add`` adds to UsageHourly)."""
    for day, keyed in entries.items():
        stored = {
            (r.operation, r.deployment, r.model, r.is_streaming): r
            for r in LatencyOperationDaily.objects.filter(day=day).order_by()
        }
        changed, created = [], []
        for key, hours in keyed.items():
            row = stored.get(key)
            merged = {h: [e[0], e[1], e[2], dict(e[3])] for h, e in (row.hours.items() if row else ())}
            for hour, entry in hours.items():
                target = merged.setdefault(hour, [0, 0, 0, {}])
                for index in (_REQUESTS, _THROTTLED, _ERRORS):
                    target[index] += entry[index]
                histogram_merge_into(target[_HISTOGRAM], entry[_HISTOGRAM])
            new = _day_row(day, key, merged)
            if row is None:
                created.append(new)
            else:
                new.pk = row.pk
                changed.append(new)
        LatencyOperationDaily.objects.bulk_update(changed, fields=_MEASURES, batch_size=500)
        rows_insert(rows=created)


def latency_operations_rebuild() -> int:
    """Rebuild LatencyOperationDaily for every day that has requests (a migration fills the table
    with it). Returns the number of rows written."""
    first = GatewayRequest.objects.order_by("time").values_list("time", flat=True).first()
    last = GatewayRequest.objects.order_by("-time").values_list("time", flat=True).first()
    if first is None or last is None:
        return 0
    written = 0
    day = hour_floor(first).replace(hour=0)
    while day <= last:
        written += latency_operations_apply(day + timedelta(hours=h) for h in range(24))
        day += timedelta(days=1)
    return written
