"""Cells of every CSV and XLSX export, written so that no spreadsheet runs them.

Cost-center names, subscription ids and deployment names come from callers (a deployment name is
part of the URL path any API caller chooses) and filters come from the export URL. A spreadsheet
reads a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a
formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``), so every text cell goes through
``export_cell`` (OWASP "CSV injection": prefix such cells with ``'``). Numbers stay numbers.

In XLSX, openpyxl stores any str starting with ``=`` as a formula: ``xlsx_row_append`` writes
text cells with the explicit string type, so no text cell is ever a formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import TYPE_STRING
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_cell(value: Any) -> Any:
    """A cell as exports write it: text that a spreadsheet would read as a formula gets a leading
    ``'``; numbers, dates and empty cells are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_row(values: Iterable[Any]) -> list[Any]:
    """``export_cell`` of each value of a row."""
    return [export_cell(value) for value in values]


def xlsx_row_append(sheet: Worksheet, values: Iterable[Any]) -> int:
    """Append one row of neutralised cells to ``sheet``, text cells typed as strings (never
    formulas); returns the row's number."""
    row = export_row(values)
    sheet.append(row)
    number = sheet.max_row
    for column, value in enumerate(row, start=1):
        if isinstance(value, str):
            cell = sheet.cell(row=number, column=column)
            cell.value = value
            cell.data_type = TYPE_STRING
    return number
