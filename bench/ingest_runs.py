"""The machinery of bench/ingest.py: the generated rows, cached on disk as gzipped JSON lines and
streamed back with the time spent reading them counted, and the timed runs over them (the store
path through rows_store with its refresh steps timed, and the COPY ceiling)."""

from __future__ import annotations

import gzip
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from bench.measure import Analyzer, Backend, children_cpu, peak_rss_mb, postgres_cpu

GATEWAY = "ApiManagementGatewayLogs"
NATIVE = "AzureDiagnostics"
REFRESH = "refresh work"  # the outermost refresh steps' time: every step, each counted once


# --- the generated rows, cached on disk ---------------------------------------------------------


def _cache_path(cache_dir: Path, rows: int, per_hour: int, seed: int) -> Path:
    return cache_dir / f"ingest-rows{rows}-hour{per_hour}-seed{seed}"


def _generate(path: Path, rows: int, per_hour: int, seed: int) -> None:
    """Write the bench rows, one hour at a time (memory: one hour's rows).

    Native rows of requests that bypassed APIM (no gateway partner) are left out, as before.
    """
    from usage.demo.data import iter_logs

    path.mkdir(parents=True, exist_ok=True)
    counts = {GATEWAY: 0, NATIVE: 0}
    body_bytes = 0
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with (
        gzip.open(path / "gateway.jsonl.gz", "wt", compresslevel=1) as gateway_file,
        gzip.open(path / "native.jsonl.gz", "wt", compresslevel=1) as native_file,
    ):
        hour = 0
        while counts[GATEWAY] < rows:
            requests = min(per_hour, rows - counts[GATEWAY])
            moment = start + timedelta(hours=hour)
            native: list[dict] = []
            request_ids: set[str] = set()
            for table, row in iter_logs(
                start=moment,
                end=moment + timedelta(hours=1),
                requests_per_hour=requests,
                seed=seed,
                malformed=False,
            ):
                if table == GATEWAY:
                    gateway_file.write(json.dumps(row) + "\n")
                    counts[GATEWAY] += 1
                    body_bytes += len(row.get("RequestBody", "")) + len(row.get("ResponseBody", ""))
                    if row.get("BackendResponseHeaders"):
                        request_ids.add(json.loads(row["BackendResponseHeaders"]).get("apim-request-id"))
                elif table == NATIVE:
                    native.append(row)
            for row in native:
                if row["CorrelationId"] in request_ids:
                    native_file.write(json.dumps(row) + "\n")
                    counts[NATIVE] += 1
            hour += 1
    (path / "meta.json").write_text(json.dumps({"counts": counts, "body_bytes": body_bytes}))


class _Feed:
    """Streams one cached table; counts the time and CPU spent reading (subtracted later)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds = 0.0
        self.cpu = 0.0

    def __iter__(self) -> Iterator[dict]:
        started, cpu = time.perf_counter(), time.process_time()
        with gzip.open(self.path, "rt") as stream:
            for line in stream:
                row = json.loads(line)
                self.seconds += time.perf_counter() - started
                self.cpu += time.process_time() - cpu
                yield row
                started, cpu = time.perf_counter(), time.process_time()
        self.seconds += time.perf_counter() - started
        self.cpu += time.process_time() - cpu


# --- measuring ---------------------------------------------------------------------------------


class _Timers:
    """Wraps the refresh steps so the bench can say where the time (and CPU) went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # client + backend
        self.backend: Backend | None = None
        self.depth = 0  # wrapped steps running (a step may call another: usage_refresh in requests_refresh)

    def clear(self, backend: Backend) -> None:
        self.seconds.clear()
        self.cpu.clear()
        self.backend = backend

    def wrap(self, module, name: str, label: str) -> None:
        """Time ``module.name`` under ``label``; an outermost call also counts into REFRESH."""
        original = getattr(module, name)

        def timed(*args, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            server = self.backend.cpu() if self.backend else 0.0
            outermost = self.depth == 0
            self.depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1
                seconds = time.perf_counter() - started
                used = time.process_time() - cpu + (self.backend.cpu() - server if self.backend else 0.0)
                self.seconds[label] += seconds
                self.cpu[label] += used
                if outermost:
                    self.seconds[REFRESH] += seconds
                    self.cpu[REFRESH] += used

        setattr(module, name, timed)


def _empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            # The review tables reference requests without a database constraint (the request table
            # is partitioned on PostgreSQL), so CASCADE does not reach them: they are named.
            "TRUNCATE usage_gatewayrequest, usage_nativelog, usage_llmlogchunk, usage_rejectedrow, "
            "usage_unmatchedrow, audit_flag, audit_reviewitem, audit_reviewevent, bench_raw_rows, "
            # Every rollup too: a refresh rewrites only the hours and days it touches, so rows left by
            # an earlier run over other days (a 1M run before a 20k one) would be re-summed into the
            # spans and make the next run slower than a first run on an empty database.
            "usage_usagehourly, usage_usagedaily, usage_tokensperminutehourly, usage_latencydaily, "
            "usage_latencyhourofday, usage_latencysubscriptiondaily, usage_latencysubscriptionregiondaily, "
            "usage_latencydailyspan, usage_latencyhourofdayspan, usage_latencypendinghour CASCADE"
        )


