"""Prometheus metrics of the review queue, read at scrape time (served by ``aoai_portal.metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .selectors import review_status_counts


class ReviewQueueCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        items = GaugeMetricFamily("aoai_review_items", "Review items by state.", labels=["state"])
        for state, count in review_status_counts().items():
            items.add_metric([state], count)
        yield items
