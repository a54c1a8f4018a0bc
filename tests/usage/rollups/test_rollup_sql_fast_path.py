"""The PostgreSQL fast paths of a rollup rebuild (``usage.rollups.hourly_sql``: INSERT … SELECT …
GROUP BY in the database; ``usage.rollups.latency_sql``: the latency entries summed by the
database; ``usage.db.copy.rows_insert``: rows written by binary COPY) write the very rows the
portable ORM path writes, and so does every rollup built from them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

import usage.db.copy
import usage.rollups.hourly_sql
import usage.rollups.latency_sql
import usage.rollups.tokens_per_minute
from tests.factories import gateway_request
from tests.support.rollup_snapshot import ROLLUP_TABLES, rollup_snapshot
from usage.demo.data import generate_logs
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import LatencyHourOfDaySpan, UsageHourly
from usage.rollups.entries import HOURLY_FIELDS, LATENCY_DIMENSIONS, hour_entries
from usage.rollups.histograms import histogram_lanes_of
from usage.rollups.hourly import rollup_refresh_range
from usage.rollups.latency_sql import FINEST, entries_coarsen, hour_entries_stored

START = datetime(2026, 11, 2, 21, tzinfo=UTC)  # crosses midnight
END = datetime(2026, 11, 3, 2, tzinfo=UTC)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the fast path is PostgreSQL's"),
]


def _stored(**fields) -> None:
    gateway_request(**fields).save()


def _rebuild(monkeypatch, *, fast: bool) -> dict[str, list[tuple]]:
    monkeypatch.setattr(usage.rollups.hourly_sql, "HOURLY_SQL_FAST_PATH", fast)
    monkeypatch.setattr(usage.db.copy, "ROWS_COPY_FAST_PATH", fast)
    monkeypatch.setattr(usage.rollups.latency_sql, "LATENCY_SQL_FAST_PATH", fast)
    monkeypatch.setattr(usage.rollups.tokens_per_minute, "TPM_SQL_FAST_PATH", fast)
    tables = (*ROLLUP_TABLES, LatencyHourOfDaySpan)
    for model in tables:
        model.objects.all().delete()
    rollup_refresh_range(start=START - timedelta(hours=1), end=END + timedelta(hours=1))
    return rollup_snapshot(tables)


def _odd_requests_store() -> None:
    logs = generate_logs(start=START, end=END, requests_per_hour=150, seed=27)
    for table in (NATIVE, LLM_LOG, GATEWAY):
        rows_store(table=table, rows=logs[table])
    # Odd rows the demo does not make: no response code, sub-millisecond and huge times, a
    # request without a backend time, and two requests of one key at the same time (the later id wins).
    moment = START + timedelta(minutes=7)
    _stored(time=moment, response_code=None, total_time_ms=0.2, backend_time_ms=None)
    _stored(time=moment, response_code=200, total_time_ms=5e9, backend_time_ms=10.0)
    for remaining in (5, 6):
        _stored(
            time=moment,
            apim_subscription_id="tie",
            ratelimit_remaining_requests=remaining,
            total_time_ms=10.0,
        )
    # Two requests of one key in different buckets, the later one without a headroom (the
    # earlier one's is the latest there is).
    for seconds, total, remaining in ((1, 10.0, 7), (2, 1000.0, None)):
        _stored(
            time=moment + timedelta(seconds=seconds),
            apim_subscription_id="pair",
            ratelimit_remaining_requests=remaining,
            total_time_ms=total,
        )


def test_the_fast_path_writes_the_rows_of_the_portable_path(monkeypatch):
    _odd_requests_store()
    portable = _rebuild(monkeypatch, fast=False)
    fast = _rebuild(monkeypatch, fast=True)

    assert UsageHourly.objects.exclude(native_duration_hist={}).exists()  # natives joined
    assert UsageHourly.objects.exclude(last_seen_at=None).exists()  # headroom seen
    assert UsageHourly.objects.filter(status_class="unknown").exists()
    pair = UsageHourly.objects.get(apim_subscription_id="pair")
    assert (len(pair.total_time_hist), pair.ratelimit_remaining_requests) == (2, 7)
    assert all(portable.values())
    assert fast == portable


def test_the_database_sums_the_latency_entries_python_sums(monkeypatch):
    _odd_requests_store()
    _rebuild(monkeypatch, fast=True)
    hours = [START + timedelta(hours=h) for h in range(-1, 6)]
    rows = list(UsageHourly.objects.filter(hour__in=hours).values(*HOURLY_FIELDS))
    fine = hour_entries_stored(hours=hours)
    for dimensions in (
        LATENCY_DIMENSIONS,
        FINEST,
        ("apim_subscription_id", "backend_region", "is_streaming"),
    ):
        by_python = hour_entries(rows, dimensions)
        assert entries_coarsen(fine, dimensions) == by_python
        assert sum(len(e) for d in by_python.values() for e in d.values()) > 20
        for by_dims in by_python.values():
            for entries in by_dims.values():
                for entry in entries.values():
                    for name in ("total", "backend", "native", "overhead"):
                        entry[name] = histogram_lanes_of(entry[name])
        assert entries_coarsen(fine, dimensions, lanes=True) == by_python


def test_the_fast_path_sums_a_keys_times_in_the_portable_paths_order(monkeypatch):
    # Float sums depend on their order: many requests of one key, at times out of id order and
    # with times whose sum rounds differently by order, still sum to the portable path's value.
    for i in range(40):
        _stored(
            time=START + timedelta(minutes=(i * 17) % 60, microseconds=i),
            apim_subscription_id="many",
            backend_time_ms=0.1 + i * 1e-7 + (1e6 if i % 7 == 0 else 0.0),
        )
    portable = _rebuild(monkeypatch, fast=False)
    fast = _rebuild(monkeypatch, fast=True)

    assert UsageHourly.objects.get(apim_subscription_id="many").requests == 40
    for table in portable:  # table by table, each with only its differing rows, in full
        differing = set(fast[table]) ^ set(portable[table])
        assert not differing, f"{table}: fast {sorted(set(fast[table]) - set(portable[table]))} != portable {sorted(set(portable[table]) - set(fast[table]))}"
    assert fast == portable
