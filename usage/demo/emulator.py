"""A small local Log Analytics query API, for the tests and the embedded demo.

It speaks the part of the REST API that ``azure-monitor-query`` uses: ``POST
/v1/workspaces/{id}/query`` with ``{"query", "timespan", "workspaces"}`` and a bearer token (any
token is accepted), answering ``{"tables": [{"name": "PrimaryResult", "columns": [...], "rows":
[...]}]}`` with typed columns, or the partial-error form (HTTP 200 with ``error.code ==
"PartialError"``), or an error status.

It understands the simple KQL that ``usage.ingestion.log_analytics_query`` sends, nothing more
(``usage.demo.kql``)::

    Table
    | where TimeGenerated >= datetime(2026-01-01T00:00:00Z) and TimeGenerated < datetime(...)
    | where Column == "value" and Other == "value"
    | order by TimeGenerated asc
    | take 100

and can be told to fail: throttling (429 with Retry-After), server errors, partial results, a
timeout (504), and a row limit above which a query answers like the real service does past
500,000 rows (a partial result with the first rows and ``E_QUERY_RESULT_SET_TOO_LARGE``).

The rows it holds, which of them a query selects and the JSON of its answers are in
``usage.demo.results``. Run it alone with ``python -m usage.demo.emulator --port 8765 --days 7``;
tests and the demo start it in-process with ``LogAnalyticsEmulator(...).start()``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aoai_portal.emulators import JsonHandler, LocalHttpServer

from .kql import QueryError, parse_query, parse_timespan
from .results import (
    COLUMN_TYPES,
    TOO_BIG_MESSAGE,
    TOO_LARGE_MESSAGE,
    _error,
    _matches,
    _partial_error,
    _row_time,
    _sort_key,
    _StoredRow,
    _table,
)


@dataclass
class Failure:
    """One scripted failure, consumed by the next matching query."""

    kind: str  # "throttle" | "server_error" | "partial" | "timeout"
    table: str | None = None  # None: any table
    status: int = 500
    retry_after: int | None = None
    start: datetime | None = None  # None: any window; else only the window starting then


class LogAnalyticsEmulator(LocalHttpServer):
    """Holds rows per table and answers queries over HTTP on 127.0.0.1.

    ``row_limit`` / ``byte_limit``: a query whose result has more rows / more bytes of cells answers
    like the real service past 500,000 rows / 64 MB (partial, truncated). ``arrival_delay``: each row becomes visible only that long after its
    ``TimeGenerated`` (Log Analytics rows arrive minutes late). ``producer``: a callable
    ``(start, end) -> {table: rows}`` asked for the rows of every new span of time up to "now"
    before each query, so a long-running demo keeps seeing fresh traffic.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        row_limit: int = 500_000,
        byte_limit: int = 64_000_000,
        arrival_delay: timedelta = timedelta(0),
        producer: Callable[[datetime, datetime], dict[str, list[dict]]] | None = None,
        produced_until: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.host = host
        self.port_wanted = port
        self.row_limit = row_limit
        self.byte_limit = byte_limit
        self.arrival_delay = arrival_delay
        self.producer = producer
        self.produced_until = produced_until
        self.clock = clock or (lambda: datetime.now(UTC))
        self.queries: list[dict[str, Any]] = []  # every query received, for tests and logs
        self._tables: dict[str, list[_StoredRow]] = {}
        self._failures: list[Failure] = []
        self._hold: threading.Event | None = None
        self._lock = threading.RLock()

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """What to put in LOG_ANALYTICS_ENDPOINT."""
        return f"{self.base_url}/v1"

    def http_handler(self) -> type[JsonHandler]:
        return _handler_for(self)

    def stop(self) -> None:
        self.release()  # queries held by hold() answer before the server stops
        super().stop()

    # --- data ------------------------------------------------------------------------------
    def add_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        """Add rows (dicts keyed by column name; ``TimeGenerated`` as datetime or ISO text).

        Rows are served exactly as given, so a malformed row reaches the client's parser like it
        would in an exported file. A row whose ``TimeGenerated`` is not a time (the real service
        cannot hold one; the demo generator makes a few) is filed under the time of the row before
        it, so that some window still serves it.
        """
        stored = []
        last_time: datetime | None = None
        for row in rows:
            when = _row_time(row.get("TimeGenerated"))
            if when is None:
                when = last_time or datetime(1970, 1, 1, tzinfo=UTC)
            last_time = when
            stored.append(_StoredRow(time=when, visible_at=when + self.arrival_delay, values=dict(row)))
        with self._lock:
            self._tables.setdefault(table, []).extend(stored)

    def load(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        for table, rows in tables.items():
            self.add_rows(table, rows)

    def row_count(self, table: str) -> int:
        with self._lock:
            return len(self._tables.get(table, []))

    # --- failures --------------------------------------------------------------------------
    def fail_next(
        self,
        kind: str,
        *,
        times: int = 1,
        table: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        start: datetime | None = None,
    ) -> None:
        """Make the next ``times`` queries (of ``table``, or any; of the window starting at
        ``start``, or any) fail.

        ``kind``: ``throttle`` (429, Retry-After), ``server_error`` (500 or ``status``),
        ``partial`` (200 with PartialError and half the rows), ``timeout`` (504 GatewayTimeout).
        """
        if kind not in {"throttle", "server_error", "partial", "timeout"}:
            raise ValueError(f"unknown failure kind {kind!r}")
        default_status = {"throttle": 429, "server_error": 500, "partial": 200, "timeout": 504}[kind]
        with self._lock:
            for _ in range(times):
                self._failures.append(
                    Failure(
                        kind=kind,
                        table=table,
                        status=status or default_status,
                        retry_after=retry_after,
                        start=start,
                    )
                )

    def hold(self) -> None:
        """Make queries wait until ``release()`` (to catch a worker in the middle of a pull)."""
        with self._lock:
            self._hold = threading.Event()

    def release(self) -> None:
        with self._lock:
            if self._hold is not None:
                self._hold.set()
                self._hold = None

    def failures_clear(self) -> None:
        with self._lock:
            self._failures.clear()

    def _take_failure(self, table: str, start: datetime | None) -> Failure | None:
        with self._lock:
            for index, failure in enumerate(self._failures):
                if failure.table in (None, table) and failure.start in (None, start):
                    return self._failures.pop(index)
        return None

    # --- answering -------------------------------------------------------------------------
    def _produce(self, now: datetime) -> None:
        """Generate whole hours ahead of ``now``; rows show up as their time (+ delay) passes."""
        if self.producer is None:
            return
        target = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
        with self._lock:
            start = self.produced_until or target - timedelta(hours=2)
            if start >= target:
                return
            self.produced_until = target
            self.load(self.producer(start, target))

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body) for one query request body."""
        now = self.clock()
        self._produce(now)
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            return (
                400,
                {},
                _error("BadArgumentError", "The request had some invalid properties", "query is required"),
            )
        try:
            parsed = parse_query(query)
            span_start, span_end = parse_timespan(body.get("timespan"), now=now)
        except (QueryError, ValueError) as exc:
            return 400, {}, _error("BadArgumentError", "The request had some invalid properties", str(exc))
        self.queries.append({"table": parsed.table, "query": query, "timespan": body.get("timespan")})
        hold = self._hold
        if hold is not None:
            hold.wait(timeout=60)
            now = self.clock()

        failure = self._take_failure(parsed.table, span_start)
        if failure and failure.kind == "throttle":
            headers = {"Retry-After": str(failure.retry_after if failure.retry_after is not None else 1)}
            return (
                failure.status,
                headers,
                _error("ThrottledError", "Too many requests", "Rate limit exceeded"),
            )
        if failure and failure.kind == "server_error":
            return (
                failure.status,
                {},
                _error("InternalServerError", "Internal server error", "Something went wrong"),
            )
        if failure and failure.kind == "timeout":
            return (
                failure.status,
                {},
                _error("GatewayTimeout", "Gateway timeout", "The query exceeded its time limit"),
            )

        with self._lock:
            stored = list(self._tables.get(parsed.table, []))
        if parsed.table not in self._tables and parsed.table not in COLUMN_TYPES:
            return (
                400,
                {},
                _error(
                    "BadArgumentError",
                    "The request had some invalid properties",
                    f"'{parsed.table}' could not be resolved to a table",
                ),
            )
        rows = [
            row for row in stored if row.visible_at <= now and _matches(row, parsed, span_start, span_end)
        ]
        if parsed.order:
            column, descending = parsed.order
            rows.sort(key=lambda row: _sort_key(row.values.get(column)), reverse=descending)
        if parsed.take is not None:
            rows = rows[: parsed.take]

        error = None
        if len(rows) > self.row_limit:
            rows = rows[: self.row_limit]
            error = _partial_error(TOO_LARGE_MESSAGE.format(limit=self.row_limit))
        elif failure and failure.kind == "partial":
            rows = rows[: len(rows) // 2]
            error = _partial_error("Query execution was partially aborted (E_LOW_MEMORY_CONDITION)")
        table = _table(parsed.table, rows)
        if error is None:
            size = 0
            for index, row in enumerate(table["rows"]):
                size += len(json.dumps(row))
                if size > self.byte_limit:
                    table["rows"] = table["rows"][:index]
                    error = _partial_error(TOO_BIG_MESSAGE.format(limit=self.byte_limit))
                    break
        result: dict[str, Any] = {"tables": [table]}
        if error:
            result["error"] = error
        return 200, {}, result


def _handler_for(emulator: LogAnalyticsEmulator) -> type[JsonHandler]:
    class Handler(JsonHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path == "/healthz":
                self.json_send(200, {"status": "ok"})
            else:
                self.json_send(404, _error("PathNotFoundError", "Not found", self.path))

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            raw = self.body_read()
            if not re.fullmatch(r"/v1/workspaces/[^/]+/query", self.path.split("?")[0]):
                self.json_send(
                    404, _error("PathNotFoundError", "The requested path does not exist", self.path)
                )
                return
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                self.json_send(
                    401,
                    _error(
                        "AuthorizationRequiredError",
                        "Valid authentication was not provided",
                        "Missing bearer token",
                    ),
                )
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.json_send(
                    400, _error("BadArgumentError", "The request had some invalid properties", "bad JSON")
                )
                return
            status, headers, payload = emulator.answer(body if isinstance(body, dict) else {})
            self.json_send(status, payload, headers)

    return Handler


def demo_emulator(
    *,
    days: float,
    requests_per_hour: int,
    seed: int = 7,
    port: int = 0,
    arrival_delay: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
) -> LogAnalyticsEmulator:
    """An emulator holding ``days`` of generated traffic up to now, and more as time passes.

    Rows are generated in whole hours ahead of the clock; each becomes visible ``arrival_delay``
    after its ``TimeGenerated``, as in a real workspace.
    """
    from usage.demo.data import generate_logs

    now = now or datetime.now(UTC)
    start = now - timedelta(days=days)

    def produce(span_start: datetime, span_end: datetime) -> dict[str, list[dict]]:
        return generate_logs(start=span_start, end=span_end, requests_per_hour=requests_per_hour, seed=seed)

    emulator = LogAnalyticsEmulator(port=port, arrival_delay=arrival_delay, producer=produce)
    emulator.produced_until = start.replace(minute=0, second=0, microsecond=0)
    emulator._produce(now)
    return emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Log Analytics query API emulator")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--days", type=float, default=7.0, help="days of generated traffic to hold")
    parser.add_argument("--requests-per-hour", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--row-limit", type=int, default=500_000)
    args = parser.parse_args(argv)
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    django.setup()
    emulator = demo_emulator(
        days=args.days, requests_per_hour=args.requests_per_hour, seed=args.seed, port=args.port
    )
    emulator.row_limit = args.row_limit
    emulator.start()
    print(f"Log Analytics emulator on {emulator.endpoint} (any workspace id, any bearer token)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()
