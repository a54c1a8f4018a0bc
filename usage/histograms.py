"""Fixed log-scale latency buckets, so percentiles can be computed from merged hourly rollups.

Bucket i covers [EDGES[i], EDGES[i+1]) milliseconds with EDGES growing by 10**(1/40) (~5.9%)
per bucket from 1 ms to 10**6 ms; bucket 0 also holds everything below 1 ms and the last bucket
everything above. A percentile read from the histogram is the geometric middle of its bucket,
so it is within one bucket width of the exact value.

The rollup computes bucket indexes in SQL (``usage.rollups``) with the very same formula as
``bucket_index`` (natural log times a constant, plus a tiny epsilon so that exact bucket edges such
as 10 ms land in the bucket they start), so Python and the database agree.
"""

import math
from collections.abc import Iterable, Mapping, Sequence

BUCKETS_PER_DECADE = 40
DECADES = 6
BUCKET_COUNT = BUCKETS_PER_DECADE * DECADES + 1
# index = floor(ln(ms) * SCALE + EPSILON) + 1, for ms >= 1, capped at the last bucket.
SCALE = BUCKETS_PER_DECADE / math.log(10)
EPSILON = 1e-9


def bucket_index(ms: float | None) -> int:
    if ms is None or ms != ms or ms < 1:  # None, NaN, sub-millisecond
        return 0
    index = int(math.floor(math.log(ms) * SCALE + EPSILON)) + 1
    return min(index, BUCKET_COUNT - 1)


def bucket_bounds(index: int) -> tuple[float, float]:
    if index <= 0:
        return 0.0, 1.0
    low = 10 ** ((index - 1) / BUCKETS_PER_DECADE)
    high = 10 ** (index / BUCKETS_PER_DECADE)
    return low, high


def bucket_width(ms: float) -> float:
    """Width of the bucket that holds ``ms``: the accuracy of a histogram percentile near it."""
    low, high = bucket_bounds(bucket_index(ms))
    return high - low


def histogram_add(histogram: dict[str, int], ms: float | None, count: int = 1) -> None:
    if ms is None:
        return
    key = str(bucket_index(ms))
    histogram[key] = histogram.get(key, 0) + count


def histogram_merge_into(target: dict[str, int], histogram: Mapping[str, int] | None) -> None:
    """Add the counts of ``histogram`` to ``target`` in place."""
    if not histogram:
        return
    get = target.get
    for key, count in histogram.items():
        target[key] = get(key, 0) + count


def histogram_merge(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for histogram in histograms:
        histogram_merge_into(merged, histogram)
    return merged


def histogram_count(histogram: Mapping[str, int]) -> int:
    return sum(int(c) for c in histogram.values())


def histogram_percentiles(histogram: Mapping[str, int], quantiles: Sequence[float]) -> list[float | None]:
    """The ``quantiles`` (each 0..1) of the values in ``histogram``; None for each when it is empty.

    Nearest rank: the smallest bucket with at least ``quantile * total`` values at or below it,
    reported as the geometric middle of that bucket.
    """
    total = histogram_count(histogram)
    if total == 0:
        return [None for _ in quantiles]
    ranks = [max(1, math.ceil(q * total)) for q in quantiles]
    answers: list[float | None] = [None] * len(quantiles)
    seen = 0
    for key in sorted(histogram, key=int):
        seen += int(histogram[key])
        for position, rank in enumerate(ranks):
            if answers[position] is None and seen >= rank:
                low, high = bucket_bounds(int(key))
                answers[position] = math.sqrt(low * high) if low > 0 else high / 2
        if all(a is not None for a in answers):
            break
    return answers


def histogram_percentile(histogram: Mapping[str, int], quantile: float) -> float | None:
    """The ``quantile`` (0..1) of the values in ``histogram``, or None when it is empty."""
    return histogram_percentiles(histogram, (quantile,))[0]
