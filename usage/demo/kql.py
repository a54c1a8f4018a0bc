"""The KQL the Log Analytics emulator understands: the queries
``usage.ingestion.log_analytics_query`` sends (see ``usage.demo.emulator``), the API's ``timespan``
and the service's datetime text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class QueryError(Exception):
    """A query the emulator does not understand: answered as HTTP 400 like the real service."""


@dataclass
class ParsedQuery:
    table: str
    start: datetime | None = None
    start_inclusive: bool = True
    end: datetime | None = None
    end_inclusive: bool = False
    equals: dict[str, str] = field(default_factory=dict)
    order: tuple[str, bool] | None = None  # (column, descending)
    take: int | None = None


_DATETIME = r"datetime\(\s*\"?([^)\"]+)\"?\s*\)"
_TIME_CONDITION = re.compile(r"^TimeGenerated\s*(>=|>|<=|<)\s*" + _DATETIME + r"$")
_EQUALS_CONDITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*==\s*\"((?:[^\"\\]|\\.)*)\"$")
_ORDER = re.compile(r"^(?:order|sort)\s+by\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?$")
_TAKE = re.compile(r"^(?:take|limit)\s+(\d+)$")


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 instant as Log Analytics writes it (``Z`` or offset, up to 7 fraction digits)."""
    text = value.strip()
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", text)
    if match:
        head, fraction, zone = match.groups()
        text = (
            head + (f".{fraction[:6]:0<6}" if fraction else "") + ("+00:00" if zone in (None, "Z") else zone)
        )
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """The form the service answers with: UTC, 7 fraction digits, ``Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def parse_query(query: str) -> ParsedQuery:
    """Parse the small KQL subset described in the module docstring; anything else is an error."""
    stages = [stage.strip() for stage in query.strip().split("|")]
    table = stages[0]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
        raise QueryError(f"Expected a table name, got {table!r}")
    parsed = ParsedQuery(table=table)
    for stage in stages[1:]:
        if stage.startswith("where "):
            for condition in re.split(r"\s+and\s+", stage[len("where ") :].strip()):
                _apply_condition(parsed, condition.strip())
        elif match := _ORDER.match(stage):
            parsed.order = (match.group(1), (match.group(2) or "asc") == "desc")
        elif match := _TAKE.match(stage):
            parsed.take = int(match.group(1))
        else:
            raise QueryError(f"Unsupported query operator: {stage!r}")
    return parsed


def _apply_condition(parsed: ParsedQuery, condition: str) -> None:
    if match := _TIME_CONDITION.match(condition):
        operator, value = match.group(1), parse_datetime(match.group(2))
        if operator in (">=", ">"):
            parsed.start, parsed.start_inclusive = value, operator == ">="
        else:
            parsed.end, parsed.end_inclusive = value, operator == "<="
    elif match := _EQUALS_CONDITION.match(condition):
        parsed.equals[match.group(1)] = match.group(2).replace('\\"', '"')
    else:
        raise QueryError(f"Unsupported condition: {condition!r}")


def parse_timespan(timespan: str | None, *, now: datetime) -> tuple[datetime | None, datetime | None]:
    """``start/end``, ``start/PTnS`` or ``PTnS`` (ending now), as the SDK sends them."""
    if not timespan:
        return None, None
    if "/" in timespan:
        first, second = timespan.split("/", 1)
        start = parse_datetime(first)
        if second.startswith("P"):
            return start, start + _parse_duration(second)
        return start, parse_datetime(second)
    return now - _parse_duration(timespan), now


def _parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text)
    if not match:
        raise QueryError(f"Invalid timespan duration {text!r}")
    days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