class _Progress:
    """Prints, every ``every`` rows, the peak RSS so far and the rate of the last interval."""

    def __init__(self, every: int, feeds: list[_Feed], quiet: bool) -> None:
        self.every = every
        self.feeds = feeds
        self.quiet = quiet
        self.rows = 0
        self.started = time.perf_counter()
        self.last = (0, 0.0)
        self.checkpoints: list[tuple[int, float, float]] = []  # rows, rows/s of the interval, peak MB

    def add(self, rows: int) -> None:
        """``rows`` more were stored and refreshed."""
        before, self.rows = self.rows, self.rows + rows
        if self.every and self.rows // self.every > before // self.every:
            elapsed = time.perf_counter() - self.started - sum(feed.seconds for feed in self.feeds)
            rate = (self.rows - self.last[0]) / max(elapsed - self.last[1], 1e-9)
            self.last = (self.rows, elapsed)
            self.checkpoints.append((self.rows, rate, peak_rss_mb()))
            if not self.quiet:
                print(
                    f"  {self.rows:>9,} rows stored and refreshed: {rate:,.0f} rows/s since the last line; "
                    f"peak RSS so far {peak_rss_mb():,.0f} MB",
                    flush=True,
                )


def _write_only(*, rows, write) -> list[str]:
    """``requests_write`` without usage, flags and rollups (``--refresh skip``): the rows alone."""
    written: list[str] = []
    iterator = iter(rows)
    while chunk := list(islice(iterator, 1000)):
        written.extend(row.correlation_id for row in write(chunk))
    return written


def _store_run(
    path: Path, batch_size: int, timers: _Timers, native_first: bool, rss_every: int, workers: int = 1
) -> dict:
    from usage.ingestion.parallel import BatchStore
    from usage.rollups.deferral import latency_rollups_deferred

    _empty_tables()
    backend = Backend()
    timers.clear(backend)
    feeds: list[_Feed] = []
    progress = _Progress(rss_every, feeds if workers == 1 else [], quiet=False)  # as "seconds" below
    analyzer = Analyzer()
    order = [NATIVE, GATEWAY] if native_first else [GATEWAY, NATIVE]
    cpu_before = (time.process_time(), backend.cpu(), children_cpu(), postgres_cpu())
    started = time.perf_counter()
    # As import_logs does: the latency rollups refreshed once a minute and at the end; one
    # rows_store call per batch of the stream (bounded memory), in `workers` processes.
    with (
        latency_rollups_deferred(),
        BatchStore(workers=workers, source="bench", batch_size=batch_size) as store,
    ):
        for table in order:
            feed = _Feed(path / ("gateway.jsonl.gz" if table == GATEWAY else "native.jsonl.gz"))
            feeds.append(feed)
            rows = iter(feed)
            while batch := list(islice(rows, batch_size)):
                store.submit(table=table, rows=batch)
                progress.add(len(batch))
                analyzer.add(len(batch))
    elapsed = time.perf_counter() - started
    stored = {table: store.results[table].stored if table in store.results else 0 for table in order}
    if analyzer.enabled:
        print(
            f"  autovacuum is off on this server: the bench ran ANALYZE {analyzer.runs} times "
            f"(as autovacuum would), {analyzer.seconds:.1f} s in all"
        )
    feed_seconds = sum(feed.seconds for feed in feeds)
    feed_cpu = sum(feed.cpu for feed in feeds)
    if workers > 1:  # the workers' CPU and that of every PostgreSQL process (their backends)
        client = time.process_time() - cpu_before[0] - feed_cpu + children_cpu() - cpu_before[2]
        cpu = [client, postgres_cpu() - cpu_before[3]]
    else:
        cpu = [time.process_time() - cpu_before[0] - feed_cpu, backend.cpu() - cpu_before[1]]
    return {
        # One process reads the rows between its batches: that time is the source's, not ingestion's.
        # With workers the parent reads them while the workers store, on the same cores: the wall
        # clock then counts it (the figure is a little low rather than high).
        "seconds": elapsed - feed_seconds if workers == 1 else elapsed,
        "steps": dict(timers.seconds),
        "step_cpu": dict(timers.cpu),
        "cpu": cpu,
        "stored": stored,
        "checkpoints": progress.checkpoints,
    }


def _copy_run(path: Path) -> tuple[float, list[float]]:
    from django.db import connection

    _empty_tables()
    backend = Backend()
    feeds = [_Feed(path / name) for name in ("gateway.jsonl.gz", "native.jsonl.gz")]
    cpu_before = (time.process_time(), backend.cpu())
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection  # the psycopg connection
        with raw.cursor() as copy_cursor:
            with copy_cursor.copy("COPY bench_raw_rows (source_table, row) FROM STDIN") as copy:
                for table, feed in zip((GATEWAY, NATIVE), feeds, strict=True):
                    for row in feed:
                        copy.write_row((table, json.dumps(row)))
        raw.commit()
    elapsed = time.perf_counter() - started - sum(feed.seconds for feed in feeds)
    cpu = [
        time.process_time() - cpu_before[0] - sum(feed.cpu for feed in feeds),
        backend.cpu() - cpu_before[1],
    ]
    return elapsed, cpu
