"""Measuring helpers of the benchmarks: this machine's speed, peak memory, and the CPU time of
this process, its children and PostgreSQL's backends (read from /proc)."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path


def machine_speed_ms() -> float:
    """CPU milliseconds of a fixed piece of Python work (decoding a JSON document, a loop), best of
    five: this machine's speed changes from day to day (by up to 2x here), so figures of two runs
    compare only at similar readings; lower is faster."""
    document = json.dumps({"choices": [{"delta": {"content": f"word {i}"}, "index": 0} for i in range(40)]})
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(200):
            json.loads(document)
        sum(range(300_000))
        best = min(best, time.process_time() - started)
    return best * 1000


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Backend:
    """CPU seconds of the PostgreSQL backend serving this process (same machine, from /proc)."""

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]

    def cpu(self) -> float:
        try:
            _name, fields = proc_stat(Path(f"/proc/{self.pid}/stat"))
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0


def proc_stat(path: Path) -> tuple[str, list[str]]:
    """A process's name and the fields after it in /proc/<pid>/stat (utime is fields[11], stime
    [12], the reaped children's cutime and cstime [13] and [14])."""
    text = path.read_text()
    return text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()


class Analyzer:
    """Does what PostgreSQL's autovacuum would when the server runs without it.

    Some development servers (this machine's among them) set ``autovacuum = off``: tables filled by
    the bench then never get planner statistics, and lookups by a list of keys (the join's
    ``apim_request_id IN (...)``) turn into sequential scans of the whole request table once it
    holds a few hundred thousand rows, which no production server (autovacuum on, the default)
    would do. Then, like autovacuum's default threshold (50 rows + 10 % of the table), the bench
    runs ``ANALYZE`` on the ingestion tables every time that many rows were stored since the
    last one, of the columns ingestion and the refresh look rows up by (not the bodies, whose sampling and
    decompression autovacuum would do in the background on another core); its time counts in the
    figures and is printed.
    """

    TABLES = (
        "usage_gatewayrequest (id, correlation_id, apim_request_id, time)",
        "usage_gatewayrequest_key",
        "usage_nativelog (correlation_id, time)",
        "usage_unmatchedrow",
    )

    def __init__(self) -> None:
        from django.db import connection

        self.enabled = False
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW autovacuum")
                self.enabled = cursor.fetchone()[0] == "off"
        self.since = 0
        self.total = 0
        self.runs = 0
        self.seconds = 0.0

    def add(self, rows: int) -> None:
        if not self.enabled:
            return
        self.since += rows
        self.total += rows
        if self.since > 50 + 0.1 * self.total:
            from django.db import connection

            began = time.perf_counter()
            with connection.cursor() as cursor:
                for table in self.TABLES:
                    cursor.execute(f"ANALYZE {table}")
            self.seconds += time.perf_counter() - began
            self.since = 0
            self.runs += 1


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process of this machine, and of those that exited (their
    time is added to the postmaster's children's time when it reaps them): the server's side of
    a run with worker processes, whose backends come and go."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = proc_stat(stat)
        except OSError:
            continue
        if name.startswith("postgres"):
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / tick


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
