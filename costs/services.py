"""Importing cost exports (``manage.py import_costs``).

Every line read is accounted exactly once: *stored* (a new invoice line), *updated* (its key was
stored with other figures: a later export corrected it), *unchanged* (stored with the same
figures: a re-import or an overlapping export), *ignored* (not Azure OpenAI: storage, APIM, ...)
or *rejected* (unreadable; kept in ``CostRejectedLine`` with the reason).

Key: billing period, day, resource, meter, charge type and pricing model. Lines of one file with
the same key (an export splits a day by tags or benefits) are added together before they are
compared with what is stored, so a whole file read again changes nothing; a key that a later
export no longer lists is kept (exports overlap, they do not replace each other).

Exports run to millions of lines, so nothing holds the file: lines are read one at a time and
each kept line is written, parsed, to one of ``_BUCKETS`` temporary files chosen by its key; each
bucket is then added up and stored on its own. Memory grows with one bucket's distinct keys, not
with the file; nothing is stored before the whole file was read (a file cut short stores
nothing). Rejected lines are written to the database as they come, in chunks.
"""

import hashlib
import json
import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from .models import CostImport, CostLine, CostRejectedLine
from .readers import (
    FOCUS,
    ExportError,
    ExportFile,
    amount_parse,
    date_parse,
    export_open,
    row_get,
    text,
)

ACTUAL = "actual"
AMORTIZED = "amortized"
CHUNK = 1000
# Temporary files the kept lines are spread over by key (each is added up in memory on its own).
_BUCKETS = 32
_AOAI_CATEGORIES = ("foundry models", "cognitive services")
_COGNITIVE_ACCOUNT = "/providers/microsoft.cognitiveservices/accounts/"


@dataclass
class CostImportResult:
    path: str
    file_format: str = ""
    read: int = 0
    stored: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    rejected: int = 0
    lines: int = 0  # distinct invoice lines the file's kept lines add up to
    error: str = ""

    @property
    def accounted(self) -> bool:
        return self.read == self.stored + self.updated + self.unchanged + self.ignored + self.rejected


@dataclass
class _Group:
    fields: dict[str, Any]
    billed: Decimal | None
    effective: Decimal | None
    quantity: Decimal
    rows: int = 1


class _Reading:
    """The kept lines of one file, spilled by key into temporary bucket files (``_BUCKETS``)."""

    def __init__(self) -> None:
        self._buckets: list[Any] = []
        self.rejected: list[CostRejectedLine] = []
        self.kept = 0

    def add(
        self, key: tuple[str, ...], fields: dict[str, Any], billed: Decimal | None,
        effective: Decimal | None, quantity: Decimal,
    ) -> None:  # fmt: skip
        if not self._buckets:
            self._buckets = [tempfile.TemporaryFile() for _ in range(_BUCKETS)]  # noqa: SIM115
        bucket = self._buckets[int(_key_hash(key)[:8], 16) % _BUCKETS]
        pickle.dump((key, fields, billed, effective, quantity), bucket, protocol=pickle.HIGHEST_PROTOCOL)
        self.kept += 1

    def groups(self) -> Iterator[dict[tuple[str, ...], _Group]]:
        """Each bucket's lines added up by key (the bucket's file is closed once read)."""
        for bucket in self._buckets:
            bucket.seek(0)
            groups: dict[tuple[str, ...], _Group] = {}
            while True:
                try:
                    key, fields, billed, effective, quantity = pickle.load(bucket)  # noqa: S301 (our own file)
                except EOFError:
                    break
                group = groups.get(key)
                if group is None:
                    groups[key] = _Group(fields=fields, billed=billed, effective=effective, quantity=quantity)
                else:
                    group.rows += 1
                    group.quantity += quantity
                    group.billed = _add(group.billed, billed)
                    group.effective = _add(group.effective, effective)
            bucket.close()
            yield groups

    def close(self) -> None:
        for bucket in self._buckets:
            bucket.close()


def is_azure_openai(*, resource_id: str, consumed_service: str, category: str, subcategory: str) -> bool:
    """Azure OpenAI lines: a Cognitive Services account, billed under an Azure OpenAI category."""
    account = _COGNITIVE_ACCOUNT in resource_id.lower() or consumed_service.lower().startswith(
        "microsoft.cognitiveservices"
    )
    names = (category.lower(), subcategory.lower())
    return account and (names[0] in _AOAI_CATEGORIES or any(n.startswith("azure openai") for n in names))


