"""Ingestion throughput: generated APIM rows (with bodies) + their native rows into PostgreSQL.

    .venv/bin/python bench/ingest.py [--rows 100000] [--runs 3] [--batch-size 2000] [--database-url URL]

Two figures, each the median of ``--runs`` runs on emptied tables:

* store path: ``rows_store`` exactly as the Log Analytics pull and ``import_logs`` call it
  (parse, de-duplicate against the database, bulk insert, rejects, join, and
  ``requests_refresh``: usage accounting, flag rules and hourly rollups of the touched requests);
  the time spent in each refresh step is printed so it is clear what the figure includes;
* ceiling: the same raw rows, serialized to JSON and written with ``COPY`` into a plain
  two-column table: no parsing, no keys, no join.

It uses its own database (default: DATABASE_URL's with ``_bench`` appended to the name), created
and migrated if missing, so it never touches real data. Rows come from ``usage.demo_data``
(deterministic; ``--rows`` APIM requests spread over hours of ~10,000 requests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bench_url(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "aoai_portal"
    if not name.endswith("_bench"):
        name += "_bench"
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        check=True,
        env={**os.environ, "DATABASE_URL": url},
    )


class _Timers:
    """Wraps the refresh steps so the bench can say where the time went."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started

        setattr(module, name, timed)


def _empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE usage_gatewayrequest, usage_nativelog, usage_llmlogchunk, usage_rejectedrow, "
            "usage_usagehourly, bench_raw_rows CASCADE"  # CASCADE: tables of other apps referencing requests
        )


