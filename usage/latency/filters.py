"""The question a latency page or API call asks: a half-open UTC window and optional deployment,
model, streaming kind and APIM subscription; parsed from a query string, with its default."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from aoai_portal import params

from ..models import LatencyDaily
from ..rollups.horizon import hourly_range_widened

DEFAULT_DAYS = 7
MAX_DAYS = 366


@dataclass(frozen=True)
class LatencyFilters:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    deployment: str = ""
    model: str = ""
    streaming: bool | None = None  # None: both, in separate rows (or together: ``combined``)
    subscription: str = ""
    # Streaming and non-streaming requests in one row per group ("all requests"); only with
    # ``streaming`` None. A streamed time is time to the last byte, so such a p95 mixes two kinds
    # of time: the page offers it beside the split, never instead of it.
    combined: bool = False
    # Set when the range asked for was widened to whole days (``latency_filters_widened``).
    note: str = field(default="", compare=False)

    @property
    def days(self) -> list[date]:
        first = self.start.astimezone(UTC).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(UTC).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def latency_filters_default(*, now: datetime | None = None) -> LatencyFilters:
    """The last DEFAULT_DAYS whole UTC days including today."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)
    return LatencyFilters(start=end - timedelta(days=DEFAULT_DAYS), end=end)


def _whole_days(filters: LatencyFilters) -> bool:
    return all(
        moment.astimezone(UTC).time() == time.min and moment.utcoffset() is not None
        for moment in (filters.start, filters.end)
    )


def latency_filters_widened(filters: LatencyFilters) -> LatencyFilters:
    """``filters`` as the rollups can answer them: a range that is not whole UTC days and starts
    before the hourly horizon (``usage.rollups.horizon``) becomes whole days, with a note; the
    hourly rows that would answer it are gone there."""
    if _whole_days(filters):
        return filters
    read = hourly_range_widened(begin=filters.start, end=filters.end, whole_days=True)
    if not read.widened:
        return filters
    return replace(filters, start=read.begin, end=read.end, note=read.note)


def latency_choices(*, filters: LatencyFilters) -> dict[str, list[str]]:
    """Distinct deployments and models seen in the range's days (for the filter lists).

    Read from LatencyDaily (small); subscriptions are typed, since listing the distinct
    subscriptions of a range would scan the hourly rollup.
    """
    queryset = LatencyDaily.objects.filter(
        day__gte=filters.start.astimezone(UTC).date(), day__lte=filters.days[-1]
    ).order_by()
    return {
        name: sorted(v for v in queryset.values_list(name, flat=True).distinct() if v)
        for name in ("deployment", "model")
    }


class LatencyFilterError(ValueError):
    """A filter value that cannot be understood; the message is meant for the user."""


def _parse_moment(value: str, *, name: str, is_end: bool) -> datetime:
    value = value.strip()
    try:
        moment = params.datetime_parse(value, name=f"'{name}'")
    except params.ParamError as error:
        raise LatencyFilterError(str(error)) from None
    # A date as the end of a range includes that whole day.
    return moment + timedelta(days=1) if is_end and len(value) == 10 else moment


_TRUE = {"1", "true", "yes", "streaming"}
_FALSE = {"0", "false", "no", "non-streaming"}


def latency_filters_parse(*, params: Mapping[str, str], now: datetime | None = None) -> LatencyFilters:
    """Filters from a query string: from, to, deployment, model, streaming, subscription.

    ``streaming`` is ``true``, ``false``, empty (both kinds, in separate rows) or ``combined``
    (both kinds together: all requests).
    Missing dates default to the last DEFAULT_DAYS days; a date-only ``to`` includes that day.
    A range before the hourly horizon that is not whole days is widened (``note`` says so).
    Raises LatencyFilterError with a readable message for values that make no sense.
    """
    default = latency_filters_default(now=now)
    start = _parse_moment(params["from"], name="from", is_end=False) if params.get("from") else None
    end = _parse_moment(params["to"], name="to", is_end=True) if params.get("to") else None
    if start is None and end is None:
        start, end = default.start, default.end
    elif start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    elif end is None:
        end = max(default.end, start + timedelta(days=1))
    if end <= start:
        raise LatencyFilterError("'to' must be after 'from'.")
    if end - start > timedelta(days=MAX_DAYS):
        raise LatencyFilterError(f"The range may span at most {MAX_DAYS} days.")
    streaming_text = (params.get("streaming") or "").strip().lower()
    combined = streaming_text == "combined"
    if streaming_text in ("", "all", "both", "combined"):
        streaming = None
    elif streaming_text in _TRUE:
        streaming = True
    elif streaming_text in _FALSE:
        streaming = False
    else:
        raise LatencyFilterError("'streaming' must be true, false, combined or empty (both, apart).")
    filters = LatencyFilters(
        start=start,
        end=end,
        deployment=(params.get("deployment") or "").strip(),
        model=(params.get("model") or "").strip(),
        streaming=streaming,
        subscription=(params.get("subscription") or "").strip(),
        combined=combined,
    )
    return latency_filters_widened(filters)
