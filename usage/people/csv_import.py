"""Importing people from a CSV file: ``manage.py import_people FILE`` and the admin site's upload.

Columns: object_id, display_name, email, department, kind, cost_center (a cost center *code*).
A first line naming the columns is recognised (in any order, common spellings accepted, unknown
columns ignored); without one the columns are taken in that order. UTF-8, with or without a BOM.

A line that cannot be imported is reported with its number and reason and counted, never stops
the import. An empty cell leaves the stored value as it is; a new person needs a display name.
Rows written are marked ``source="csv"`` (written by hand: sign-ins and Graph only fill their empty
fields). Importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from django.db import transaction
from django.utils import timezone

from ..models import CostCenter, NamedIdentity

COLUMNS = ("object_id", "display_name", "email", "department", "kind", "cost_center")
_ALIASES = {
    "objectid": "object_id",
    "oid": "object_id",
    "id": "object_id",
    "displayname": "display_name",
    "name": "display_name",
    "email": "email",
    "mail": "email",
    "emailaddress": "email",
    "department": "department",
    "dept": "department",
    "kind": "kind",
    "type": "kind",
    "costcenter": "cost_center",
    "costcentercode": "cost_center",
    "costcentre": "cost_center",
}
_KINDS = {
    "user": NamedIdentity.Kind.USER,
    "person": NamedIdentity.Kind.USER,
    "application": NamedIdentity.Kind.APPLICATION,
    "app": NamedIdentity.Kind.APPLICATION,
    "serviceprincipal": NamedIdentity.Kind.APPLICATION,
}
_MAX = {"object_id": 128, "display_name": 256, "email": 256, "department": 256}
_WRITE_CHUNK = 1000
MAX_REPORTED = 1000  # bad lines kept with their reason; all are counted


@dataclass
class PeopleImportResult:
    lines: int = 0  # data lines read (blank lines and the header not counted)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    header: bool = False
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.lines} lines: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.bad} bad"
        )

    def _refuse(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_REPORTED:
            self.bad_lines.append((line, reason))


def _key(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


def _header_of(row: list[str]) -> tuple[dict[str, int], list[str]] | None:
    """Column -> index when ``row`` names the columns (it names object_id); None for a data row."""
    found: dict[str, int] = {}
    ignored = []
    for index, cell in enumerate(row):
        column = _ALIASES.get(_key(cell))
        if column is None or column in found:
            ignored.append(cell.strip())
        else:
            found[column] = index
    if "object_id" not in found:
        return None
    return found, [name for name in ignored if name]


def people_csv_import_path(*, path: Path) -> PeopleImportResult:
    with path.open("rb") as stream:
        return people_csv_import(stream=stream)


def people_csv_import(*, stream: IO[bytes]) -> PeopleImportResult:
    """Import the people of a CSV byte stream (see the module docstring); returns the counts."""
    # surrogateescape: a line that is not UTF-8 is refused alone, with its number.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    result = PeopleImportResult()
    centers = dict(CostCenter.objects.values_list("code", "pk"))
    positions = {column: index for index, column in enumerate(COLUMNS)}
    seen: dict[str, int] = {}
    pending: list[tuple[int, dict[str, str]]] = []
    reader = csv.reader(text)
    first = True
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if first:
                first = False
                header = _header_of(row)
                if header is not None:
                    positions, result.ignored_columns = header
                    result.header = True
                    continue
            result.lines += 1
            values, reason = _values_of(row, positions=positions, centers=centers, header=result.header)
            if reason:
                result._refuse(number, reason)
                continue
            object_id = values["object_id"]
            if object_id in seen:
                result._refuse(number, f"object_id {object_id} already on line {seen[object_id]}")
                continue
            seen[object_id] = number
            pending.append((number, values))
            if len(pending) >= _WRITE_CHUNK:
                _write(pending, result=result, centers=centers)
                pending = []
    except csv.Error as exc:
        result._refuse(reader.line_num, f"unreadable CSV, the rest of the file was skipped: {exc}")
    _write(pending, result=result, centers=centers)
    return result


def _values_of(
    row: list[str], *, positions: dict[str, int], centers: dict[str, int], header: bool
) -> tuple[dict[str, str], str]:
    if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
        return {}, "not UTF-8 text"
    if not header and len(row) > len(COLUMNS):
        return {}, f"{len(row)} columns, expected at most {len(COLUMNS)} ({', '.join(COLUMNS)})"
    values = {column: (row[index].strip() if index < len(row) else "") for column, index in positions.items()}
    object_id = values.get("object_id", "")
    if not object_id:
        return {}, "no object_id"
    if any(ch.isspace() for ch in object_id):
        return {}, f"object_id {object_id!r} contains spaces"
    for column, limit in _MAX.items():
        if len(values.get(column, "")) > limit:
            return {}, f"{column} longer than {limit} characters"
    kind = values.get("kind", "")
    if kind:
        if _key(kind) not in _KINDS:
            return {}, f"kind {kind!r} is neither user nor application"
        values["kind"] = _KINDS[_key(kind)]
    code = values.get("cost_center", "")
    if code and code not in centers:
        return {}, f"no cost center with code {code!r}"
    return values, ""


@transaction.atomic
def _write(
    pending: list[tuple[int, dict[str, str]]], *, result: PeopleImportResult, centers: dict[str, int]
) -> None:
    if not pending:
        return
    now = timezone.now()
    stored = NamedIdentity.objects.select_for_update().in_bulk(
        [values["object_id"] for _, values in pending], field_name="object_id"
    )
    creates: list[NamedIdentity] = []
    updates: list[NamedIdentity] = []
    changed_fields: set[str] = set()
    for number, values in pending:
        wanted: dict[str, object] = {
            name: values[name] for name in ("display_name", "email", "department", "kind") if values.get(name)
        }
        if values.get("cost_center"):
            wanted["cost_center_id"] = centers[values["cost_center"]]
        person = stored.get(values["object_id"])
        if person is None:
            if not wanted.get("display_name"):
                result._refuse(number, "no display_name for a person not yet known")
                continue
            creates.append(
                NamedIdentity(object_id=values["object_id"], source="csv", updated_at=now, **wanted)
            )
            continue
        changes = {name: value for name, value in wanted.items() if getattr(person, name) != value}
        if not changes:
            result.unchanged += 1
            continue
        for name, value in {**changes, "source": "csv", "updated_at": now}.items():
            setattr(person, name, value)
        changed_fields.update(changes)
        updates.append(person)
    NamedIdentity.objects.bulk_create(creates)
    if updates:
        NamedIdentity.objects.bulk_update(updates, [*sorted(changed_fields), "source", "updated_at"])
    result.created += len(creates)
    result.updated += len(updates)
