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
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_runs import (  # noqa: E402
    GATEWAY,
    NATIVE,
    REFRESH,
    _cache_path,
    _copy_run,
    _empty_tables,
    _generate,
    _store_run,
    _Timers,
    _write_only,
)
from bench.measure import machine_speed_ms, peak_rss_mb  # noqa: E402


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
