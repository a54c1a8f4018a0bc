"""Fixed log-scale latency buckets, so percentiles can be computed from merged hourly rollups.

Bucket i covers [EDGES[i], EDGES[i+1]) milliseconds with EDGES growing by 10**(1/40) (~5.9%)
per bucket from 1 ms to 10**6 ms; bucket 0 also holds everything below 1 ms and the last bucket
everything above. A percentile read from the histogram is the geometric middle of its bucket,
so it is within one bucket width of the exact value.
"""

import math
from collections.abc import Iterable, Mapping

BUCKETS_PER_DECADE = 40
DECADES = 6
BUCKET_COUNT = BUCKETS_PER_DECADE * DECADES + 1


def bucket_index(ms: float) -> int:
    if ms is None or ms != ms or ms < 1:  # None, NaN, sub-millisecond
        return 0
    index = int(math.floor(math.log10(ms) * BUCKETS_PER_DECADE)) + 1
    return min(index, BUCKET_COUNT - 1)


def bucket_bounds(index: int) -> tuple[float, float]:
    if index <= 0:
        return 0.0, 1.0
    low = 10 ** ((index - 1) / BUCKETS_PER_DECADE)
    high = 10 ** (index / BUCKETS_PER_DECADE)
    return low, high


def histogram_add(histogram: dict[str, int], ms: float | None) -> None:
    if ms is None:
        return
    key = str(bucket_index(ms))
    histogram[key] = histogram.get(key, 0) + 1


def histogram_merge(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for histogram in histograms:
        for key, count in (histogram or {}).items():
            merged[key] = merged.get(key, 0) + int(count)
    return merged


def histogram_count(histogram: Mapping[str, int]) -> int:
    return sum(int(c) for c in histogram.values())


def histogram_percentile(histogram: Mapping[str, int], quantile: float) -> float | None:
    """The ``quantile`` (0..1) of the values in ``histogram``, or None when it is empty."""
    total = histogram_count(histogram)
    if total == 0:
        return None
    # Nearest-rank: the smallest value with at least quantile * total values at or below it.
    rank = max(1, math.ceil(quantile * total))
    seen = 0
    for key in sorted(histogram, key=int):
        seen += int(histogram[key])
        if seen >= rank:
            low, high = bucket_bounds(int(key))
            return math.sqrt(low * high) if low > 0 else high / 2
    raise AssertionError("unreachable: rank <= total")