def _cpu_seconds() -> tuple[float, float]:
    """(this process, the PostgreSQL backend serving it): CPU seconds used so far.

    The machine is shared, so wall-clock rows/s depend on its load; CPU seconds per row do not
    (much). The backend's CPU is read from /proc (same machine; 0 if it cannot be read).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        server = 0.0
    return time.process_time(), server


def _store_run(
    gateway: list[dict], native: list[dict], batch_size: int, timers: _Timers, native_first: bool
) -> dict:
    from usage.ingestion.store import rows_store

    _empty_tables()
    timers.seconds.clear()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if native_first:
        stored_native = rows_store(
            table="AzureDiagnostics", rows=native, source="bench", batch_size=batch_size
        )
    stored_gateway = rows_store(
        table="ApiManagementGatewayLogs", rows=gateway, source="bench", batch_size=batch_size
    )
    if not native_first:
        stored_native = rows_store(
            table="AzureDiagnostics", rows=native, source="bench", batch_size=batch_size
        )
    elapsed = time.perf_counter() - started
    cpu_after = _cpu_seconds()
    assert stored_gateway.stored == len(gateway) and stored_native.stored == len(native), (
        "bench rows not all stored"
    )
    return {
        "seconds": elapsed,
        "steps": dict(timers.seconds),
        "cpu": [after - before for before, after in zip(cpu_before, cpu_after, strict=True)],
    }


def _copy_run(gateway: list[dict], native: list[dict]) -> tuple[float, list[float]]:
    from django.db import connection

    _empty_tables()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection  # the psycopg connection
        with raw.cursor() as copy_cursor:
            with copy_cursor.copy("COPY bench_raw_rows (source_table, row) FROM STDIN") as copy:
                for table, rows in (("ApiManagementGatewayLogs", gateway), ("AzureDiagnostics", native)):
                    for row in rows:
                        copy.write_row((table, json.dumps(row)))
        raw.commit()
    elapsed = time.perf_counter() - started
    return elapsed, [after - before for before, after in zip(cpu_before, _cpu_seconds(), strict=True)]


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
        default="gateway-first",
        help="gateway-first: every native row is a late partner (each request refreshed twice); "
        "native-first: partners are stored before their requests (each refreshed once)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    url = args.database_url or _bench_url(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aoai")
    )
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/ingest.py measures PostgreSQL: give a postgres:// --database-url")
    _ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    import django

    django.setup()
    from django.db import connection

    import audit.services
    import usage.accounting
    import usage.pipeline
    from usage.demo_data import iter_logs
    from usage.ingestion.store import BATCH_SIZE

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_raw_rows (source_table text, row text)")

    import usage.ingestion.store

    if args.refresh == "skip":
        usage.ingestion.store.requests_refresh = lambda *, correlation_ids, **options: None
    timers = _Timers()
    timers.wrap(usage.accounting, "usage_refresh", "usage_refresh")
    timers.wrap(audit.services, "flags_evaluate", "flags_evaluate")
    timers.wrap(usage.pipeline, "rollup_refresh_hours", "rollup_refresh_hours")

    per_hour = args.per_hour
    hours = max(1, -(-args.rows // per_hour))
    started = time.perf_counter()
    gateway: list[dict] = []
    native: list[dict] = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for table, row in iter_logs(
        start=start,
        end=start + timedelta(hours=hours),
        requests_per_hour=min(per_hour, args.rows),
        seed=args.seed,
        malformed=False,
    ):
        if table == "ApiManagementGatewayLogs" and len(gateway) < args.rows:
            gateway.append(row)
        elif table == "AzureDiagnostics":
            native.append(row)
    kept_ids = {
        json.loads(row["BackendResponseHeaders"]).get("apim-request-id")
        for row in gateway
        if row.get("BackendResponseHeaders")
    }
    native = [row for row in native if row["CorrelationId"] in kept_ids]
    body_bytes = sum(len(row.get("RequestBody", "")) + len(row.get("ResponseBody", "")) for row in gateway)
    print(
        f"generated {len(gateway):,} gateway rows (bodies {body_bytes / len(gateway):,.0f} B/row on average) "
        f"+ {len(native):,} native rows in {time.perf_counter() - started:.1f}s"
    )
    total_rows = len(gateway) + len(native)
    batch_size = args.batch_size or BATCH_SIZE

    store_runs = []
    copy_runs = []
    copy_cpus = []
    for run in range(1, args.runs + 1):
        store = _store_run(gateway, native, batch_size, timers, args.order == "native-first")
        copy_seconds, copy_cpu = _copy_run(gateway, native)
        store_runs.append(store)
        copy_runs.append(copy_seconds)
        copy_cpus.append(sum(copy_cpu))
        steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in sorted(store["steps"].items()))
        print(
            f"run {run}: store path {store['seconds']:.1f}s ({total_rows / store['seconds']:,.0f} rows/s; "
            f"CPU {store['cpu'][0]:.1f}s client + {store['cpu'][1]:.1f}s server; "
            f"{'refresh steps: ' + steps if steps else 'refresh skipped'}); "
            f"COPY {copy_seconds:.1f}s ({total_rows / copy_seconds:,.0f} rows/s; "
            f"CPU {copy_cpu[0]:.1f}s client + {copy_cpu[1]:.1f}s server)"
        )

    store_median = statistics.median(run["seconds"] for run in store_runs)
    core_median = statistics.median(run["seconds"] - sum(run["steps"].values()) for run in store_runs)
    copy_median = statistics.median(copy_runs)
    label = (
        "rows_store + requests_refresh (usage_refresh, flags_evaluate, rollups)"
        if args.refresh == "full"
        else "rows_store with requests_refresh SKIPPED"
    )
    print()
    print(
        f"rows: {len(gateway):,} APIM gateway rows with bodies + {len(native):,} joined native rows = {total_rows:,}"
    )
    print(
        f"batch size: {batch_size:,}; order: {args.order}; {per_hour:,} requests/hour; PostgreSQL {connection.pg_version // 10000}; "
        f"cpus: {os.cpu_count()}; load average at start: {load_before:.1f}"
    )
    print(
        f"store path ({label}), median of {args.runs}: "
        f"{total_rows / store_median:,.0f} rows/s ({len(gateway) / store_median:,.0f} APIM requests/s)"
    )
    if args.refresh == "full":
        print(
            f"  of which ingestion core (parse, de-duplicate, COPY, rejects, join; refresh steps subtracted): "
            f"{total_rows / core_median:,.0f} rows/s"
        )
    print(
        f"COPY ceiling (raw rows as JSON text), median of {args.runs}: {total_rows / copy_median:,.0f} rows/s"
    )
    print(f"ratio store/COPY (wall clock): {copy_median / store_median:.2f}")
    store_cpu = statistics.median(sum(run["cpu"]) for run in store_runs)
    copy_cpu = statistics.median(copy_cpus)
    print(
        f"CPU seconds (client + PostgreSQL backend), median: store path {store_cpu:.1f}s "
        f"({total_rows / store_cpu:,.0f} rows per CPU-second), COPY {copy_cpu:.1f}s "
        f"({total_rows / copy_cpu:,.0f} rows per CPU-second); ratio {copy_cpu / store_cpu:.2f}"
    )
    _empty_tables()


if __name__ == "__main__":
    main()
