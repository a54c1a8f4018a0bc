"""Reading Cost Management exports: the shape from the header, each line into plain fields.

Shapes: the *cost details* export (EA and MCA spell the same columns with other capitals, e.g.
``CostInBillingCurrency`` / ``costInBillingCurrency``; both are read case-insensitively) and the
*FOCUS* export (1.0 and later). Containers: CSV (UTF-8, with or without a BOM), gzip CSV and
Parquet, told apart by their first bytes, not by the file name.
"""

import csv
import datetime as dt
import gzip
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

COST_DETAILS = "cost-details"
FOCUS = "focus"
QUERY = "query"  # rows of the Cost Management Query API (costs.pull): one cost column, like cost details

# Canonical field -> header spellings (lower-case), first found wins.
_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    COST_DETAILS: {
        "date": ("date", "usagedate", "usagedatetime"),
        "billing_period": ("billingperiodstartdate",),
        "resource_id": ("resourceid", "instanceid"),
        "meter_name": ("metername",),
        "meter_id": ("meterid",),
        "meter_category": ("metercategory",),
        "meter_subcategory": ("metersubcategory",),
        "quantity": ("quantity", "usagequantity"),
        "unit": ("unitofmeasure",),
        "cost": ("costinbillingcurrency", "pretaxcost", "cost"),
        "currency": ("billingcurrency", "billingcurrencycode", "currency"),
        "charge_type": ("chargetype",),
        "pricing_model": ("pricingmodel",),
        "consumed_service": ("consumedservice",),
    },
    FOCUS: {
        "date": ("chargeperiodstart",),
        "billing_period": ("billingperiodstart",),
        "resource_id": ("resourceid",),
        "meter_name": ("x_skumetername",),
        "meter_id": ("x_skumeterid",),
        "meter_category": ("x_skumetercategory",),
        "meter_subcategory": ("x_skumetersubcategory",),
        "quantity": ("consumedquantity",),
        "unit": ("x_pricingunitdescription", "consumedunit", "pricingunit"),
        "billed_cost": ("billedcost",),
        "effective_cost": ("effectivecost",),
        "currency": ("billingcurrency",),
        "charge_type": ("chargecategory",),
        "pricing_model": ("pricingcategory",),
        "consumed_service": ("x_resourcetype",),
    },
    # The Query API names a column after its dimension (grouping) or its aggregated column.
    QUERY: {
        "date": ("usagedate", "date"),
        "billing_period": ("billingperiodstartdate",),
        "resource_id": ("resourceid",),
        "meter_name": ("meter", "metername"),
        "meter_id": ("meterid",),
        "meter_category": ("metercategory",),
        "meter_subcategory": ("metersubcategory",),
        "quantity": ("usagequantity", "quantity", "totalquantity"),
        "unit": ("unitofmeasure",),
        "cost": ("cost", "pretaxcost", "costinbillingcurrency", "totalcost"),
        "currency": ("currency", "billingcurrency"),
        "charge_type": ("chargetype",),
        "pricing_model": ("pricingmodel",),
        "consumed_service": ("consumedservice",),
    },
}
_REQUIRED = {
    COST_DETAILS: ("date", "meter_name", "cost"),
    FOCUS: ("date", "meter_name", "billed_cost"),
    QUERY: ("date", "resource_id", "meter_name", "cost"),
}
_EIGHT_PLACES = Decimal("0.00000001")
_MAX_AMOUNT = Decimal(10) ** 15  # the columns hold 16 digits before the point


class ExportError(Exception):
    """The file is not an export the importer reads (its reason is shown as is)."""


@dataclass
class ExportFile:
    shape: str  # COST_DETAILS or FOCUS
    container: str  # csv / gz / parquet
    columns: dict[str, str]  # canonical field -> the file's own header
    rows: Iterator[dict[str, Any]] = field(repr=False)

    @property
    def file_format(self) -> str:
        return f"{self.shape}.{self.container}"


