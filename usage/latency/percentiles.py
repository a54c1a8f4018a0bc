"""Rollup rows summed, and the percentiles of their merged histograms: a ``LatencyRow``."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..rollups.histograms import (
    counts_percentiles,
    histogram_from_lanes,
    histogram_lanes,
    histogram_merge_into,
    histogram_percentiles,
    lanes_counts,
)

QUANTILES = (0.5, 0.95, 0.99)


@dataclass
class LatencyRow:
    group: str | int
    streaming: bool | None  # None: streaming and non-streaming together (all requests)
    label: str = ""  # what a page shows for ``group`` (a region's display name)
    requests: int = 0
    throttled: int = 0
    errors: int = 0
    total_p50_ms: float | None = None
    total_p95_ms: float | None = None
    total_p99_ms: float | None = None
    backend_p50_ms: float | None = None
    backend_p95_ms: float | None = None
    backend_p99_ms: float | None = None
    native_p50_ms: float | None = None
    native_p95_ms: float | None = None
    native_p99_ms: float | None = None
    overhead_p50_ms: float | None = None
    overhead_p95_ms: float | None = None
    overhead_p99_ms: float | None = None
    throttled_share: float = 0.0
    error_share: float = 0.0
    tokens_per_second: float | None = None
    last_seen_at: datetime | None = None
    ratelimit_remaining_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    # p95 of total time per day of the range (None where there were no requests).
    trend_p95_ms: list[float | None] = field(default_factory=list)


_HISTOGRAMS = ("total", "backend", "native", "overhead")


class _Accumulator:
    """Sums of rollup rows. Histograms come as JSON dicts (UsageHourly) or packed (the latency
    rollups); packed ones are added as integer lanes, and both kinds meet once, in ``histogram``."""

    __slots__ = (
        "requests",
        "throttled",
        "errors",
        "tps_tokens",
        "tps_ms",
        "hists",
        "lanes",
        "last_seen",
        "headroom",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.throttled = 0
        self.errors = 0
        self.tps_tokens = 0
        self.tps_ms = 0.0
        self.hists: dict[str, dict[str, int]] = {name: {} for name in _HISTOGRAMS}
        self.lanes: dict[str, int] = dict.fromkeys(_HISTOGRAMS, 0)
        self.last_seen: datetime | None = None
        self.headroom: tuple[int | None, int | None] = (None, None)

    def add(self, row: Mapping[str, Any], *, histograms: Iterable[str] = _HISTOGRAMS) -> None:
        self.requests += row["requests"]
        if "status_class" not in row:  # latency rollup row: status classes already counted
            self.throttled += row["throttled"]
            self.errors += row["errors"]
        elif row["status_class"] == "429":
            self.throttled += row["requests"]
        elif row["status_class"] == "5xx":
            self.errors += row["requests"]
        self.tps_tokens += row["tps_completion_tokens"]
        self.tps_ms += row["tps_backend_ms"]
        for name in histograms:
            histogram = row[_HIST_COLUMNS[name]]
            if type(histogram) is dict:
                histogram_merge_into(self.hists[name], histogram)
            elif type(histogram) is int:  # lanes already (LatencyHourOfDay rows)
                self.lanes[name] += histogram
            elif histogram:  # packed
                self.lanes[name] += histogram_lanes(histogram)
        seen = row["last_seen_at"]
        if seen is not None and (self.last_seen is None or seen > self.last_seen):
            self.last_seen = seen
            self.headroom = (row["ratelimit_remaining_requests"], row["ratelimit_remaining_tokens"])

    def add_histogram(
        self, name: str, histogram: Mapping[str, int] | bytes | memoryview | int | None
    ) -> None:
        """Add a JSON histogram, a packed one, or lanes (an int) to the ``name`` histogram."""
        if isinstance(histogram, int):
            self.lanes[name] += histogram
        elif isinstance(histogram, bytes | memoryview):
            self.lanes[name] += histogram_lanes(histogram)
        else:
            histogram_merge_into(self.hists[name], histogram)

    def histogram(self, name: str) -> dict[str, int]:
        merged = histogram_from_lanes(self.lanes[name])
        histogram_merge_into(merged, self.hists[name])
        return merged

    def percentiles(self, name: str, quantiles: Sequence[float]) -> list[float | None]:
        if not self.hists[name]:  # only packed rows: straight from the lanes
            return counts_percentiles(lanes_counts(self.lanes[name]), quantiles)
        return histogram_percentiles(self.histogram(name), quantiles)

    def p95_total(self) -> float | None:
        return self.percentiles("total", (0.95,))[0]

    def row(self, group: str | int, streaming: bool | None) -> LatencyRow:
        result = LatencyRow(group=group, streaming=streaming, requests=self.requests)
        result.throttled = self.throttled
        result.errors = self.errors
        for name in _HISTOGRAMS:
            p50, p95, p99 = self.percentiles(name, QUANTILES)
            setattr(result, f"{name}_p50_ms", _round(p50))
            setattr(result, f"{name}_p95_ms", _round(p95))
            setattr(result, f"{name}_p99_ms", _round(p99))
        if self.requests:
            result.throttled_share = self.throttled / self.requests
            result.error_share = self.errors / self.requests
        if streaming is not True and self.tps_ms > 0:  # summed over non-streaming requests only
            result.tokens_per_second = round(self.tps_tokens / (self.tps_ms / 1000.0), 2)
        result.last_seen_at = self.last_seen
        result.ratelimit_remaining_requests, result.ratelimit_remaining_tokens = self.headroom
        return result


_HIST_COLUMNS = {
    "total": "total_time_hist",
    "backend": "backend_time_hist",
    "native": "native_duration_hist",
    "overhead": "overhead_hist",
}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _p95(lanes: int, histogram: Mapping[str, int] | None = None) -> float | None:
    """p95 of the histogram whose packed part is ``lanes`` plus the JSON ``histogram`` (if any)."""
    if not histogram:
        return _round(counts_percentiles(lanes_counts(lanes), (0.95,))[0])
    merged = histogram_from_lanes(lanes)
    histogram_merge_into(merged, histogram)
    return _round(histogram_percentiles(merged, (0.95,))[0])
