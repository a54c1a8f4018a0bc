"""Import the log exports customers already have, detecting the format of each file.

Formats (a ``.gz`` of any of them works too):

* ``az-json``: ``az monitor log-analytics query -o json`` output, a JSON array of objects with
  the column names as keys, values often as text and ``dynamic`` columns as JSON text;
* ``csv``: the Log Analytics portal's CSV export (``TimeGenerated [UTC]`` headers are understood;
  datetimes in ISO or the portal's ``7/2/2024, 6:31:31.446 AM`` form, read as UTC);
* ``jsonl`` / ``records``: diagnostic-settings resource-log records as Storage (JSON lines) or
  Event Hubs (``{"records": [...]}``) receive them; each record's ``category`` decides the table.
  A JSON array or JSON lines of Log Analytics rows is accepted as well.

For Log Analytics rows the table comes from a ``Type`` (or ``$table``) column, or else from the
columns themselves. Files are streamed: rows go to ``rows_store`` in batches, so a 1 GB export
never sits in memory. A row that cannot be routed to a table (bad JSON line, unknown category,
unknown columns, bytes that are not text, too large, cut by the end of the file: ``file_text``)
is kept as a ``RejectedRow`` with its reason, like any other bad row; a record of a category or
table the portal does not read (``Audit``, ``Trace``, a ``Type`` of another table) is skipped and
counted per category (``skipped.py``). A file that cannot be read at all ends with an error
message, and what was read before the damage is kept.

An import holds the ingestion lock (``locks.py``) while it stores, like a pull; if another run
holds it (longer than ``lock_wait``), nothing is imported and the result says ``busy``.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from usage.db.json import json_decode
from usage.models import IngestionRun
from usage.rollups.deferral import latency_rollups_deferred

from .cells import Rejection
from .diagnostic import diagnostic_record_convert
from .file_text import (
    BAD,
    TRUNCATED,
    FileFormatError,
    csv_records,
    head_kept,
    lines_read,
    raw_kept,
    row_too_large,
    text_open,
)
from .json_stream import JsonStream, Refused, bad_bytes
from .locks import INGEST_LOCK, Lock, lock_heartbeat, lock_hold, lock_holder
from .parallel import BatchStore
from .runs import run_counts, run_counts_set, run_start, runs_abandoned_close
from .skipped import Skipped, diagnostic_record_skipped, la_row_skipped
from .store import BATCH_SIZE, StoreResult, rejected_rows_store
from .tables import GATEWAY, LLM_LOG, NATIVE, TABLES

_HEAD = 64 << 10
_RECORDS_START = re.compile(r'\s*\{\s*"records"\s*:\s*(?=\[)')


@dataclass
class FileImportResult:
    path: str
    format: str = ""
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    skipped: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    skipped_categories: Counter[str] = field(default_factory=Counter)
    tables: dict[str, StoreResult] = field(default_factory=dict)
    encoding: str = ""
    error: str = ""
    busy: bool = False  # another run held the ingestion lock: nothing imported

    def add(self, table: str, result: StoreResult) -> None:
        self.rows_read += result.rows_read
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.conflicts += result.conflicts
        self.skipped += result.skipped
        self.rejected += result.rejected
        self.reasons.update(result.reasons)
        self.skipped_categories.update(result.skipped_categories)
        self.tables.setdefault(table, StoreResult()).merge(result)


def file_format_detect(*, path: Path, encoding: str | None = None) -> str:
    """``az-json``, ``records``, ``jsonl`` or ``csv``; raises FileFormatError otherwise."""
    try:
        stream, _ = text_open(path, encoding=encoding)
        with stream:
            head = stream.read(_HEAD)
    except LookupError:
        raise FileFormatError(f"unknown encoding {encoding!r}") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise FileFormatError(f"cannot read: {getattr(error, 'strerror', None) or error}") from None
    if "\x00" in head or len(BAD.findall(head)) > len(head) // 10:
        raise FileFormatError(
            "not a text file (expected JSON, JSON lines or CSV, in UTF-8 or UTF-16; "
            "for another encoding pass --encoding)"
        )
    stripped = head.lstrip()
    if not stripped:
        raise FileFormatError("empty file")
    if stripped[0] == "[":
        return "az-json"
    if stripped[0] == "{":
        return "records" if _RECORDS_START.match(head) else "jsonl"
    first_line = stripped.splitlines()[0]
    columns = {_csv_column(name).lower() for name in next(csv.reader([first_line]), [])}
    if {"timegenerated", "correlationid"} & columns:
        return "csv"
    raise FileFormatError(
        "not a Log Analytics export (expected a JSON array, JSON lines or CSV with a header)"
    )


# (table or Rejection, row) items, from any format ------------------------------------------

_TABLE_MARKERS = (
    (LLM_LOG, {"sequencenumber", "prompttokens", "requestmessages", "responsemessages", "deploymentname"}),
    (NATIVE, {"properties_s", "resourceprovider", "durationms", "resultsignature", "location_s"}),
    (
        GATEWAY,
        {"apimsubscriptionid", "backendresponsecode", "totaltime", "url", "responsecode", "backendurl"},
    ),
)
_TABLE_NAMES = {table.lower(): table for table in TABLES}


def _la_table(row: dict[str, Any], cache: dict[tuple[str, ...], str | None]) -> str | None:
    for name in ("Type", "$table", "type"):
        value = row.get(name)
        if isinstance(value, str) and value.lower() in _TABLE_NAMES:
            return _TABLE_NAMES[value.lower()]
    columns = tuple(row)
    if columns not in cache:
        lower = {str(column).lower() for column in columns}
        cache[columns] = next((table for table, markers in _TABLE_MARKERS if markers & lower), None)
    return cache[columns]


_Target = str | Rejection | Skipped


def _route(value: Any, cache: dict[tuple[str, ...], str | None]) -> Iterator[tuple[_Target, Any]]:
    if not isinstance(value, dict):
        yield Rejection("not a JSON object"), value
        return
    records = value.get("records")
    if isinstance(records, list) and len(value) == 1:
        for record in records:
            yield from _route(record, cache)
        return
    if "category" in value and ("properties" in value or "time" in value) and "TimeGenerated" not in value:
        skipped = diagnostic_record_skipped(value)
        if skipped is not None:
            yield skipped, value
            return
        converted = diagnostic_record_convert(value)
        if isinstance(converted, Rejection):
            yield converted, value
        else:
            yield converted
        return
    table = _la_table(value, cache)
    if table is None and (skipped := la_row_skipped(value)) is not None:
        yield skipped, value
    elif table is None:
        yield Rejection("unknown table", "columns " + ", ".join(sorted(map(str, value))[:12])), value
    else:
        yield table, value


def _csv_column(name: str) -> str:
    name = name.strip()
    return name[: -len(" [UTC]")] if name.endswith(" [UTC]") else name


def _items(
    path: Path, fmt: str, *, encoding: str | None = None, names: list[str] | None = None
) -> Iterator[tuple[_Target, Any]]:
    """(table, Rejection or Skipped, row) for every row of the file; ``names`` gets the encoding's name."""
    cache: dict[tuple[str, ...], str | None] = {}
    limit = int(settings.INGEST_MAX_ROW_SIZE)
    stream, name = text_open(path, encoding=encoding)
    if names is not None:
        names.append(name)
    with stream:
        if fmt == "csv":
            yield from _csv_items(stream, limit=limit, encoding=name, cache=cache)
        elif fmt == "jsonl":
            for number, line, size in lines_read(stream, limit=limit):
                if size:
                    yield row_too_large(f"line {number}", size, limit), head_kept(line, size)
                elif not line.strip():
                    continue
                elif BAD.search(line):
                    yield bad_bytes(name, f"line {number}"), raw_kept(line)
                else:
                    try:
                        value = json_decode(line)
                    except ValueError as error:
                        kind = "invalid JSON line" if line.endswith(("\n", "\r")) else TRUNCATED
                        yield Rejection(kind, f"line {number}: {error}"), raw_kept(line)
                        continue
                    yield from _route(value, cache)
        else:
            reader = JsonStream(stream, limit=limit, encoding=name)
            if fmt == "records":
                reader.skip(_RECORDS_START)
            for value in reader.array_items():
                if isinstance(value, Refused):
                    yield value.rejection, value.raw
                else:
                    yield from _route(value, cache)


