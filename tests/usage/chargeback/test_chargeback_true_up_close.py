"""Invoiced figures on the chargeback page and in its exports, frozen at close; a cost export
arriving after the close is an adjustment, like late usage."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.support.chargeback_data import page_table
from tests.support.costs_data import cost_line, gateway_request
from tests.support.true_up_data import march_build
from usage.chargeback.services import chargeback_month_close
from usage.models import GatewayRequest, MonthClose
from usage.rollups.hourly import rollup_refresh_hours

pytestmark = pytest.mark.django_db


def _csv(client, query: str) -> list[dict]:
    response = client.get("/chargeback/export.csv?month=2026-03" + query)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def _api(client, group_by: str = "subscription") -> dict:
    return client.get(f"/api/v1/chargeback?month=2026-03&group_by={group_by}").json()


def test_page_and_exports_show_invoiced_beside_computed(client_for, finance_user):
    march_build()
    client = client_for(finance_user)
    html = client.get("/chargeback/?month=2026-03").content.decode()
    table = page_table(html, "chargeback-rows")
    assert {g: (row["cost"], row["invoiced_cost"], row["true_up"]) for g, row in table.items()} == {
        "RND": ("2.00", "90.00", "88.00"),
        "FIN": ("0.50", "40.00", "39.50"),
        "(unallocated)": ("0.00", "24.00", "24.00"),
        "(total)": ("2.50", "154.00", "151.50"),
    }
    # Drill-down into RND: its subscription's share only, no unallocated row.
    html = client.get("/chargeback/?month=2026-03&cost_center=RND").content.decode()
    table = page_table(html, "chargeback-rows")
    assert {g: row["invoiced_cost"] for g, row in table.items()} == {"sub-a": "90.00", "(total)": "90.00"}
    # sub-a's deployments: 90.00 by computed cost 1.50 : 0.50, even when filtered to one model.
    for query in ("&subscription=sub-a", "&subscription=sub-a&model=gpt-4o"):
        html = client.get("/chargeback/?month=2026-03&cost_center=RND" + query).content.decode()
        table = page_table(html, "chargeback-rows")
        assert {g: row["invoiced_cost"] for g, row in table.items()} == {
            "chat/gpt-4o": "67.50",
            "chat2/gpt-4o": "22.50",
            "(total)": "90.00",
        }

    rows = _csv(client, "")
    assert [(r["line"], r["group"], r["cost_exact"], r["invoiced_cost"], r["true_up"]) for r in rows] == [
        ("row", "RND", "2.00000000", "90.00000000", "88.00000000"),
        ("row", "FIN", "0.50000000", "40.00000000", "39.50000000"),
        ("row", "(unallocated)", "0.00000000", "24.00000000", "24.00000000"),
        ("total", "", "2.50000000", "154.00000000", "151.50000000"),
    ]
    workbook = load_workbook(io.BytesIO(client.get("/chargeback/export.xlsx?month=2026-03").content))
    sheet = workbook["Chargeback"]
    header = [cell.value for cell in sheet[1]]
    column = header.index("invoiced_cost")
    assert [float(row[column]) for row in sheet.iter_rows(min_row=2, values_only=True)] == [90, 40, 24, 154]


def test_exports_without_invoice_have_no_invoiced_columns(client_for, finance_user):
    march_build(invoice=False)
    rows = _csv(client_for(finance_user), "")
    assert "invoiced_cost" not in rows[0] and [r["group"] for r in rows] == ["RND", "FIN", ""]


def test_invoiced_rows_in_exports_keep_formulas_neutralised(client_for, finance_user):
    gateway_request(subscription='=HYPERLINK("http://x")', prompt=1000, cost="1.00")
    rollup_refresh_hours(hours={r.time for r in GatewayRequest.objects.all()})
    cost_line(billed_cost=Decimal("3.00"))
    rows = _csv(client_for(finance_user), "&cost_center=(none)")
    assert rows[0]["group"].startswith("'=") and rows[0]["invoiced_cost"] == "3.00000000"
    sheet = load_workbook(
        io.BytesIO(
            client_for(finance_user).get("/chargeback/export.xlsx?month=2026-03&cost_center=(none)").content
        )
    )["Chargeback"]
    assert not str(sheet["C2"].value).startswith("=")


def test_close_freezes_the_invoice_and_a_later_export_is_an_adjustment(client_for, finance_user):
    march_build()
    client = client_for(finance_user)
    assert client.post("/chargeback/close/", {"month": "2026-03", "confirm": "yes"}).status_code == 302
    close = MonthClose.objects.get()
    assert close.snapshot["invoice"] == {
        "total": "154.00000000",
        "unallocated": "24.00000000",
        "by_subscription": {"sub-a": "90.00000000", "sub-b": "40.00000000"},
    }
    data = _api(client)
    assert data["closed"]["invoice_frozen"] is True and data["adjustments"] == []

    # A late export: the output meter restated (+6.00) and a new line of an unused account.
    cost_line(meter_name="gpt 4o 1120 Outp glbl Tokens", billed_cost=Decimal("6.00"))
    data = _api(client)
    assert data["totals"]["invoiced_cost"] == "154.00000000"  # frozen
    assert {r["group"]: r["invoiced_cost"] for r in data["rows"]} == {
        "sub-a": "90.00000000",
        "sub-b": "40.00000000",
        "(unallocated)": "24.00000000",
    }
    # 6.00 by completion tokens 100 : 200.
    assert {r["group"]: (r["cost"], r["invoiced_cost"]) for r in data["adjustments"]} == {
        "sub-a": ("0.00000000", "2.00000000"),
        "sub-b": ("0.00000000", "4.00000000"),
    }
    assert data["adjustment_totals"]["invoiced_cost"] == "6.00000000"

    html = client.get("/chargeback/?month=2026-03").content.decode()
    assert page_table(html, "chargeback-rows")["(total)"]["invoiced_cost"] == "154.00"
    adjustments = page_table(html, "chargeback-adjustments")
    assert {g: row["invoiced_cost"] for g, row in adjustments.items()} == {
        "RND": "2.00",
        "FIN": "4.00",
        "(total)": "6.00",
    }
    rows = _csv(client, "")
    assert [(r["line"], r["group"], r["invoiced_cost"]) for r in rows if "adjustment" in r["line"]] == [
        ("adjustment", "FIN", "4.00000000"),
        ("adjustment", "RND", "2.00000000"),
        ("adjustment total", "", "6.00000000"),
        ("total including adjustments", "", "160.00000000"),
    ]


def test_a_month_closed_before_any_export_gets_the_invoice_as_adjustment(client_for, finance_user):
    march_build(invoice=False)
    chargeback_month_close(month=dt.date(2026, 3, 1), user=finance_user, warnings_confirmed=True)
    assert MonthClose.objects.get().snapshot["invoice"] is None
    client = client_for(finance_user)
    assert _api(client)["totals"]["invoiced_cost"] is None
    cost_line(billed_cost=Decimal("10.00"))
    data = _api(client)
    assert data["closed"]["invoice_frozen"] is False
    assert data["totals"]["invoiced_cost"] == "0.00000000"
    # input 10.00 by uncached prompt 4000 : 1000.
    assert {r["group"]: r["invoiced_cost"] for r in data["adjustments"]} == {
        "sub-a": "8.00000000",
        "sub-b": "2.00000000",
    }
