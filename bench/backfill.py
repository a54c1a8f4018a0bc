"""A parallel backfill on one Celery worker process against two, over the same emulator range.

    .venv/bin/python bench/backfill.py [--hours 24] [--per-hour 600] [--workers 1,2] [--runs 1] [--single]
                                       [--broker-url redis://127.0.0.1:6379/13] [--database-url URL]

A Log Analytics emulator (``usage.demo.emulator``, in a process of its own) holds ``--hours`` of
generated traffic (``--per-hour`` requests an hour: gateway, LLM-log and native rows). For each
worker count the bench empties the tables, starts that many ``celery worker --pool=solo``
processes (as separate machines would run them), runs ``manage.py ingest --since ... --until ...
--parallel``, stops the workers, and takes the backfill's time from its plan to the end of its
last window (``IngestionBackfill.created_at`` to ``finished_at``: not the command's start-up).
The counts take turns within each of ``--runs`` runs (a shared machine's load changes from minute
to minute); it prints each run (with how busy the machine's CPUs were meanwhile, every process's,
and the workers' CPU time), each count's median time and rows read per second, and the median
over the runs of each count's ratio to one worker; ``--single`` also times the single-process pull (``ingest`` without ``--parallel``). The windows are ``INGEST_WINDOW_SECONDS`` (default one hour) of one table each.

It uses its own database (default: DATABASE_URL's with ``_bench`` appended to the name), created
and migrated if missing, and its own Redis database as the broker (``--broker-url``, emptied
first), so it never touches real data or a real queue.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = datetime(2026, 9, 1, tzinfo=UTC)
WORKSPACE = "00000000-0000-0000-0000-0000000bac0f"

# Runs in its own process: the emulator's answers (JSON of every row) cost CPU that must not be
# counted against the workers' process.
EMULATOR = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timedelta
    import django
    django.setup()
    from usage.demo.data import generate_logs
    from usage.demo.emulator import LogAnalyticsEmulator

    start = datetime.fromisoformat(sys.argv[1])
    end = start + timedelta(hours=int(sys.argv[2]))
    server = LogAnalyticsEmulator()
    server.load(generate_logs(start=start, end=end, requests_per_hour=int(sys.argv[3]), seed=11))
    server.start()
    print(server.endpoint, sum(server.row_count(t) for t in server._tables), flush=True)
    while True:
        time.sleep(3600)
    """
)


def _empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE usage_gatewayrequest, usage_nativelog, usage_llmlogchunk, usage_rejectedrow, "
            "usage_unmatchedrow, usage_ingestionconflict, audit_flag, audit_reviewitem, audit_reviewevent, "
            "usage_ingestionwatermark, usage_ingestionrun, usage_ingestionbackfill, usage_ingestionwindow, "
            "usage_ingestionlease, usage_usagehourly, usage_usagedaily, usage_tokensperminutehourly, "
            "usage_latencydaily, usage_latencyhourofday, usage_latencysubscriptiondaily, "
            "usage_latencysubscriptionregiondaily, usage_latencydailyspan, usage_latencyhourofdayspan, "
            "usage_latencypendinghour CASCADE"
        )


