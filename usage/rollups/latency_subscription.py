"""Maintain the per-subscription latency rollups (LatencySubscriptionDaily,
LatencySubscriptionRegionDaily): only the rows holding a refreshed hour are rewritten, with
their histograms handled as integer lanes."""

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from django.db.models import Q

from ..db.bulk import rows_update
from ..db.copy import rows_insert
from ..models import LatencySubscriptionDaily, LatencySubscriptionRegionDaily
from .entries import BY_HOUR_COLUMNS, LATENCY_DIMENSIONS, PACKED_COLUMNS, hour_entries, whole_day
from .histograms import (
    histogram_lanes,
    histogram_lanes_of,
    histogram_pack_lanes,
    histogram_segment,
    histograms_join,
    histograms_segments,
    segment_lanes,
)
from .latency_sql import FineEntries, entries_coarsen

_SUBSCRIPTION_DIMENSIONS = ("apim_subscription_id", *LATENCY_DIMENSIONS)
_SUBSCRIPTION_REGION_DIMENSIONS = ("apim_subscription_id", "backend_region", "is_streaming")
# The per-subscription latency rollups and the dimensions each keys its rows by.
_HISTOGRAMS = tuple(PACKED_COLUMNS)  # the entries' histograms (BY_HOUR_COLUMNS has the same names)
_SUBSCRIPTION_ROLLUPS = {
    LatencySubscriptionDaily: _SUBSCRIPTION_DIMENSIONS,
    LatencySubscriptionRegionDaily: _SUBSCRIPTION_REGION_DIMENSIONS,
}


def _lanes_entries(by_dims: Mapping[tuple, Mapping[str, dict]]) -> dict[tuple, dict[str, dict]]:
    """``hour_entries`` items of one day with their histograms as lanes (what
    LatencySubscriptionDaily rows are built from: summing and packing lanes needs no dicts);
    histograms given as lanes already (``latency_sql``) are kept."""
    return {
        dims: {
            hour: entry
            if isinstance(entry["total"], int)
            else {**entry, **{name: histogram_lanes_of(entry[name]) for name in PACKED_COLUMNS}}
            for hour, entry in hours.items()
        }
        for dims, hours in by_dims.items()
    }


def subscription_daily_fields(
    day: date,
    dims: tuple,
    hours: Mapping[str, Mapping],
    *,
    dimensions: tuple[str, ...],
    previous: LatencySubscriptionDaily | LatencySubscriptionRegionDaily | None = None,
    refreshed: Iterable[str] = (),
) -> dict | None:
    """The LatencySubscriptionDaily field values of one day and subscription dims
    (``dimensions``' values; LatencySubscriptionRegionDaily's with theirs) holding the per-hour
    entries ``hours`` (``_lanes_entries`` items); None when no hour is left.

    With ``previous`` (the stored row) its ``refreshed`` hours are replaced by ``hours`` and its
    other hours kept as stored: their histogram parts are copied, not unpacked and packed again,
    and the day histograms are the stored ones minus the replaced hours plus the new ones (integer
    lanes, so exactly the sums of the hours). Counts and times are re-summed over the hours in hour
    order, as a build from scratch sums them, so both give the same bytes.
    """
    # Histograms by position in _HISTOGRAMS, in plain lists and locals: this runs per row of a
    # rebuild, where attribute and dict look-ups per hour and histogram were most of its cost.
    measures = dict(previous.measures_by_hour) if previous is not None else {}
    totals = [
        histogram_lanes(getattr(previous, PACKED_COLUMNS[name])) if previous is not None else 0
        for name in _HISTOGRAMS
    ]
    segments: list[dict[int, bytes]] = [
        histograms_segments(getattr(previous, BY_HOUR_COLUMNS[name])) if previous is not None else {}
        for name in _HISTOGRAMS
    ]
    for hour in refreshed:
        if measures.pop(hour, None) is None:
            continue
        for i, by_key in enumerate(segments):
            segment = by_key.pop(int(hour), None)
            if segment:
                totals[i] -= segment_lanes(segment)
    for hour, entry in hours.items():
        measures[hour] = [  # in MEASURE_ORDER
            entry["requests"],
            entry["throttled"],
            entry["errors"],
            entry["tps_tokens"],
            entry["tps_ms"],
            entry["last_seen_at"],
            entry["rl_requests"],
            entry["rl_tokens"],
        ]
        key = int(hour)
        for i, name in enumerate(_HISTOGRAMS):
            lanes = entry[name]
            if lanes:
                totals[i] += lanes
                segments[i][key] = histogram_segment(key, lanes)
    if not measures:
        return None
    ordered = sorted(measures, key=int) if len(measures) > 1 else list(measures)
    measures_by_hour = {hour: measures[hour] for hour in ordered}
    requests = throttled = errors = tps_tokens = 0
    tps_ms = 0.0
    last_seen = rl_requests = rl_tokens = None
    for values in measures_by_hour.values():
        requests += values[0]
        throttled += values[1]
        errors += values[2]
        tps_tokens += values[3]
        tps_ms += values[4]
        seen = values[5]
        if seen is not None and (last_seen is None or seen > last_seen):
            last_seen, rl_requests, rl_tokens = seen, values[6], values[7]
    fields: dict = {
        "day": day,
        **dict(zip(dimensions, dims, strict=True)),
        "requests": requests,
        "throttled": throttled,
        "errors": errors,
        "tps_completion_tokens": tps_tokens,
        "tps_backend_ms": tps_ms,
        "last_seen_at": datetime.fromisoformat(last_seen) if last_seen else None,
        "ratelimit_remaining_requests": rl_requests,
        "ratelimit_remaining_tokens": rl_tokens,
        "measures_by_hour": measures_by_hour,
        "requests_by_hour": {hour: values[0] for hour, values in measures_by_hour.items()},
    }
    for i, name in enumerate(_HISTOGRAMS):
        fields[PACKED_COLUMNS[name]] = histogram_pack_lanes(totals[i])
        fields[BY_HOUR_COLUMNS[name]] = histograms_join(segments[i])
    return fields