def export_open(path: Path) -> ExportFile:
    """Open ``path`` and tell its shape from its header; ``ExportError`` if it is neither."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        headers, rows = _parquet_rows(path)
        container = "parquet"
    else:
        container = "gz" if magic[:2] == b"\x1f\x8b" else "csv"
        headers, rows = _csv_rows(path, gzipped=container == "gz")
    shape, columns = _shape(headers)
    return ExportFile(shape=shape, container=container, columns=columns, rows=rows)


def query_export(*, headers: list[str], rows: Iterator[dict[str, Any]]) -> ExportFile:
    """Rows of the Cost Management Query API (dicts keyed by its column names) as an export;
    ``ExportError`` if a column the lines are keyed by is missing."""
    shape, columns = _shape(headers, shape=QUERY)
    return ExportFile(shape=shape, container="api", columns=columns, rows=rows)


def _shape(headers: list[str], *, shape: str = "") -> tuple[str, dict[str, str]]:
    by_lower = {h.strip().lower(): h for h in headers}
    if not shape:
        shape = FOCUS if "billedcost" in by_lower and "chargeperiodstart" in by_lower else COST_DETAILS
    columns = {}
    for name, spellings in _COLUMNS[shape].items():
        for spelling in spellings:
            if spelling in by_lower:
                columns[name] = by_lower[spelling]
                break
    missing = [name for name in _REQUIRED[shape] if name not in columns]
    if missing:
        kind = "Query API answer" if shape == QUERY else "cost details or FOCUS export"
        raise ExportError(
            f"not a Cost Management {kind}: no column for "
            + ", ".join(missing)
            + f" (header starts {', '.join(headers[:6])!s})"
        )
    return shape, columns


def _csv_rows(path: Path, *, gzipped: bool) -> tuple[list[str], Iterator[dict[str, Any]]]:
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115 (closed by the iterator)
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        headers = next(reader)
    except StopIteration:
        text.close()
        raise ExportError("empty file") from None
    except (UnicodeDecodeError, gzip.BadGzipFile, csv.Error) as error:
        text.close()
        raise ExportError(f"unreadable: {error}") from None

    def rows() -> Iterator[dict[str, Any]]:
        with text:
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(headers):
                    yield {"__error__": f"{len(values)} values for {len(headers)} columns", "__raw__": values}
                    continue
                yield dict(zip(headers, values, strict=True))

    return headers, rows()


def _parquet_rows(path: Path) -> tuple[list[str], Iterator[dict[str, Any]]]:
    import pyarrow.parquet as pq  # only Parquet files need it

    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several kinds for a damaged file
        raise ExportError(f"unreadable Parquet: {error}") from None
    headers = list(parquet.schema_arrow.names)

    def rows() -> Iterator[dict[str, Any]]:
        for batch in parquet.iter_batches(batch_size=10_000):
            yield from batch.to_pylist()

    return headers, rows()


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


_DATE_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")  # the Query API's UsageDate: 20260305


def date_parse(value: Any) -> dt.date:
    """``MM/DD/YYYY`` (MCA and EA exports), ISO dates and date-times (UTC), ``YYYYMMDD`` (the Query
    API, as text or a number), or date objects."""
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value.astimezone(dt.UTC) if value.tzinfo is not None else value
        return moment.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        value = int(value)
    raw = text(value)
    found = _DATE_COMPACT.fullmatch(raw)
    if found:
        try:
            return dt.date(*(int(g) for g in found.groups()))
        except ValueError:
            raise ValueError(f"not a date: {raw!r}") from None
    found = _DATE_US.fullmatch(raw.split(" ")[0])
    if found:
        month, day, year = (int(g) for g in found.groups())
        return dt.date(year, month, day)
    found = _DATE_ISO.match(raw)
    if found and (len(raw) == 10 or raw[10] in "T "):
        if len(raw) > 10 and re.search(r"[+-]\d{2}:?\d{2}$", raw):  # an offset: the UTC day
            return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(dt.UTC).date()
        return dt.date(*(int(g) for g in found.groups()))
    raise ValueError(f"not a date: {raw!r}")


def amount_parse(value: Any, *, required: bool = True) -> Decimal | None:
    """A decimal kept to 8 places (half to even); None for an empty optional cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError("empty")
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(text(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {text(value)[:40]!r}") from None
    if not number.is_finite() or abs(number) >= _MAX_AMOUNT:
        raise ValueError(f"out of range: {text(value)[:40]!r}")
    return number.quantize(_EIGHT_PLACES, rounding=ROUND_HALF_EVEN)


def row_get(row: Mapping[str, Any], columns: Mapping[str, str], name: str) -> Any:
    column = columns.get(name)
    return row.get(column) if column else None