def _csv_items(
    stream: IO[str], *, limit: int, encoding: str, cache: dict[tuple[str, ...], str | None]
) -> Iterator[tuple[_Target, Any]]:
    header: list[str] | None = None
    for number, text, size, ended in csv_records(stream, limit=limit):
        where = f"line {number}"
        if size:
            yield row_too_large(where, size, limit), head_kept(text, size)
            continue
        if BAD.search(text):
            yield bad_bytes(encoding, where), raw_kept(text)
            continue
        try:
            values = next(csv.reader([text]), [])
        except csv.Error as error:
            kind = TRUNCATED if not ended else "CSV row cannot be parsed"
            yield Rejection(kind, f"{where}: {error}"), raw_kept(text)
            continue
        if header is None:
            header = [_csv_column(name) for name in values]
            continue
        if not any(values):
            continue
        if len(values) != len(header):
            kind = TRUNCATED if not ended else "CSV line has the wrong number of fields"
            yield Rejection(kind, f"{where}: {len(values)}"), values
            continue
        row = {name: value for name, value in zip(header, values, strict=True) if value != ""}
        yield from _route(row, cache)


def logs_file_import(
    *,
    path: str | Path,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    encoding: str | None = None,
    lock_wait: float = 0,
) -> FileImportResult:
    """Import one exported file through ``rows_store``, in ``workers`` processes (default
    ``INGEST_WORKERS``; ``usage.ingestion.parallel``), under the ingestion lock (waiting up to
    ``lock_wait`` seconds for it; if it stays busy, nothing is imported and ``busy`` is set).
    ``encoding``: a Python codec name for files not in UTF-8 or UTF-16. Never raises for a bad
    file."""
    path = Path(path)
    result = FileImportResult(path=str(path))
    with lock_hold(name=INGEST_LOCK, wait=lock_wait) as lock:
        if lock is None:
            holder = lock_holder(name=INGEST_LOCK)
            result.busy = True
            result.error = f"busy: another ingestion run ({holder or 'unknown'}) holds the ingestion lock; nothing imported"
            return result
        runs_abandoned_close(lock_held=True)  # we hold the lock: whatever still says running is dead
        run = run_start(source="file", path=str(path))
        _file_store(
            path=path,
            result=result,
            run=run,
            lock=lock,
            batch_size=batch_size,
            workers=workers,
            encoding=encoding,
        )
    tables = [table for table in result.tables if table]
    run.table = tables[0] if len(tables) == 1 and "" not in result.tables else ""  # "" = several
    run.tables = {table: run_counts(stored) for table, stored in result.tables.items()}
    run_counts_set(run, result)
    run.error = result.error
    if not result.error:
        run.status = IngestionRun.Status.OK
    else:
        run.status = IngestionRun.Status.PARTIAL if result.rows_read else IngestionRun.Status.FAILED
    run.finished_at = timezone.now()
    run.save()
    return result


