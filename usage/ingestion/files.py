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
unknown columns) is kept as a ``RejectedRow`` with its reason, like any other bad row; a record of
a category or table the portal does not read (``Audit``, ``Trace``, a ``Type`` of another table)
is skipped and counted per category (``skipped.py``). A file that cannot be read at all ends with
an error message, and what was read before the damage is kept.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.utils import timezone

from usage.json_memo import json_decode
from usage.models import IngestionRun
from usage.rollups import latency_rollups_deferred

from .parallel import BatchStore
from .rows import Rejection, diagnostic_record_convert
from .skipped import Skipped, diagnostic_record_skipped, la_row_skipped
from .store import BATCH_SIZE, StoreResult, rejected_rows_store
from .tables import GATEWAY, LLM_LOG, NATIVE, TABLES

_READ_CHUNK = 1 << 20
_MAX_VALUE = 16 << 20  # one JSON element (row) larger than this is not a log row
_HEAD = 64 << 10
_NON_SPACE = re.compile(r"\S")
_RECORDS_START = re.compile(r'\s*\{\s*"records"\s*:\s*(?=\[)')


class FileFormatError(Exception):
    """The file (or what follows a point in it) cannot be read as any supported format."""


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
    error: str = ""

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


def _open_text(path: Path, errors: str = "replace") -> IO[str]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors=errors, newline="")
    return path.open("r", encoding="utf-8-sig", errors=errors, newline="")


def file_format_detect(*, path: Path) -> str:
    """``az-json``, ``records``, ``jsonl`` or ``csv``; raises FileFormatError otherwise."""
    try:
        with _open_text(path, errors="strict") as stream:
            head = stream.read(_HEAD)
    except UnicodeDecodeError:
        raise FileFormatError("not a text file (expected JSON, JSON lines or CSV)") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise FileFormatError(f"cannot read: {error.strerror or error}") from None
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


class _JsonStream:
    """Reads JSON values one at a time from a text stream, without reading the whole stream."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters before buf[0]
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        chunk = self.stream.read(_READ_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str | None:
        while True:
            match = _NON_SPACE.search(self.buf, self.pos)
            if match:
                self.pos = match.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self._fill():
                return None

    def skip(self, pattern: re.Pattern[str]) -> None:
        self.peek()
        match = pattern.match(self.buf, self.pos)
        if match:
            self.pos = match.end()

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise FileFormatError(
                f"expected {char!r} at character {self.consumed + self.pos}, found {found!r}"
            )
        self.pos += 1

    def value(self) -> Any:
        self.peek()  # raw_decode does not skip leading whitespace
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as error:
                if self.eof or len(self.buf) - self.pos > _MAX_VALUE or not self._fill():
                    raise FileFormatError(
                        f"invalid JSON at character {self.consumed + error.pos}: {error.msg}"
                    ) from None
                continue
            if len(self.buf) - end < 64 and not self.eof and self._fill():
                continue  # a number near the end may go on in the next chunk: decode again
            self.pos = end
            return value

    def array_items(self) -> Iterator[Any]:
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            found = self.peek()
            if found == ",":
                self.pos += 1
            elif found == "]":
                self.pos += 1
                return
            else:
                raise FileFormatError(
                    f"expected ',' or ']' at character {self.consumed + self.pos}, found {found!r}"
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


def _items(path: Path, fmt: str) -> Iterator[tuple[_Target, Any]]:
    cache: dict[tuple[str, ...], str | None] = {}
    with _open_text(path) as stream:
        if fmt == "csv":
            csv.field_size_limit(min(sys.maxsize, 1 << 30))
            reader = csv.reader(stream)
            header = [_csv_column(name) for name in next(reader, [])]
            for number, values in enumerate(reader, start=2):
                if not any(values):
                    continue
                if len(values) != len(header):
                    yield (
                        Rejection("CSV line has the wrong number of fields", f"line {number}: {len(values)}"),
                        values,
                    )
                    continue
                row = {name: value for name, value in zip(header, values, strict=True) if value != ""}
                yield from _route(row, cache)
        elif fmt == "jsonl":
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    value = json_decode(line)
                except ValueError as error:
                    yield Rejection("invalid JSON line", f"line {number}: {error}"), line[:100_000]
                    continue
                yield from _route(value, cache)
        else:
            reader = _JsonStream(stream)
            if fmt == "records":
                reader.skip(_RECORDS_START)
            for value in reader.array_items():
                yield from _route(value, cache)


def run_counts(result: StoreResult) -> dict[str, Any]:
    """A ``StoreResult``'s counts as ``IngestionRun.tables`` keeps them."""
    return {
        "rows_read": result.rows_read,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "conflicts": result.conflicts,
        "skipped": result.skipped,
        "rejected": result.rejected,
        "skipped_categories": dict(result.skipped_categories),
        "reasons": dict(result.reasons),
    }


def logs_file_import(
    *, path: str | Path, batch_size: int = BATCH_SIZE, workers: int | None = None
) -> FileImportResult:
    """Import one exported file through ``rows_store``, in ``workers`` processes (default
    ``INGEST_WORKERS``; ``usage.ingestion.parallel``); never raises for a bad file."""
    path = Path(path)
    result = FileImportResult(path=str(path))
    run = IngestionRun.objects.create(source="file", path=str(path))
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

    # The latency rollups are refreshed once a minute and at the end, not after every batch.
    with latency_rollups_deferred(), store:
        try:
            if not path.is_file():
                raise FileFormatError("no such file" if not path.exists() else "not a file")
            result.format = file_format_detect(path=path)
            for target, row in _items(path, result.format):
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
        # Join partners first: a request whose partners are already stored is refreshed once, not twice.
        for table in (NATIVE, LLM_LOG, GATEWAY):
            flush(table)
        flush_unrouted()
        for table, stored in store.wait().items():
            result.add(table, stored)
        if other.rows_read:
            result.add("", other)

    tables = [table for table in result.tables if table]
    run.table = tables[0] if len(tables) == 1 and "" not in result.tables else ""  # "" = several
    run.tables = {table: run_counts(stored) for table, stored in result.tables.items()}
    run.rows_read = result.rows_read
    run.rows_stored = result.stored
    run.duplicates = result.duplicates
    run.conflicts = result.conflicts
    run.skipped = result.skipped
    run.skipped_categories = dict(result.skipped_categories)
    run.rejected = result.rejected
    run.reasons = dict(result.reasons)
    run.error = result.error
    if not result.error:
        run.status = IngestionRun.Status.OK
    else:
        run.status = IngestionRun.Status.PARTIAL if result.rows_read else IngestionRun.Status.FAILED
    run.finished_at = timezone.now()
    run.save()
    return result
