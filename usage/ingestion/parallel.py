"""Store batches of log rows in several worker processes at once (``INGEST_WORKERS``).

In one process, parsing, usage, flags and the COPY
are Python work that keeps one core busy while its PostgreSQL backend mostly waits, and the
reverse. ``BatchStore`` hands whole batches to ``workers`` forked processes, each with its own
database connection, so that the batches of a long import or a Log Analytics window are stored
side by side. Each batch is still one ``rows_store`` call, one transaction, in one worker.

Why that stores what one process would:

* Batches of different tables never run at the same time: when the table changes, the next
  batch waits until every batch of the previous table has committed. A request's join partner is
  then either committed before the request's batch starts (and read by it) or stored after it
  (and refreshes it as a late partner): the two cases of one process. Batches of one table do not
  read each other's rows, except a key both carry: the second COPY waits on the unique key and
  its batch is redone row by row, where the key counts as a duplicate (``store.py``).
* Rollups and the unmatched-row entries are changed under their advisory locks, held until each
  batch commits (``usage.rollups``, ``unmatched.py``).
* The latency rollups of the workers' batches are deferred (their hours marked in the database);
  the caller runs inside ``latency_rollups_deferred``, whose end refreshes every marked hour.

The workers are forked through billiard (Celery's fork of multiprocessing), whose processes may
have children of their own: the pull runs in a Celery prefork child, which the standard library
would refuse to fork from ("daemonic processes are not allowed to have children").

A worker exits when its parent dies (``kill -9`` of ``import_logs``): on Linux the kernel kills it
(``PR_SET_PDEATHSIG``); elsewhere, and as a second guard, a thread of the worker notices within a
second that its parent changed. Otherwise the workers would wait for work forever under PID 1 (the
queue's pipe never reaches end of file: every worker holds its write end too).

With ``workers`` 1, on SQLite (one writer at a time) or inside a transaction (workers would not
see its rows), batches are stored in this process, one after the other: the same ``rows_store``
calls.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Any

import billiard
import billiard.util
from django.conf import settings
from django.db import connections

from usage.rollups.deferral import latency_rollups_defer_process

from .store import BATCH_SIZE, StoreResult, rows_store

# Batches queued per worker beyond the one it stores: enough to keep it busy, few enough to keep
# the parent's memory bounded (a batch of gateway rows with bodies is large).
_QUEUED_PER_WORKER = 1


# Database sessions a forked process inherited from its parent (a worker: none, it forks with them
# closed). Kept referenced and never closed: closing one would end the parent's session on the
# shared socket.
_inherited: list[Any] = []


def inherited_connections_forget() -> None:
    """In a forked process: leave the parent's database sessions alone (kept, never closed), so
    that Django opens one of this process's own on the next query."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _inherited.append(connection.connection)
            connection.connection = None


_PR_SET_PDEATHSIG = 1


def parent_death_follow(parent: int) -> None:
    """In a forked process: exit as soon as ``parent`` (the process that forked it) is gone."""
    if sys.platform.startswith("linux"):
        try:  # the kernel sends SIGKILL when the forking thread's process ends
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the line above
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_start(parent: int) -> None:
    """In a new worker: gone with its parent, a database connection of its own, and the latency
    rollups deferred to the parent (which refreshes the marked hours when its import ends)."""
    parent_death_follow(parent)
    inherited_connections_forget()
    latency_rollups_defer_process()
    # A worker ends by os._exit: close its own sessions first, so the server ends them at once.
    billiard.util.Finalize(None, connections.close_all, exitpriority=10)


def _rows_pack(rows: list[Mapping[str, Any]]) -> tuple[str, bytes]:
    """A batch as bytes for a worker. Rows read from JSON are plain dicts, lists, strings and
    numbers, which ``marshal`` writes faster than pickle (no memo of every object); rows with
    other values (the SDK's datetimes) go by pickle."""
    try:
        return "marshal", marshal.dumps(rows)
    except ValueError:
        return "pickle", pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _rows_unpack(packed: tuple[str, bytes]) -> list[Mapping[str, Any]]:
    kind, data = packed
    return marshal.loads(data) if kind == "marshal" else pickle.loads(data)