def _workers_start(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    from aoai_portal.celery import app

    command = [sys.executable, "-m", "celery", "-A", "aoai_portal", "worker", "--pool=solo", "-l", "warning"]
    command += ["--without-mingle", "--without-gossip"]
    workers = [
        subprocess.Popen([*command, "-n", f"bench{i}@%h"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        for i in range(count)
    ]
    deadline = time.monotonic() + 120
    while len(app.control.ping(timeout=1)) < count:
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise SystemExit("the Celery workers did not start")
    return workers


def _machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU clock ticks of the whole machine since boot, every process's (Linux)."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def _process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a live process has used (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backfill_time(*, count: int, env: dict[str, str], end: datetime, broker_url: str) -> tuple[float, str]:
    """Seconds of one ``ingest --parallel`` of the whole range on ``count`` fresh workers, and how
    busy the machine was meanwhile: a second worker is faster only with a core to spare."""
    import redis

    _empty_tables()
    redis.Redis.from_url(broker_url).flushdb()
    workers = _workers_start(count, env)
    busy_before, all_before = _machine_ticks()
    started_cpu = sum(_process_cpu(worker.pid) for worker in workers)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "ingest", "--since", START.isoformat(), "--until", end.isoformat(),
             "--parallel", "--no-progress"],
            cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        busy_after, all_after = _machine_ticks()
        worker_cpu = sum(_process_cpu(worker.pid) for worker in workers) - started_cpu
    finally:
        _stop(workers)
    from usage.models import IngestionBackfill

    # From the plan to the last window's end: not the command's own start-up and polling.
    backfill = IngestionBackfill.objects.get()
    assert backfill.finished_at is not None
    busy = (busy_after - busy_before) / max(all_after - all_before, 1)
    load = f"machine CPU busy {busy:.0%} while the command ran, the workers' processes {worker_cpu:.1f} CPU s"
    return (backfill.finished_at - backfill.created_at).total_seconds(), load


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--per-hour", type=int, default=600, help="requests an hour in the emulator")
    parser.add_argument("--workers", default="1,2", help="worker process counts to compare")
    parser.add_argument("--runs", type=int, default=1, help="runs per count (the median is printed)")
    parser.add_argument("--single", action="store_true", help="also time the single-process pull")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aoai_portal"),
    )
    args = parser.parse_args()
    from bench.databases import bench_database_ensure, bench_database_url

    url = bench_database_url(args.database_url, suffix="_bench")
    bench_database_ensure(url)
    env = dict(
        os.environ,
        DATABASE_URL=url,
        CELERY_BROKER_URL=args.broker_url,
        REDIS_URL=args.broker_url,
        LOG_ANALYTICS_WORKSPACE_ID=WORKSPACE,
        LOG_ANALYTICS_CREDENTIAL="static",
        LOG_ANALYTICS_ALLOW_HTTP="true",
        INGEST_WORKERS="1",
        DJANGO_SETTINGS_MODULE="aoai_portal.settings",
    )
    os.environ.update(env)
    import django

    django.setup()

    end = START + timedelta(hours=args.hours)
    emulator = subprocess.Popen(
        [sys.executable, "-c", EMULATOR, START.isoformat(), str(args.hours), str(args.per_hour)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        endpoint, rows = emulator.stdout.readline().split()
        env["LOG_ANALYTICS_ENDPOINT"] = os.environ["LOG_ANALYTICS_ENDPOINT"] = endpoint
        print(f"emulator: {args.hours} h, {args.per_hour} requests/h, {rows} rows in 3 tables")
        if args.single:
            _empty_tables()
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "manage.py", "ingest", "--since", START.isoformat(), "--until",
                 end.isoformat(), "--no-progress"],
                cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            single = time.perf_counter() - began
            print(
                f"one process, no Celery (ingest without --parallel): {single:.1f} s, {int(rows) / single:,.0f} rows/s"
            )
        counts = [int(part) for part in args.workers.split(",")]
        seconds: dict[int, list[float]] = {count: [] for count in counts}
        # Counts take turns within each run, so that on a shared machine each sees the same load.
        for run in range(args.runs):
            for count in counts:
                took, load = _backfill_time(count=count, env=env, end=end, broker_url=args.broker_url)
                seconds[count].append(took)
                print(
                    f"run {run + 1}, {count} worker process{'es' if count > 1 else ''}: {took:.1f} s ({load})"
                )
        for count in counts:
            median = statistics.median(seconds[count])
            print(
                f"{count} worker process{'es' if count > 1 else ''}: median {median:.1f} s, "
                f"{int(rows) / median:,.0f} rows read/s"
            )
        if 1 in seconds:
            for count in counts:
                if count != 1:
                    ratios = [one / other for one, other in zip(seconds[1], seconds[count], strict=True)]
                    print(
                        f"ratio {count} workers / 1 worker: median {statistics.median(ratios):.2f}x "
                        f"(per run: {', '.join(f'{r:.2f}' for r in ratios)})"
                    )
    finally:
        _stop([emulator])


if __name__ == "__main__":
    main()
