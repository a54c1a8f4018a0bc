"""Ingestion throughput: generated APIM rows (with bodies) + their native rows into PostgreSQL.

    .venv/bin/python bench/ingest.py [--rows 100000] [--runs 3] [--order native-first|gateway-first]
                                     [--refresh full|skip] [--batch-size N] [--database-url URL]

Two figures, each the median of ``--runs`` runs on emptied tables:

* store path: ``rows_store`` fed as ``import_logs`` feeds it (a batch of rows per call): parse,
  de-duplicate against the database, bulk insert, rejects, join, and the refresh work: usage
  accounting, flag rules and hourly rollups of the touched requests (``requests_write`` for new
  gateway rows, which are written with their usage; ``requests_refresh`` for requests whose
  partner arrived). The time and CPU spent in each refresh step are printed, and the ingestion
  core (everything but the refresh work) is given separately; the whole-pipeline figure is the
  one that counts (rows stored AND refreshed);
* ceiling: the same raw rows, serialized to JSON and written with ``COPY`` into a plain
  two-column table: no parsing, no keys, no join.

Memory is flat in ``--rows``: the rows are generated once (``usage.demo.data``, deterministic;
``--rows`` APIM requests in hours of ``--per-hour``), in a child process, into gzipped JSON-lines
files under ``--cache-dir`` (reused by later runs), and every run streams them from there. The
time and CPU spent reading them are subtracted. Every ``--rss-every`` rows the bench prints the
peak resident set size of its process so far (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and
the rate of the last interval, so a flat peak and a steady rate show at 100k as at 1M rows.

It uses its own database (default: DATABASE_URL's with ``_bench`` appended to the name), created
and migrated if missing, so it never touches real data.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import Analyzer, Backend, children_cpu, machine_speed_ms, peak_rss_mb, postgres_cpu  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="APIM requests (gateway rows) to import")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="rows_store batch size (default: its own)"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--per-hour", type=int, default=10_000, help="generated APIM requests per hour")
    parser.add_argument(
        "--refresh",
        choices=("full", "skip"),
        default="full",
        help="full: rows_store as in production, with requests_refresh (usage, flags, rollups); "
        "skip: requests_refresh replaced by a no-op, to measure the ingestion core alone",
    )
    parser.add_argument(
        "--order",
        choices=("gateway-first", "native-first"),
        default="native-first",
        help="native-first (the order the Log Analytics pull stores tables in, PULL_ORDER): partners "
        "are stored before their requests (each refreshed once); gateway-first: every native row is "
        "a late partner (its request refreshed again, without flags), as when natives arrive late",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("/tmp/aoai-bench-ingest"),
        help="where the generated rows are kept",
    )
    parser.add_argument(
        "--rss-every", type=int, default=100_000, help="print peak RSS every N rows (0: never)"
    )
    parser.add_argument("--no-copy", action="store_true", help="skip the COPY ceiling runs")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes storing batches side by side (usage.ingestion.parallel, INGEST_WORKERS); "
        "with more than 1 the refresh steps run in the workers and are not timed one by one",
    )
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.runs < 1 and not args.generate:
        parser.error("--runs must be at least 1")

    if args.generate:
        _generate(args.generate, args.rows, args.per_hour, args.seed)
        return

    load_before = os.getloadavg()[0]
    speed_before = machine_speed_ms()
    path = _cache_path(args.cache_dir, args.rows, args.per_hour, args.seed)
    if not (path / "meta.json").exists():
        started = time.perf_counter()
        # A child process, so that generating (an hour of rows at a time) does not count in the
        # peak RSS of this one.
        subprocess.run(
            [sys.executable, __file__, "--generate", str(path), "--rows", str(args.rows), "--per-hour",
             str(args.per_hour), "--seed", str(args.seed)],
            check=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "aoai_portal.settings"},
        )  # fmt: skip
        print(f"generated the rows into {path} in {time.perf_counter() - started:.1f}s")
    meta = json.loads((path / "meta.json").read_text())
    gateway_rows, native_rows = meta["counts"][GATEWAY], meta["counts"][NATIVE]
    total_rows = gateway_rows + native_rows

    from bench.databases import bench_database_ensure, bench_database_url

    url = args.database_url or bench_database_url(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aoai"), suffix="_bench"
    )
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/ingest.py measures PostgreSQL: give a postgres:// --database-url")
    bench_database_ensure(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    import django

    django.setup()
    from django.db import connection

    import usage.accounting.services
    import usage.db.loaded
    import usage.ingestion.pipeline
    import usage.ingestion.store
    import usage.rollups.deferral
    from usage.ingestion.store import BATCH_SIZE

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_raw_rows (source_table text, row text)")

    if args.refresh == "skip":
        usage.ingestion.store.requests_refresh = lambda *, correlation_ids, **options: None
        usage.ingestion.store.requests_write = _write_only
    timers = _Timers()
    # The refresh of stored requests (loading them included), and every step of the refresh work.
    timers.wrap(usage.ingestion.store, "requests_refresh", "requests_refresh")
    timers.wrap(usage.accounting.services, "usage_prepare", "usage_prepare")
    timers.wrap(usage.accounting.services, "usage_refresh", "usage_refresh")
    timers.wrap(usage.accounting.services, "usage_price_written", "usage_price_written")
    timers.wrap(usage.ingestion.pipeline, "request_hooks_run", "flags_evaluate")  # audit's hook
    timers.wrap(usage.ingestion.pipeline, "rollup_refresh_hours", "rollup_refresh_hours")
    timers.wrap(usage.ingestion.pipeline, "native_durations_get", "rollup_add")
    timers.wrap(usage.ingestion.pipeline.RollupDelta, "add", "rollup_add")
    timers.wrap(usage.ingestion.pipeline, "rollup_add", "rollup_add")
    timers.wrap(usage.rollups.deferral, "latency_pending_refresh", "latency_pending_refresh")
    timers.wrap(usage.db.loaded.LoadedRequests, "partnered", "load LLM-log partners")

    print(
        f"{gateway_rows:,} gateway rows (bodies {meta['body_bytes'] / gateway_rows:,.0f} B/row on average) "
        f"+ {native_rows:,} native rows, streamed from {path}; peak RSS before the runs {peak_rss_mb():,.0f} MB"
    )
    batch_size = args.batch_size or BATCH_SIZE

    store_runs, copy_runs, copy_cpus = [], [], []
    for run in range(1, args.runs + 1):
        store = _store_run(
            path, batch_size, timers, args.order == "native-first", args.rss_every, args.workers
        )
        assert store["stored"] == {GATEWAY: gateway_rows, NATIVE: native_rows}, "bench rows not all stored"
        store_runs.append(store)
        steps = ""
        if args.refresh == "full" and args.workers > 1:
            steps = f"in {args.workers} worker processes, not timed one by one"
        elif args.refresh == "full":
            steps = (
                f"{REFRESH} {store['steps'][REFRESH]:.1f}s (CPU {store['step_cpu'][REFRESH]:.1f}s); steps: "
                + ", ".join(
                    f"{name} {seconds:.1f}s (CPU {store['step_cpu'][name]:.1f}s)"
                    for name, seconds in sorted(store["steps"].items())
                    if name != REFRESH
                )
            )
        line = (
            f"run {run}: store path {store['seconds']:.1f}s ({total_rows / store['seconds']:,.0f} rows/s; "
            f"CPU {store['cpu'][0]:.1f}s client + {store['cpu'][1]:.1f}s server; "
            f"{'refresh steps: ' + steps if steps else 'refresh skipped'}); peak RSS {peak_rss_mb():,.0f} MB"
        )
        if not args.no_copy:
            copy_seconds, copy_cpu = _copy_run(path)
            copy_runs.append(copy_seconds)
            copy_cpus.append(sum(copy_cpu))
            line += (
                f"; COPY {copy_seconds:.1f}s ({total_rows / copy_seconds:,.0f} rows/s; "
                f"CPU {copy_cpu[0]:.1f}s client + {copy_cpu[1]:.1f}s server)"
            )
        print(line, flush=True)

    store_median = statistics.median(run["seconds"] for run in store_runs)
    core_median = statistics.median(run["seconds"] - run["steps"].get(REFRESH, 0.0) for run in store_runs)
    store_cpu = statistics.median(sum(run["cpu"]) for run in store_runs)
    core_cpu = statistics.median(sum(run["cpu"]) - run["step_cpu"].get(REFRESH, 0.0) for run in store_runs)
    label = (
        "rows_store with the refresh work (usage, cost, flags, rollups)"
        if args.refresh == "full"
        else "rows_store with the refresh work SKIPPED"
    )
    print()
    print(
        f"rows: {gateway_rows:,} APIM gateway rows with bodies + {native_rows:,} joined native rows = {total_rows:,}"
    )
    print(
        f"batch size: {batch_size:,}; workers: {args.workers}; order: {args.order}; {args.per_hour:,} requests/hour; "
        f"PostgreSQL {connection.pg_version // 10000}; cpus: {os.cpu_count()}; "
        f"load average at start: {load_before:.1f}, at end: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"machine speed (CPU ms of a fixed piece of Python work; lower is faster): "
        f"{speed_before:.1f} at start, {machine_speed_ms():.1f} at end"
    )
    print(
        f"store path ({label}), median of {args.runs}: "
        f"{total_rows / store_median:,.0f} rows/s ({gateway_rows / store_median:,.0f} APIM requests/s); "
        f"CPU {store_cpu:.1f}s client + backend ({total_rows / store_cpu:,.0f} rows per CPU-second)"
    )
    if args.refresh == "full" and args.workers == 1:
        print(
            f"  ingestion core alone (parse, de-duplicate, COPY, rejects, join; the refresh work subtracted): "
            f"{total_rows / core_median:,.0f} rows/s; CPU {core_cpu:.1f}s ({total_rows / core_cpu:,.0f} rows per CPU-second)"
        )
    if copy_runs:
        copy_median = statistics.median(copy_runs)
        copy_cpu = statistics.median(copy_cpus)
        print(
            f"COPY ceiling (raw rows as JSON text), median of {args.runs}: {total_rows / copy_median:,.0f} rows/s; "
            f"CPU {copy_cpu:.1f}s ({total_rows / copy_cpu:,.0f} rows per CPU-second); "
            f"ratio store/COPY: wall clock {copy_median / store_median:.2f}, CPU {copy_cpu / store_cpu:.2f}"
        )
    checkpoints = store_runs[0]["checkpoints"]
    if checkpoints:
        print(
            "peak RSS of this process (ru_maxrss), run 1: "
            + ", ".join(f"{rows:,} rows {peak:,.0f} MB" for rows, _rate, peak in checkpoints)
        )
    print(f"peak RSS of this process at the end: {peak_rss_mb():,.0f} MB")
    if args.workers > 1:
        # ru_maxrss of the largest child reaped (the generating child too, when it ran first).
        largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of the largest worker process: {largest:,.0f} MB")
    _empty_tables()


if __name__ == "__main__":
    main()