def cost_file_import(*, path: Path, dataset: str = ACTUAL, progress: bool = False) -> CostImportResult:
    """Import one cost details or FOCUS export (CSV, gzip CSV or Parquet)."""
    try:
        export = export_open(path)
    except (ExportError, OSError) as error:
        return cost_import_failed(name=str(path), dataset=dataset, error=str(error))
    return cost_export_import(export=export, name=str(path), dataset=dataset, progress=progress)


def cost_export_import(
    *, export: ExportFile, name: str, dataset: str = ACTUAL, progress: bool = False
) -> CostImportResult:
    """Read every line of ``export``, then store them (see the module docstring).

    An ``ExportError`` raised while the lines are read (a file cut short, a Query API page that
    cannot be fetched) stores nothing of it: the error is kept on the import's record.
    """
    result = CostImportResult(path=name, file_format=export.file_format)
    record = CostImport.objects.create(
        file_name=name[:512], dataset=dataset if export.shape != FOCUS else "both"
    )
    reading = _Reading()
    try:
        _read(export, reading=reading, name=name, dataset=dataset, result=result, progress=progress)
    except ExportError as error:
        result.error = str(error)
    else:
        _store(reading, record=record, result=result)
    finally:
        reading.close()
    _record_finish(record, result)
    return result


def cost_import_failed(*, name: str, dataset: str, error: str, file_format: str = "") -> CostImportResult:
    """Record an import that read nothing (a file or a query that could not be read)."""
    result = CostImportResult(path=name, file_format=file_format, error=error)
    _record_finish(CostImport.objects.create(file_name=name[:512], dataset=dataset), result)
    return result


def _record_finish(record: CostImport, result: CostImportResult) -> None:
    record.file_format = result.file_format
    record.finished_at = timezone.now()
    for field_name in ("read", "stored", "updated", "unchanged", "ignored", "rejected", "error"):
        setattr(record, field_name, getattr(result, field_name))
    record.save()


def _read(
    export: ExportFile, *, reading: _Reading, name: str, dataset: str, result: CostImportResult,
    progress: bool,
) -> None:  # fmt: skip
    label = Path(name).name if export.container != "api" else name
    for number, row in enumerate(tqdm(export.rows, disable=not progress, unit=" lines", desc=label), 2):
        result.read += 1
        try:
            kept = _row_read(row, export=export, dataset=dataset, reading=reading)
        except ValueError as error:
            reading.rejected.append(
                _rejected(row, export=export, name=name, number=number, reason=str(error))
            )
            result.rejected += 1
            if len(reading.rejected) >= CHUNK:
                _rejected_flush(reading)
            continue
        if not kept:
            result.ignored += 1


def _row_read(row: dict[str, Any], *, export: ExportFile, dataset: str, reading: _Reading) -> bool:
    if "__error__" in row:
        raise ValueError(row["__error__"])
    columns = export.columns

    def get(name: str) -> str:
        return text(row_get(row, columns, name))

    resource_id = get("resource_id").lower()
    if not is_azure_openai(
        resource_id=resource_id,
        consumed_service=get("consumed_service"),
        category=get("meter_category"),
        subcategory=get("meter_subcategory"),
    ):
        return False
    day = _field(date_parse, row_get(row, columns, "date"), columns.get("date", "date"))
    period_raw = row_get(row, columns, "billing_period")
    period = (
        _field(date_parse, period_raw, columns["billing_period"]) if text(period_raw) else day.replace(day=1)
    )
    meter_name = " ".join(get("meter_name").split())
    if not resource_id:
        raise ValueError("ResourceId: empty")
    if not meter_name:
        raise ValueError(f"{columns['meter_name']}: empty")
    quantity = _field(
        _optional_amount, row_get(row, columns, "quantity"), columns.get("quantity", "quantity")
    )
    if export.shape != FOCUS:  # cost details and the Query API: one cost, of the dataset
        cost = _field(amount_parse, row_get(row, columns, "cost"), columns["cost"])
        billed, effective = (cost, None) if dataset == ACTUAL else (None, cost)
    else:
        billed = _field(amount_parse, row_get(row, columns, "billed_cost"), columns["billed_cost"])
        effective = _field(_optional_amount_or_none, row_get(row, columns, "effective_cost"), "EffectiveCost")
    charge_type, pricing_model = get("charge_type"), get("pricing_model")
    key = (
        period.isoformat(),
        day.isoformat(),
        resource_id,
        meter_name.lower(),
        charge_type.lower(),
        pricing_model.lower(),
    )
    fields = {
        "billing_period": period,
        "date": day,
        "resource_id": resource_id,
        "meter_name": meter_name[:256],
        "meter_id": get("meter_id")[:64],
        "meter_category": get("meter_category")[:128],
        "meter_subcategory": get("meter_subcategory")[:128],
        "charge_type": charge_type[:32],
        "pricing_model": pricing_model[:32],
        "unit_of_measure": get("unit")[:64],
        "currency": get("currency")[:3],
        "source_format": export.shape,
    }
    reading.add(key, fields, billed, effective, quantity or Decimal(0))
    return True


