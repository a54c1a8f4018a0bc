"""What the Log Analytics emulator (``usage.demo.emulator``) holds and answers: the stored rows,
which of them a parsed query (``usage.demo.kql``) selects and in what order, and the JSON the
service writes (typed columns, cells as text or numbers, error and partial-error bodies).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from usage.ingestion.tables import TABLE_COLUMNS

from .kql import ParsedQuery, format_datetime, parse_datetime

# Column names and Log Analytics types per table (usage.ingestion.tables); columns a test adds
# that are not listed there get a type inferred from their values.
COLUMN_TYPES: dict[str, dict[str, str]] = {table: dict(columns) for table, columns in TABLE_COLUMNS.items()}

TOO_LARGE_MESSAGE = (
    "Query result set has exceeded the internal record count limit {limit} "
    "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)"
)
TOO_BIG_MESSAGE = (
    "Query result set has exceeded the internal data size limit {limit} "
    "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)"
)


def _row_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parse_datetime(str(value))
    except ValueError:
        return None


def _infer_type(values: Iterable[Any]) -> str:
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "long"
        if isinstance(value, float):
            return "real"
        if isinstance(value, datetime):
            return "datetime"
        if isinstance(value, dict | list):
            return "dynamic"
        return "string"
    return "string"


def _encode_cell(value: Any, column_type: str) -> Any:
    """Cell values as the service writes them: datetimes as text, dynamic as JSON text, numbers as
    numbers. A value that does not fit its column is passed on unchanged (for malformed-row tests)."""
    if value is None:
        return None
    if column_type == "datetime":
        return format_datetime(value) if isinstance(value, datetime) else value
    if column_type == "dynamic":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if column_type == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value
    if column_type in ("int", "long", "real") and isinstance(value, str):
        try:
            return float(value) if column_type == "real" else int(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


@dataclass
class _StoredRow:
    time: datetime
    visible_at: datetime  # when the row "arrived" in the workspace (ingestion delay)
    values: dict[str, Any]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def _matches(
    row: _StoredRow, parsed: ParsedQuery, span_start: datetime | None, span_end: datetime | None
) -> bool:
    when = row.time
    # The API's timespan is inclusive on both ends; the query's own conditions narrow it.
    if span_start is not None and when < span_start:
        return False
    if span_end is not None and when > span_end:
        return False
    if parsed.start is not None and (
        when < parsed.start or (when == parsed.start and not parsed.start_inclusive)
    ):
        return False
    if parsed.end is not None and (when > parsed.end or (when == parsed.end and not parsed.end_inclusive)):
        return False
    return all(str(row.values.get(column, "")) == value for column, value in parsed.equals.items())


def _table(table: str, rows: list[_StoredRow]) -> dict[str, Any]:
    known = COLUMN_TYPES.get(table, {})
    names: list[str] = []
    for row in rows:
        for name in row.values:
            if name not in names:
                names.append(name)
    if not names:
        names = list(known) or ["TimeGenerated"]
    types = [known.get(name) or _infer_type(row.values.get(name) for row in rows) for name in names]
    return {
        "name": "PrimaryResult",
        "columns": [{"name": name, "type": kind} for name, kind in zip(names, types, strict=True)],
        "rows": [
            [
                _encode_cell(row.time if name == "TimeGenerated" else row.values.get(name), kind)
                for name, kind in zip(names, types, strict=True)
            ]
            for row in rows
        ],
    }


def _error(code: str, message: str, inner: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innererror": {"code": code, "message": inner}}}


def _partial_error(inner_message: str) -> dict[str, Any]:
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [
            {
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": {
                    "code": "-2133196797",
                    "message": inner_message,
                    "severity": 2,
                    "severityName": "Error",
                },
            }
        ],
    }
