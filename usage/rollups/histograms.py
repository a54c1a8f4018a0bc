"""Fixed log-scale latency buckets, so percentiles can be computed from merged hourly rollups.

Bucket i covers [EDGES[i], EDGES[i+1]) milliseconds with EDGES growing by 10**(1/40) (~5.9%)
per bucket from 1 ms to 10**6 ms; bucket 0 also holds everything below 1 ms and the last bucket
everything above. A percentile read from the histogram is the geometric middle of its bucket,
so it is within one bucket width of the exact value.

Packed histograms (what the latency rollups store, ``histogram_pack``): the first non-empty
bucket index as one byte, then one little-endian unsigned 64-bit count per bucket up to the last
non-empty one; zlib-compressed when that is long (mostly zero bytes, so it compresses well and a month of
rows is cheap to send; decompressing is C-speed), marked by a first byte of 0xFF. Read with ``histogram_lanes`` a packed histogram becomes one Python integer
whose 64-bit "lanes" are the bucket counts, so merging two histograms is a single integer addition
(no lane can overflow: 2**64 requests) instead of a JSON decode and a dict update per bucket; a
month of rollup rows merges in milliseconds. ``histogram_from_lanes`` turns the sum back into the
``{bucket: count}`` dict every percentile is computed from, so both encodings give the same answers.

The rollup computes bucket indexes in SQL (``usage.rollups.hourly``) with the very same formula as
``bucket_index`` (natural log times a constant, plus a tiny epsilon so that exact bucket edges such
as 10 ms land in the bucket they start), so Python and the database agree.
"""

import math
import struct
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any

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
    if not histogram:
        return [None for _ in quantiles]
    counts = [0] * (max(int(key) for key in histogram) + 1)
    for key, count in histogram.items():
        counts[int(key)] += int(count)
    return counts_percentiles(counts, quantiles)


def counts_percentiles(counts: Sequence[int], quantiles: Sequence[float]) -> list[float | None]:
    """``histogram_percentiles`` of a dense histogram (``counts[i]`` values in bucket i)."""
    cumulative = list(accumulate(counts))
    total = cumulative[-1] if cumulative else 0
    if total == 0:
        return [None for _ in quantiles]
    answers: list[float | None] = []
    for quantile in quantiles:
        low, high = bucket_bounds(bisect_left(cumulative, max(1, math.ceil(quantile * total))))
        answers.append(math.sqrt(low * high) if low > 0 else high / 2)
    return answers


def histogram_percentile(histogram: Mapping[str, int], quantile: float) -> float | None:
    """The ``quantile`` (0..1) of the values in ``histogram``, or None when it is empty."""
    return histogram_percentiles(histogram, (quantile,))[0]


LANE_BITS = 64
_LANE_BYTES = LANE_BITS // 8


def _raw(histogram: Mapping[str, int] | None) -> bytes:
    """First non-empty bucket (1 byte), then its count and every later one's up to the last non-empty
    bucket, each as a little-endian unsigned 64-bit integer; empty bytes for an empty histogram."""
    counts = {int(key): int(count) for key, count in (histogram or {}).items() if int(count)}
    if not counts:
        return b""
    low, high = min(counts), max(counts)
    return bytes([low]) + struct.pack(
        f"<{high - low + 1}Q", *(counts.get(i, 0) for i in range(low, high + 1))
    )


_COMPRESSED = 0xFF  # first byte of a compressed value; a raw one starts with a bucket index or key < 255
_COMPRESS_FROM = 128  # raw bytes; below this zlib saves too little to pay for decompressing


def _compact(raw: bytes) -> bytes:
    if len(raw) < _COMPRESS_FROM:
        return raw
    compressed = zlib.compress(raw, 1)
    return bytes([_COMPRESSED]) + compressed if len(compressed) + 1 < len(raw) else raw


def _expand(packed: bytes | memoryview) -> bytes | memoryview:
    return zlib.decompress(packed[1:]) if packed[0] == _COMPRESSED else packed


def histogram_pack(histogram: Mapping[str, int] | None) -> bytes:
    """The packed form of a ``{bucket: count}`` histogram (empty bytes for an empty one)."""
    return _compact(_raw(histogram))


def histogram_lanes(packed: bytes | memoryview | None) -> int:
    """A packed histogram as one integer of 64-bit bucket lanes: add these to merge histograms."""
    if not packed:
        return 0
    raw = _expand(packed)
    return int.from_bytes(raw[1:], "little") << (raw[0] * LANE_BITS)