def _field(parse: Any, value: Any, column: str) -> Any:
    try:
        return parse(value)
    except ValueError as error:
        raise ValueError(f"{column}: {error}") from None


def _optional_amount(value: Any) -> Decimal:
    return amount_parse(value, required=False) or Decimal(0)


def _optional_amount_or_none(value: Any) -> Decimal | None:
    return amount_parse(value, required=False)


def _add(left: Decimal | None, right: Decimal | None) -> Decimal | None:
    if left is None:
        return right
    return left if right is None else left + right


def _rejected(
    row: dict[str, Any], *, export: ExportFile, name: str, number: int, reason: str
) -> CostRejectedLine:
    raw_values = row.get("__raw__", row)
    raw = json.dumps(raw_values, default=str, ensure_ascii=False)
    fingerprint = hashlib.sha256(f"{export.file_format}\n{raw}".encode()).hexdigest()
    return CostRejectedLine(
        source=export.file_format,
        file_name=name[:512],
        line_number=number,
        reason=reason,
        raw=raw,
        fingerprint=fingerprint,
    )


def _key_hash(key: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(key).encode()).hexdigest()


def _rejected_flush(reading: _Reading) -> None:
    # Rejected lines are evidence whatever happens to the rest of the file: kept as they come.
    for start in range(0, len(reading.rejected), CHUNK):
        CostRejectedLine.objects.bulk_create(reading.rejected[start : start + CHUNK], ignore_conflicts=True)
    reading.rejected.clear()


def _store(reading: _Reading, *, record: CostImport, result: CostImportResult) -> None:
    for groups in reading.groups():
        result.lines += len(groups)
        items = [(_key_hash(key), group) for key, group in groups.items()]
        for start in range(0, len(items), CHUNK):
            _chunk_store(items[start : start + CHUNK], record=record, result=result)
    _rejected_flush(reading)


def _chunk_store(chunk: list[tuple[str, _Group]], *, record: CostImport, result: CostImportResult) -> None:
    with transaction.atomic():
        existing = CostLine.objects.in_bulk([h for h, _ in chunk], field_name="key")
        new, changed = [], []
        for key_hash, group in chunk:
            line = existing.get(key_hash)
            if line is None:
                new.append(_line_new(key_hash, group, record))
                result.stored += group.rows
            elif _line_merge(line, group):
                line.last_import = record
                changed.append(line)
                result.updated += group.rows
            else:
                result.unchanged += group.rows
        CostLine.objects.bulk_create(new)
        if changed:
            CostLine.objects.bulk_update(changed, [*_MERGED, "last_import", "updated_at"])


_MERGED = [
    "quantity", "billed_cost", "effective_cost", "meter_id", "meter_category", "meter_subcategory",
    "unit_of_measure", "currency", "source_format",
]  # fmt: skip


def _line_new(key_hash: str, group: _Group, record: CostImport) -> CostLine:
    return CostLine(
        key=key_hash,
        quantity=group.quantity,
        billed_cost=group.billed,
        effective_cost=group.effective,
        last_import=record,
        **group.fields,
    )


def _line_merge(line: CostLine, group: _Group) -> bool:
    """Take the export's figures; an actual-only export keeps the amortized cost and the reverse.

    A source that does not know a descriptive field (the Query API has no meter id or unit) leaves
    what another source wrote, and the source's name alone is no change: a pull and an import of
    the same lines leave each other's lines unchanged.
    """
    wanted: dict[str, Any] = {
        name: group.fields[name] for name in _MERGED if group.fields.get(name, "") != ""
    }
    wanted["quantity"] = group.quantity
    if group.billed is not None:
        wanted["billed_cost"] = group.billed
    if group.effective is not None:
        wanted["effective_cost"] = group.effective
    source = wanted.pop("source_format", line.source_format)
    changed = False
    for name, value in wanted.items():
        if getattr(line, name) != value:
            setattr(line, name, value)
            changed = True
    if changed:
        line.source_format = source
        line.updated_at = timezone.now()
    return changed
