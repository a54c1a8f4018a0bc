"""Prometheus metrics of ingestion, computed at scrape time from what the database holds.

A custom collector, not counters kept in memory: the values survive restarts and every process
(web, worker) answers the same. Served by ``aoai_portal.metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .health import (
    backfill_window_counts,
    backfill_window_retries,
    ingestion_lags,
    ingestion_last_success,
    ingestion_pull_tries,
    ingestion_window_counts,
)
from .status import ingestion_table_accounts, latency_rollups_pending

OUTCOMES = ("stored", "duplicates", "conflicts", "skipped", "rejected")
# The outcome label as the metric names it (singular), from the account's field.
_OUTCOME_LABEL = {
    "stored": "stored",
    "duplicates": "duplicate",
    "conflicts": "conflict",
    "skipped": "skipped",
    "rejected": "rejected",
}
UNROUTED = "unrouted"  # records of files routed to no table
# A pull window ends "partial" only when it was too large and was pulled again in halves.
_WINDOW_STATUS = {"partial": "split"}


class IngestionCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        lag = GaugeMetricFamily(
            "aoai_ingestion_lag_seconds",
            "Seconds from the table's watermark (everything before it is stored) to now.",
            labels=["table"],
        )
        for table, seconds in ingestion_lags(now=now).items():
            if seconds is not None:
                lag.add_metric([table], seconds)
        yield lag

        rows = CounterMetricFamily(
            "aoai_ingestion_rows",
            "Rows read by ingestion, by what became of them.",
            labels=["table", "outcome"],
        )
        rejected = CounterMetricFamily(
            "aoai_ingestion_rejected_rows",
            "Rows rejected by ingestion, by kind of reason.",
            labels=["table", "reason"],
        )
        for account in ingestion_table_accounts():
            table = account.table or UNROUTED
            for name in OUTCOMES:
                rows.add_metric([table, _OUTCOME_LABEL[name]], getattr(account, name))
            for reason, count in account.rejected_by_reason:
                rejected.add_metric([table, reason], count)
        yield rows
        yield rejected

        windows = CounterMetricFamily(
            "aoai_ingestion_pull_windows",
            "Log Analytics pull windows, by their status (split: too large, pulled again in halves).",
            labels=["table", "status"],
        )
        for (table, status), count in sorted(ingestion_window_counts().items()):
            windows.add_metric([table, _WINDOW_STATUS.get(status, status)], count)
        yield windows

        retries = CounterMetricFamily(
            "aoai_ingestion_pull_retries",
            "Log Analytics queries sent again after a transient error (408, 429, 5xx, no connection).",
            labels=["table"],
        )
        throttled = CounterMetricFamily(
            "aoai_ingestion_pull_throttled",
            "Log Analytics answers 429 (too many requests) to the pull.",
            labels=["table"],
        )
        for table, (retried, throttled_count) in sorted(ingestion_pull_tries().items()):
            retries.add_metric([table], retried)
            throttled.add_metric([table], throttled_count)
        yield retries
        yield throttled

        last = GaugeMetricFamily(
            "aoai_ingestion_last_success_timestamp_seconds",
            "Unix time at which the table's latest successful pull window finished.",
            labels=["table"],
        )
        for table, at in sorted(ingestion_last_success().items()):
            last.add_metric([table], at.timestamp())
        yield last

        backfill = GaugeMetricFamily(
            "aoai_backfill_windows",
            "Windows of the latest parallel backfill (running, or the last one finished), by state.",
            labels=["table", "state"],
        )
        for (table, state), count in sorted(backfill_window_counts().items()):
            backfill.add_metric([table, state], count)
        yield backfill

        backfill_retries = CounterMetricFamily(
            "aoai_backfill_window_retries",
            "Attempts of parallel backfill windows beyond their first (failed and run again, or taken over).",
            labels=["table"],
        )
        for table, count in sorted(backfill_window_retries().items()):
            backfill_retries.add_metric([table], count)
        yield backfill_retries

        pending = latency_rollups_pending()
        yield GaugeMetricFamily(
            "aoai_rollup_latency_pending_hours",
            "Hours whose latency rollups wait to be refreshed.",
            value=pending.hours,
        )