def _batch_store(table: str, packed: tuple[str, bytes], source: str, batch_size: int) -> StoreResult:
    rows = _rows_unpack(packed)
    # The counts only: the requests a batch refreshed would pile up in the parent over a long import.
    return replace(
        rows_store(table=table, rows=rows, source=source, batch_size=batch_size), correlation_ids=set()
    )


def workers_available(requested: int) -> int:
    """``requested`` worker processes, or 1 where they cannot work side by side (see the module
    docstring)."""
    if requested > 1 and (
        connections["default"].vendor != "postgresql"
        or any(c.in_atomic_block for c in connections.all(initialized_only=True))
    ):
        return 1
    return max(1, requested)


class BatchStore:
    """``rows_store`` over worker processes; use as a context manager.

    ``submit`` hands over one batch (``rows_store`` is called with all of it); results are merged
    per table into ``results`` as batches finish. They count rows; they do not list the requests
    refreshed (``correlation_ids`` stays empty), so memory stays flat in the rows.
    ``wait`` returns when every batch submitted so far has committed; leaving the block waits too
    (an error of a batch is raised there, or by the next ``submit``). ``store`` is all of that for
    one list of rows (a Log Analytics window).
    """

    def __init__(self, *, workers: int | None = None, source: str, batch_size: int = BATCH_SIZE) -> None:
        # None: the INGEST_WORKERS setting.
        self.workers = workers_available(settings.INGEST_WORKERS if workers is None else workers)
        self.source = source
        self.batch_size = batch_size
        self.results: dict[str, StoreResult] = {}
        self._table: str | None = None
        self._running: dict[Future[StoreResult], str] = {}
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> BatchStore:
        if self.workers > 1:
            # Forked with every connection closed, so no worker inherits a live one.
            connections.close_all()
            context = billiard.get_context("fork")
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
            )
            self._pool.submit(int).result()  # forks every worker now, while no connection is open
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def submit(self, *, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self._pool is None:
            self._merge(
                table, rows_store(table=table, rows=rows, source=self.source, batch_size=self.batch_size)
            )
            return
        if table != self._table:
            self.wait()  # one table at a time: see the module docstring
            self._table = table
        while len(self._running) >= self.workers * (1 + _QUEUED_PER_WORKER):
            self._collect()
        future = self._pool.submit(_batch_store, table, _rows_pack(rows), self.source, self.batch_size)
        self._running[future] = table

    def store(self, *, table: str, rows: list[Mapping[str, Any]]) -> StoreResult:
        """Store all of ``rows`` (a Log Analytics window), a batch per worker at a time; returns
        their result once every batch has committed. A failed batch raises here, after the
        others have finished."""
        self.wait()
        earlier, self.results = self.results, {}
        try:
            for start in range(0, len(rows), self.batch_size):
                self.submit(table=table, rows=rows[start : start + self.batch_size])
            self.wait()
            return self.results.get(table, StoreResult())
        finally:
            self.wait_quietly()
            for name, result in self.results.items():
                earlier.setdefault(name, StoreResult()).merge(result)
            self.results = earlier

    def wait(self) -> dict[str, StoreResult]:
        """Wait for every batch submitted so far; returns the results per table so far. If a batch
        failed, its error is raised once the others have finished."""
        failure: BaseException | None = None
        while self._running:
            try:
                self._collect()
            except BaseException as error:  # the first error, raised when nothing runs any more
                failure = failure or error
        if failure is not None:
            raise failure
        return self.results

    def wait_quietly(self) -> None:
        """Wait for every batch submitted so far, ignoring their errors (after one was raised)."""
        try:
            self.wait()
        except Exception:
            pass

    def _collect(self) -> None:
        done, _ = wait(self._running, return_when=FIRST_COMPLETED)
        for future in done:
            table = self._running.pop(future)
            self._merge(table, future.result())

    def _merge(self, table: str, result: StoreResult) -> None:
        # The counts only, in this process too: the ids of every request refreshed would pile up
        # over a long import or pull.
        self.results.setdefault(table, StoreResult()).merge(replace(result, correlation_ids=set()))
