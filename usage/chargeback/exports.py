"""CSV and XLSX of a chargeback report: the page's table, with the page's numbers.

Costs are written as decimals, never floats: ``cost`` rounded half-up to the cent exactly as the
page shows it, ``cost_exact`` with the 8 places accounting stores (rows add up to the total
exactly in ``cost_exact``). Each row states its currency.

Every cell goes through ``aoai_portal.exports`` (names and filters come from callers: no text
cell may be read as a formula).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font

from aoai_portal.exports import export_row, xlsx_row_append

from ..measures import CHARGEBACK_MEASURES
from .selectors.groups import ReportRow
from .selectors.lines import EXACT, Measures
from .selectors.people import UNIDENTIFIED
from .selectors.reports import Report
from .selectors.true_up import ReportInvoice, TrueUp, rows_with_invoice

_TOKEN_COLUMNS = tuple(name for name in CHARGEBACK_MEASURES if name != "cost")


def report_header(report: Report, invoice: ReportInvoice | None = None) -> list[str]:
    header = ["month", "line", "group", "label"]
    if report.group_by == "subscription":
        header.append("cost_center")
    if report.group_by == "cost_center":
        header.append("subscription_ids")
    if report.group_by == "deployment_model":
        header += ["deployment", "model"]
    if report.group_by == "person":
        header += ["object_id", "display_name", "kind"]
    header = [*header, *_TOKEN_COLUMNS, "cost", "cost_exact", "currency"]
    # Once an invoice is in: what Azure invoiced (exact, 8 places) and invoiced - cost_exact.
    return [*header, "invoiced_cost", "true_up"] if invoice is not None else header


def _cells(
    report: Report, line: str, row: ReportRow | None, measures: Measures,
    invoiced: Decimal | None = None, invoice: ReportInvoice | None = None,
) -> list:  # fmt: skip
    cells: list = [report.month.strftime("%Y-%m"), line]
    if row is None:
        cells += ["", "Total" if line == "total" else line.capitalize()]
    else:
        cells += [row.group, row.label]
    if report.group_by == "subscription":
        cells.append(row.cost_center or "" if row else "")
    if report.group_by == "cost_center":
        cells.append(" ".join(s or "(none)" for s in row.subscription_ids or []) if row else "")
    if report.group_by == "deployment_model":
        cells += [row.deployment or "", row.model or ""] if row else ["", ""]
    if report.group_by == "person":
        cells += _person_cells(row)
    cells += [getattr(measures, name) for name in _TOKEN_COLUMNS]
    cells = [*cells, measures.cost_cents, measures.cost_exact, report.currency]
    if invoice is not None:
        invoiced = invoiced or Decimal(0)
        cells += [invoiced.quantize(EXACT), (invoiced - measures.cost_exact).quantize(EXACT)]
    return cells


def _person_cells(row: ReportRow | None) -> list:
    """Object id, display name (empty when the People table does not know it) and kind."""
    if row is None or row.group == UNIDENTIFIED or row.group.startswith("("):
        return ["", "", ""]
    named = row.kind is not None
    return [row.group, row.label if named else "", row.kind or ""]


def _rows(
    report: Report, line: str, rows: list[ReportRow], true_up: TrueUp | None,
    invoice: ReportInvoice | None,
) -> list[list]:  # fmt: skip
    return [
        _cells(report, line, row, row.measures, invoiced, invoice)
        for row, invoiced in rows_with_invoice(rows, true_up)
    ]


def report_table(report: Report, invoice: ReportInvoice | None = None) -> list[list]:
    """The rows of an export: the groups, the total, and for closed months the adjustments.
    With an invoice, also the groups only it has and ``(unallocated)``."""
    table = _rows(report, "row", report.rows, invoice.rows if invoice else None, invoice)
    table.append(_cells(report, "total", None, report.totals, invoice.total if invoice else None, invoice))
    if report.is_closed:
        adjusted = invoice.adjustments if invoice else None
        table += _rows(report, "adjustment", report.adjustments, adjusted, invoice)
        table.append(
            _cells(
                report, "adjustment total", None, report.adjustment_totals,
                invoice.adjustment_total if invoice else None, invoice,
            )
        )  # fmt: skip
        table.append(
            _cells(
                report, "total including adjustments", None, report.effective_totals,
                invoice.total + invoice.adjustment_total if invoice else None, invoice,
            )
        )  # fmt: skip
    return table


def report_filename(report: Report, extension: str) -> str:
    parts = ["chargeback", report.month.strftime("%Y-%m"), report.group_by]
    filters = report.filters
    for value in (filters.cost_center, filters.subscription, filters.deployment, filters.model):
        if value:
            parts.append("".join(c if c.isalnum() or c in "-_." else "_" for c in value))
    return "-".join(parts) + "." + extension


def report_csv(report: Report, invoice: ReportInvoice | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(export_row(report_header(report, invoice)))
    for cells in report_table(report, invoice):
        # Neutralised before the decimals become text: a negative amount stays a number.
        writer.writerow([format(c, "f") if isinstance(c, Decimal) else c for c in export_row(cells)])
    return buffer.getvalue()


def report_xlsx(report: Report, invoice: ReportInvoice | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Chargeback"
    header = report_header(report, invoice)
    xlsx_row_append(sheet, header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    cost_column = header.index("cost") + 1
    for cells in report_table(report, invoice):
        row = xlsx_row_append(sheet, cells)
        sheet.cell(row=row, column=cost_column).number_format = "#,##0.00"
        sheet.cell(row=row, column=cost_column + 1).number_format = "0.00000000"
        for name in ("invoiced_cost", "true_up") if invoice is not None else ():
            sheet.cell(row=row, column=header.index(name) + 1).number_format = "0.00000000"
        if cells[1] != "row":
            for cell in sheet[row]:
                cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    about = workbook.create_sheet("About")
    filters = report.filters
    for key, value in (
        ("Month", report.month.strftime("%Y-%m")),
        ("Window (UTC)", f"[{report.begin.isoformat()}, {report.end.isoformat()})"),
        ("Grouped by", report.group_by),
        ("Cost center", filters.cost_center if filters.cost_center is not None else "all"),
        ("Subscription", filters.subscription if filters.subscription is not None else "all"),
        ("Deployment", filters.deployment if filters.deployment is not None else "all"),
        ("Model", filters.model if filters.model is not None else "all"),
        ("Currency", report.currency),
        (
            "Invoiced",
            "no cost export covers the month yet"
            if invoice is None
            else ("frozen at close; later exports are adjustments" if invoice.frozen else "latest exports"),
        ),
        (
            "Closed",
            f"{report.close.closed_at:%Y-%m-%d %H:%M} UTC by {report.close.closed_by_name}"
            if report.close
            else "no",
        ),
        ("Generated (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
    ):
        xlsx_row_append(about, [key, value])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
