"""Durations observed in many processes — page response times per view, Celery task durations —
served by ``/metrics`` as Prometheus histograms that agree across processes and survive restarts.

An observation adds to a Redis hash per histogram (``REDIS_URL``): one field per label set and
bucket (the count of observations whose smallest bucket bound is that one) and one per label set
for the sum; the scrape reads the hashes back and adds the buckets up. Every web process and
worker writes to the same hashes, so any process answers the same, and Redis keeps them (the
compose file runs it append-only). Without Redis (``bin/demo``: one process, tasks run in it) the
histograms live in this process's memory.

Recording never fails the page or task it measures: a Redis error loses the observation.
Labels are bounded by construction: the URL pattern's name (not the path) and the task's name.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

_KEY_PREFIX = "aoai:timings:"
_SEPARATOR = "\t"
_SUM = "sum"
# A metrics store that does not answer quickly is skipped: it must not slow the page it measures.
_REDIS_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True)
class Histogram:
    name: str
    documentation: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]  # upper bounds, ascending; +Inf is implied


PAGE_SECONDS = Histogram(
    "aoai_page_response_seconds",
    "Time to answer a request, by the URL pattern's name (view).",
    ("view",),
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TASK_SECONDS = Histogram(
    "aoai_celery_task_duration_seconds",
    "Time a Celery task ran, by task name and final state.",
    ("task", "state"),
    (0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0),
)
HISTOGRAMS = (PAGE_SECONDS, TASK_SECONDS)
# The view label of a request no URL pattern matched (404s, requests refused before resolving).
UNRESOLVED = "(unresolved)"


# --- where observations go ----------------------------------------------------------------------

_memory: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
_memory_lock = threading.Lock()
_clients: dict[str, Any] = {}


def _redis(url: str) -> Any:
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=_REDIS_TIMEOUT_SECONDS, socket_connect_timeout=_REDIS_TIMEOUT_SECONDS
        )
    return client


def _label_field(labels: tuple[str, ...]) -> str:
    return _SEPARATOR.join(value.replace(_SEPARATOR, " ") for value in labels)


def timing_record(*, histogram: Histogram, labels: tuple[str, ...], seconds: float) -> None:
    """Add one observation of ``seconds`` under ``labels`` (in ``histogram.labels``' order)."""
    prefix = _label_field(labels)
    bucket = f"{prefix}{_SEPARATOR}{bisect_left(histogram.buckets, seconds)}"
    total = f"{prefix}{_SEPARATOR}{_SUM}"
    url = settings.REDIS_URL
    if not url:
        with _memory_lock:
            values = _memory[histogram.name]
            values[bucket] += 1
            values[total] += seconds
        return
    try:
        pipe = _redis(url).pipeline(transaction=False)
        pipe.hincrby(_KEY_PREFIX + histogram.name, bucket, 1)
        pipe.hincrbyfloat(_KEY_PREFIX + histogram.name, total, seconds)
        pipe.execute()
    except Exception as exc:  # the store is down or slow: lose this observation, not the page
        logger.debug("timing not recorded (%s): %s", histogram.name, exc)


def _stored(histogram: Histogram) -> dict[str, float]:
    url = settings.REDIS_URL
    if not url:
        with _memory_lock:
            return dict(_memory[histogram.name])
    raw = _redis(url).hgetall(_KEY_PREFIX + histogram.name)
    return {field.decode(): float(value) for field, value in raw.items()}


def timings_reset() -> None:
    """Forget every observation (tests; an operator starting the histograms over)."""
    with _memory_lock:
        _memory.clear()
    if settings.REDIS_URL:
        _redis(settings.REDIS_URL).delete(*(_KEY_PREFIX + h.name for h in HISTOGRAMS))


# --- the scrape ---------------------------------------------------------------------------------


def _family(histogram: Histogram, values: dict[str, float]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(histogram.name, histogram.documentation, labels=list(histogram.labels))
    counts: dict[tuple[str, ...], list[float]] = {}
    sums: dict[tuple[str, ...], float] = defaultdict(float)
    for field, value in values.items():
        *labels, slot = field.split(_SEPARATOR)
        key = tuple(labels)
        if len(key) != len(histogram.labels):
            continue  # written under other labels by an older version
        if slot == _SUM:
            sums[key] += value
            continue
        index = int(slot)
        per_bucket = counts.setdefault(key, [0.0] * (len(histogram.buckets) + 1))
        per_bucket[min(index, len(histogram.buckets))] += value
    for key in sorted(counts):
        running = 0.0
        buckets = []
        for bound, count in zip((*histogram.buckets, float("inf")), counts[key], strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        family.add_metric(list(key), buckets, sum_value=sums.get(key, 0.0))
    return family


class TimingsCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        for histogram in HISTOGRAMS:
            try:
                values = _stored(histogram)
            except Exception as exc:  # Redis down: the other metrics are still served
                logger.warning("timings unavailable (%s): %s", histogram.name, exc)
                continue
            yield _family(histogram, values)