def lanes_counts(lanes: int) -> tuple[int, ...]:
    """The dense histogram (count per bucket from bucket 0) of a sum of ``histogram_lanes`` values."""
    if not lanes:
        return ()
    data = lanes.to_bytes(-(-lanes.bit_length() // LANE_BITS) * _LANE_BYTES, "little")
    return struct.unpack(f"<{len(data) // _LANE_BYTES}Q", data)


def histogram_from_lanes(lanes: int) -> dict[str, int]:
    """The ``{bucket: count}`` histogram of a sum of ``histogram_lanes`` values."""
    return {str(i): count for i, count in enumerate(lanes_counts(lanes)) if count}


def histogram_lanes_of(histogram: Mapping[str, int] | None) -> int:
    """The lanes of a ``{bucket: count}`` histogram (what ``histogram_lanes`` of its packed form gives)."""
    return sum(int(count) << (int(key) * LANE_BITS) for key, count in (histogram or {}).items())


def _raw_of_lanes(lanes: int) -> bytes:
    """``_raw`` of the histogram whose lanes are ``lanes``, without going through a dict."""
    if not lanes:
        return b""
    low = ((lanes & -lanes).bit_length() - 1) // LANE_BITS
    high = (lanes.bit_length() - 1) // LANE_BITS
    return bytes([low]) + (lanes >> (low * LANE_BITS)).to_bytes((high - low + 1) * _LANE_BYTES, "little")


def histogram_pack_lanes(lanes: int) -> bytes:
    """``histogram_pack`` of the histogram whose lanes are ``lanes`` (the same bytes)."""
    return _compact(_raw_of_lanes(lanes))


def histograms_segments(packed: bytes | memoryview | None) -> dict[int, bytes]:
    """The parts of a ``histograms_pack`` value by key, each as stored (key, length, raw form):
    ``histograms_join`` of them, with some replaced, is what packing the changed histograms gives,
    without unpacking the unchanged ones."""
    if not packed:
        return {}
    raw = bytes(_expand(packed))
    segments, position, size = {}, 0, len(raw)
    while position < size:
        end = position + 3 + int.from_bytes(raw[position + 1 : position + 3], "little")
        segments[raw[position]] = raw[position:end]
        position = end
    return segments


def histogram_segment(key: int, lanes: int) -> bytes:
    """The ``histograms_segments`` part of key ``key`` for a histogram given as lanes (empty bytes
    for an empty histogram, which ``histograms_pack`` leaves out)."""
    if not 0 <= key < _COMPRESSED:
        raise ValueError(f"histogram key {key!r} is not in 0..254")
    if not lanes:
        return b""
    # _raw_of_lanes inlined (this runs per row, hour and histogram of a rebuild)
    low = ((lanes & -lanes).bit_length() - 1) // LANE_BITS
    size = ((lanes.bit_length() - 1) // LANE_BITS - low + 1) * _LANE_BYTES
    return (
        bytes((key,))
        + (size + 1).to_bytes(2, "little")
        + bytes((low,))
        + (lanes >> (low * LANE_BITS)).to_bytes(size, "little")
    )


def segment_lanes(segment: bytes) -> int:
    """The lanes of one ``histograms_segments`` part."""
    return int.from_bytes(segment[4:], "little") << (segment[3] * LANE_BITS)


def histograms_join(segments: Mapping[int, bytes]) -> bytes:
    """The ``histograms_pack`` value made of ``histograms_segments`` parts."""
    return _compact(b"".join(segments[key] for key in sorted(segments)))


def histograms_pack_lanes(lanes_by_key: Mapping[int, int]) -> bytes:
    """``histograms_pack`` of histograms given as lanes per key (the same bytes), without dicts."""
    return histograms_join(
        {key: histogram_segment(key, lanes) for key, lanes in lanes_by_key.items() if lanes}
    )


def histogram_unpack(packed: bytes | memoryview | None) -> dict[str, int]:
    return histogram_from_lanes(histogram_lanes(packed))


def histograms_pack(histograms: Mapping[str, Mapping[str, int]]) -> bytes:
    """Several histograms keyed by a small number (0..254; the hour of day) in one value.

    Compressed as one (when large): per non-empty histogram the key (1 byte), the length of its raw form
    (2 bytes, little-endian), then that raw form (as in ``histogram_pack``); in key order.
    """
    parts = []
    for key in sorted(histograms, key=int):
        if not 0 <= int(key) < _COMPRESSED:
            raise ValueError(f"histogram key {key!r} is not in 0..254")
        raw = _raw(histograms[key])
        if raw:
            parts.append(bytes([int(key)]) + len(raw).to_bytes(2, "little") + raw)
    return _compact(b"".join(parts))


def histograms_lanes(packed: bytes | memoryview | None) -> Iterator[tuple[int, int]]:
    """(key, lanes) for each histogram of a ``histograms_pack`` value."""
    if not packed:
        return
    raw = _expand(packed)
    position, size = 0, len(raw)
    while position < size:
        end = position + 3 + int.from_bytes(raw[position + 1 : position + 3], "little")
        # histogram_lanes inlined (this runs per row and hour of day)
        yield (
            raw[position],
            int.from_bytes(raw[position + 4 : end], "little") << (raw[position + 3] * LANE_BITS),
        )
        position = end


def histograms_add_into(
    target: dict[tuple[Any, ...], int], packed: bytes | memoryview | None, prefix: object
) -> None:
    """Add the lanes of each histogram of a ``histograms_pack`` value to ``target[(prefix, key)]``.

    ``histograms_lanes`` with the summing done in the same loop: the latency heatmap runs it per
    row and hour of day of a month, where a generator's overhead is a fair share of the cost.
    """
    if not packed:
        return
    raw = _expand(packed)
    from_bytes, get = int.from_bytes, target.get
    position, size = 0, len(raw)
    while position < size:
        end = position + 3 + from_bytes(raw[position + 1 : position + 3], "little")
        key = (prefix, raw[position])
        target[key] = get(key, 0) + (
            from_bytes(raw[position + 4 : end], "little") << (raw[position + 3] * LANE_BITS)
        )
        position = end


def histograms_unpack(packed: bytes | memoryview | None) -> dict[str, dict[str, int]]:
    return {str(key): histogram_from_lanes(lanes) for key, lanes in histograms_lanes(packed)}