# What a refresh rewrites in a LatencySubscriptionDaily row (all but the key).
_SUBSCRIPTION_DAILY_MEASURES = (
    "requests",
    "throttled",
    "errors",
    "tps_completion_tokens",
    "tps_backend_ms",
    "total_time_hist",
    "backend_time_hist",
    "native_duration_hist",
    "overhead_hist",
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "measures_by_hour",
    "requests_by_hour",
    *BY_HOUR_COLUMNS.values(),
)


def _latency_subscription_daily_apply(
    day: date,
    refreshed_hours: set[str],
    entries: Mapping[tuple, Mapping[str, dict]],
    *,
    model: type[LatencySubscriptionDaily | LatencySubscriptionRegionDaily],
) -> None:
    """Replace the ``refreshed_hours`` of ``day`` in ``model`` (one of ``_SUBSCRIPTION_ROLLUPS``)
    by ``entries`` ({dims: {hour: entry}}, as ``hour_entries`` makes them for the model's
    dimensions); keep its other hours.

    Only the rows holding a refreshed hour or receiving a new one are read and rewritten (the
    day's other rows stay untouched), so an ingestion-sized refresh costs what its hours hold,
    not what the day holds. Histograms are handled as lanes throughout.
    """
    dimensions = _SUBSCRIPTION_ROLLUPS[model]
    entries = _lanes_entries(entries)
    of_day = model.objects.filter(day=day).order_by()
    if whole_day(refreshed_hours):
        # The whole day (a rebuild, a re-priced month): no stored hour is kept, so the day's rows
        # are replaced without reading them.
        of_day.delete()
        fields_of = (
            subscription_daily_fields(day, dims, entries[dims], dimensions=dimensions)
            for dims in sorted(entries)
        )
        rows_insert(rows=[model(**fields) for fields in fields_of if fields is not None])
        return
    receiving = []
    if entries:
        receiving = [pk for pk, *dims in of_day.values_list("pk", *dimensions) if tuple(dims) in entries]
    affected = of_day.filter(Q(measures_by_hour__has_any_keys=sorted(refreshed_hours)) | Q(pk__in=receiving))
    existing = {tuple(getattr(r, d) for d in dimensions): r for r in affected}
    updated, created, emptied = [], [], []
    for dims in sorted(existing.keys() | entries.keys()):
        row = existing.get(dims)
        fields = subscription_daily_fields(
            day, dims, entries.get(dims, {}), dimensions=dimensions, previous=row, refreshed=refreshed_hours
        )
        if fields is None:
            emptied.append(row.pk)
            continue
        if row is None:
            created.append(model(**fields))
            continue
        for name in _SUBSCRIPTION_DAILY_MEASURES:
            setattr(row, name, fields[name])
        updated.append(row)
    if emptied:
        model.objects.filter(pk__in=emptied).delete()
    # Most refreshed rows exist already: one UPDATE from arrays (``rows_update``) costs a fraction
    # of deleting and re-inserting them through the ORM.
    rows_update(rows=updated, fields=_SUBSCRIPTION_DAILY_MEASURES)
    rows_insert(rows=created)


def subscription_entries(rows: list[Mapping]) -> dict[type, dict]:
    """UsageHourly values -> {rollup: {day: {dims: {hour: entry}}}} for each of
    ``_SUBSCRIPTION_ROLLUPS``, keyed by that rollup's dimensions."""
    return {model: hour_entries(rows, dimensions) for model, dimensions in _SUBSCRIPTION_ROLLUPS.items()}


def subscription_entries_stored(fine: FineEntries) -> dict[type, dict]:
    """``subscription_entries`` from the fine entries the database summed
    (``latency_sql.hour_entries_stored``), histograms as lanes."""
    return {
        model: entries_coarsen(fine, dimensions, lanes=True)
        for model, dimensions in _SUBSCRIPTION_ROLLUPS.items()
    }


def latency_subscription_apply(day: date, refreshed_hours: set[str], by_rollup: Mapping[type, dict]) -> None:
    """Both per-subscription latency rollups of ``day`` (``subscription_entries``' result)."""
    for model, by_day in by_rollup.items():
        _latency_subscription_daily_apply(day, refreshed_hours, by_day.get(day, {}), model=model)
