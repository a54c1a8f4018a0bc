"""Rows grouped by hour of day, from the rollups that keep the hours of each day."""

from datetime import UTC, datetime, time, timedelta

from ..models import LatencyHourOfDay, LatencyHourOfDaySpan, LatencySubscriptionDaily
from ..rollups.histograms import histograms_add_into, histograms_lanes
from .filters import LatencyFilters, _whole_days
from .queries import _day_and_span_sources, _filtered

_HOUR_OF_DAY_HISTOGRAMS = {
    "total_time_hist": "total_time_by_hour",
    "backend_time_hist": "backend_time_by_hour",
    "native_duration_hist": "native_duration_by_hour",
    "overhead_hist": "overhead_by_hour",
}


def _hour_of_day_rows(filters: LatencyFilters) -> list[dict]:
    """One row per hour of day, deployment, model and streaming kind, from LatencyHourOfDay
    (or LatencySubscriptionDaily with a subscription filter: same per-hour columns, summed over
    its regions here).

    The range's days are summed here already (rows carry ``hour_of_day``, no ``hour`` or
    ``day``, and their histograms as lanes), so grouping by hour of day accumulates at most
    24 x deployments x 2 rows. Hours of the first and last day outside ``[start, end)`` are left
    out, as the hourly rollup would leave them out.
    """
    whole_days = _whole_days(filters)
    first, last = filters.start.astimezone(UTC).date(), filters.days[-1]
    if filters.subscription:
        sources = [
            LatencySubscriptionDaily.objects.filter(
                apim_subscription_id=filters.subscription, day__gte=first, day__lte=last
            )
        ]
    elif whole_days:  # single days and spans (LatencyHourOfDaySpan rows sum whole days)
        sources = _day_and_span_sources(
            LatencyHourOfDay, LatencyHourOfDaySpan, first, last + timedelta(days=1)
        )
    else:
        sources = [LatencyHourOfDay.objects.filter(day__gte=first, day__lte=last)]
    groups: dict[tuple, dict] = {}
    # {histogram: {(dims, hour of day): lanes}}, summed over the days, put into ``groups`` at the end
    lanes: dict[str, dict[tuple, int]] = {name: {} for name in _HOUR_OF_DAY_HISTOGRAMS}
    columns = (
        "day",
        "deployment",
        "model",
        "is_streaming",
        "measures_by_hour",
        *_HOUR_OF_DAY_HISTOGRAMS.values(),
    )
    for day_row in (
        row for source in sources for row in _filtered(source, filters).order_by().values(*columns)
    ):
        midnight = datetime.combine(day_row["day"], time.min, tzinfo=UTC)
        dims = (day_row["deployment"], day_row["model"], day_row["is_streaming"])
        in_range = None  # every hour of the day
        if not whole_days and not filters.start <= midnight < midnight + timedelta(days=1) <= filters.end:
            in_range = {h for h in range(24) if filters.start <= midnight + timedelta(hours=h) < filters.end}
        for hour, measures in day_row["measures_by_hour"].items():
            hour_of_day = int(hour)
            if in_range is not None and hour_of_day not in in_range:
                continue
            row = groups.get((hour_of_day, *dims))
            if row is None:
                row = groups[(hour_of_day, *dims)] = {
                    "hour_of_day": hour_of_day,
                    **dict(zip(("deployment", "model", "is_streaming"), dims, strict=True)),
                    "requests": 0,
                    "throttled": 0,
                    "errors": 0,
                    "tps_completion_tokens": 0,
                    "tps_backend_ms": 0.0,
                    **dict.fromkeys(_HOUR_OF_DAY_HISTOGRAMS, 0),
                    "last_seen_at": None,
                    "ratelimit_remaining_requests": None,
                    "ratelimit_remaining_tokens": None,
                }
            requests, throttled, errors, tps_tokens, tps_ms, seen, rl_requests, rl_tokens = measures
            row["requests"] += requests
            row["throttled"] += throttled
            row["errors"] += errors
            row["tps_completion_tokens"] += tps_tokens
            row["tps_backend_ms"] += tps_ms
            if seen is not None:
                seen = datetime.fromisoformat(seen)
                if row["last_seen_at"] is None or seen > row["last_seen_at"]:
                    row["last_seen_at"] = seen
                    row["ratelimit_remaining_requests"] = rl_requests
                    row["ratelimit_remaining_tokens"] = rl_tokens
        for name, column in _HOUR_OF_DAY_HISTOGRAMS.items():
            if in_range is None:
                histograms_add_into(lanes[name], day_row[column], dims)
                continue
            target = lanes[name]
            for hour_of_day, hour_lanes in histograms_lanes(day_row[column]):
                if hour_of_day in in_range:
                    target[(dims, hour_of_day)] = target.get((dims, hour_of_day), 0) + hour_lanes
    for (hour_of_day, *dims), row in groups.items():
        for name in _HOUR_OF_DAY_HISTOGRAMS:
            row[name] = lanes[name].get((tuple(dims), hour_of_day), 0)
    return list(groups.values())