def _file_store(
    *,
    path: Path,
    result: FileImportResult,
    run: IngestionRun,
    lock: Lock,
    batch_size: int,
    workers: int | None,
    encoding: str | None,
) -> None:
    buffers: dict[str, list[Any]] = {table: [] for table in TABLES}
    unrouted: list[tuple[Rejection, Any]] = []
    other = StoreResult()  # records routed to no table: rejected or skipped
    store = BatchStore(workers=workers, source="file", batch_size=batch_size)

    def flush(table: str) -> None:
        if buffers[table]:
            store.submit(table=table, rows=buffers[table])
            buffers[table] = []

    def flush_unrouted() -> None:
        if unrouted:
            count = rejected_rows_store(source=f"file:{result.format}", rejections=unrouted)
            other.rows_read += count
            other.rejected += count
            other.reasons.update(rejection.kind for rejection, _ in unrouted)
            unrouted.clear()

    names: list[str] = []
    # The latency rollups are refreshed once a minute and at the end, not after every batch.
    # The heartbeat starts after the workers are forked.
    with latency_rollups_deferred(), store, lock_heartbeat(lock=lock):
        try:
            if not path.is_file():
                raise FileFormatError("no such file" if not path.exists() else "not a file")
            result.format = file_format_detect(path=path, encoding=encoding)
            for target, row in _items(path, result.format, encoding=encoding, names=names):
                if isinstance(target, Skipped):
                    other.rows_read += 1
                    other.skipped += 1
                    other.skipped_categories[target.category] += 1
                    continue
                if isinstance(target, Rejection):
                    unrouted.append((target, row))
                    if len(unrouted) >= batch_size:
                        flush_unrouted()
                    continue
                buffers[target].append(row)
                if len(buffers[target]) >= batch_size:
                    flush(target)
        except FileFormatError as error:
            result.error = str(error)
        except (OSError, EOFError, gzip.BadGzipFile, csv.Error) as error:
            result.error = f"cannot read: {error}"
        except BaseException as error:  # not the file's fault: record it and let it propagate
            run.status = IngestionRun.Status.FAILED
            run.error = f"{type(error).__name__}: {error}"
            run.finished_at = timezone.now()
            run.save()
            raise
        result.encoding = names[0] if names else ""
        # Join partners first: a request whose partners are already stored is refreshed once, not twice.
        for table in (NATIVE, LLM_LOG, GATEWAY):
            flush(table)
        flush_unrouted()
        for table, stored in store.wait().items():
            result.add(table, stored)
        if other.rows_read:
            result.add("", other)
