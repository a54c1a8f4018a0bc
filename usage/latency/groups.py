"""Latency per group (region, deployment, model, hour of day or day) and streaming kind."""

from collections.abc import Callable, Mapping
from datetime import UTC, date

from ..regions import REGION_NOT_SENT, region_group, region_label
from .filters import LatencyFilters
from .percentiles import LatencyRow, _Accumulator, _round
from .reads import latency_day_rows, latency_rollup_rows

NOT_SENT_GROUP = "(APIM gateway, not sent)"


def _named_or_not_sent(row: Mapping, name: str) -> str:
    """``row[name]``, else the not-sent group for requests APIM answered itself (a 429 of its
    token-limit policy has no model, often no deployment: they are not "unknown"), else
    ``(unknown)``. Rows without a backend region (hour-of-day rollups) are never not-sent."""
    if row[name]:
        return row[name]
    if region_group(row.get("backend_region", "")) == REGION_NOT_SENT:
        return NOT_SENT_GROUP
    return "(unknown)"


# group_by names accepted by latency_rows -> how a rollup row is keyed.
GROUPINGS: dict[str, Callable[[dict], str | int]] = {
    # Region names (older rows may hold display names), ``unknown``, or ``gateway`` for requests
    # APIM answered itself (never sent to a backend): see usage.regions.
    "region": lambda row: region_group(row["backend_region"]),
    "apim_region": lambda row: region_group(row["apim_region"]),
    "deployment": lambda row: _named_or_not_sent(row, "deployment"),
    "model": lambda row: _named_or_not_sent(row, "model"),
    "hour_of_day": lambda row: (
        row["hour_of_day"] if "hour_of_day" in row else row["hour"].astimezone(UTC).hour
    ),
    "day": lambda row: _day_of(row).isoformat(),
}
GROUP_LABELS = {
    "region": "Backend region",
    "apim_region": "APIM region",
    "deployment": "Deployment",
    "model": "Model",
    "hour_of_day": "Hour of day (UTC)",
    "day": "Day (UTC)",
}
# Groupings that key rows by backend region or day only (as the charts do): with a subscription
# and no deployment or model filter they can read LatencySubscriptionRegionDaily.
REGION_GROUPINGS = ("region", "day")
_REGION_KEYED = ("region", "apim_region")  # groupings whose keys are regions (labelled by name)


def _day_of(row: Mapping) -> date:
    """The UTC day of a rollup row of either source."""
    return row["day"] if "day" in row else row["hour"].astimezone(UTC).date()


def _sort_key(row: LatencyRow) -> tuple:
    group = row.group
    return (isinstance(group, str), group if isinstance(group, str) else f"{group:05d}", bool(row.streaming))


def latency_rows(
    *,
    filters: LatencyFilters,
    group_by: str,
    rows: list[dict] | None = None,
    day_rows: list[dict] | None = None,
    with_trend: bool = False,
) -> list[LatencyRow]:
    """One LatencyRow per group and streaming kind, ordered by group then non-streaming first
    (with ``filters.combined`` one row per group, ``streaming`` None: all requests).

    ``group_by`` is a key of GROUPINGS. ``rows`` lets a caller reuse rollup rows it already read,
    ``day_rows`` the per-day rows (``latency_day_rows``) it read for the trends. With
    ``with_trend`` each row also carries the p95 of total time per day of the range.
    """
    key_of = GROUPINGS[group_by]
    by_hour_of_day = group_by == "hour_of_day"
    if rows is None or (by_hour_of_day and rows and "hour" not in rows[0] and "hour_of_day" not in rows[0]):
        # Hour-of-day rows from LatencyHourOfDay have the days summed already: a trend per day
        # (never asked for with this grouping by the page or the API) needs the hourly rollup.
        rows = latency_rollup_rows(
            filters=filters,
            with_hours=False,
            by_hour_of_day=by_hour_of_day,
            hourly=by_hour_of_day and with_trend,
            per_day=group_by == "day",
            regions_only=group_by in REGION_GROUPINGS,
        )
    if group_by == "day":
        rows = latency_day_rows(filters=filters, rows=rows, trend_only=False)

    def kind(row: Mapping) -> bool | None:
        return None if filters.combined else row["is_streaming"]

    groups: dict[tuple, _Accumulator] = {}
    for row in rows:
        key = (key_of(row), kind(row))
        accumulator = groups.get(key)
        if accumulator is None:
            accumulator = groups[key] = _Accumulator()
        accumulator.add(row)
    daily: dict[tuple, _Accumulator] = {}
    if with_trend:
        for row in day_rows if day_rows is not None else latency_day_rows(filters=filters, rows=rows):
            day_key = (key_of(row), kind(row), _day_of(row))
            day = daily.get(day_key)
            if day is None:
                day = daily[day_key] = _Accumulator()
            day.add_histogram("total", row["total_time_hist"])  # a trend is a p95 of total time
    result = []
    days = filters.days if with_trend else []
    for (group, streaming), accumulator in groups.items():
        latency_row = accumulator.row(group, streaming)
        latency_row.label = region_label(group) if group_by in _REGION_KEYED else str(group)
        if with_trend:
            latency_row.trend_p95_ms = [
                _round(daily[(group, streaming, d)].p95_total()) if (group, streaming, d) in daily else None
                for d in days
            ]
        result.append(latency_row)
    return sorted(result, key=_sort_key)
