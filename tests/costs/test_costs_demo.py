"""`manage.py demo` invoices its own traffic: a cost export derived from the stored requests (12% off
input tokens, an account no request went to, a storage and an APIM line) goes through the real
import, so the chargeback shows invoiced figures and the reconciliation page has a month at once."""

import csv
import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from costs.demo import UNMATCHED_ACCOUNT, demo_cost_export_write, demo_cost_rows
from costs.models import CostImport, CostLine
from costs.reconciliation import month_status
from tests.support.costs_data import gateway_request
from usage.accounting.price_defaults import prices_seed


def _months() -> list[dt.date]:
    return sorted({day.replace(day=1) for day in CostLine.objects.values_list("date", flat=True)})


@pytest.mark.django_db(transaction=True)
def test_the_demo_imports_an_invoice_of_its_traffic(settings, client_for, finance_user, tmp_path):
    settings.INGEST_WINDOW_SECONDS = 6 * 3600
    prices_seed()  # a transactional test run before this one flushed the migration's price rows
    out = StringIO()
    call_command("demo", "--days", "1", "--requests-per-hour", "6", "--no-serve", "--force", stdout=out)
    assert "imported:" in out.getvalue()

    record = CostImport.objects.get()
    days = CostLine.objects.values("date").distinct().count()
    assert record.rejected == 0 and record.ignored == 2 * days  # storage and APIM, every day
    assert CostLine.objects.filter(resource_id=UNMATCHED_ACCOUNT.lower()).count() == days
    # Every line's account is one the requests went to (or the unmatched one), in lower case.
    accounts = set(CostLine.objects.values_list("resource_id", flat=True))
    assert len(accounts) >= 2 and all(
        "/microsoft.cognitiveservices/accounts/aoai-contoso-" in a for a in accounts
    )

    client = client_for(finance_user)
    for month in _months():
        query = f"month={month:%Y-%m}"
        invoice = sum(
            (line.amount for line in CostLine.objects.filter(date__year=month.year, date__month=month.month)),
            Decimal(0),
        )
        for group_by in ("subscription", "cost_center", "model"):
            data = client.get(f"/api/v1/chargeback?{query}&group_by={group_by}").json()
            totals = data["totals"]
            assert totals["invoiced_cost"] is not None
            assert Decimal(totals["invoiced_cost"]) == invoice
            assert sum(Decimal(row["invoiced_cost"]) for row in data["rows"]) == invoice
            unallocated = {row["group"]: row for row in data["rows"]}["(unallocated)"]
            assert Decimal(unallocated["invoiced_cost"]) >= Decimal("3.30")  # the unmatched account
        reconciliation = client.get(f"/api/v1/reconciliation?{query}").json()
        last_day = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        covered = CostLine.objects.order_by("-date").values_list("date", flat=True)[0]
        assert reconciliation["status"] == ("complete" if covered >= last_day else "partial")
        assert reconciliation["status"] == month_status(month=month)[0]
        # The discount shows as a price difference on input (cheaper than computed), never on output.
        billed = [
            row
            for row in reconciliation["rows"]
            if row["on_invoice"] and row["account"] != UNMATCHED_ACCOUNT.lower()
        ]
        inputs = [row for row in billed if row["kind"] == "input"]
        assert inputs and sum(Decimal(row["explained"]["price"]) for row in inputs) < 0
        assert all(Decimal(row["invoiced_cost"]) <= Decimal(row["computed_cost"]) for row in inputs)
        assert all(Decimal(row["variance"]) == 0 for row in billed if row["kind"] == "output")


@pytest.mark.django_db
def test_the_export_bills_each_day_account_and_meter_input_at_a_discount(tmp_path):
    day = dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC)
    # No price row: the request's cost is split by token counts (800 / 200 / 500).
    for hours in (1, 2):
        gateway_request(
            subscription="sub-a",
            model="gpt-4o-2024-11-20",
            host="aoai-contoso-swc.openai.azure.com",
            prompt=500,
            cached=100,
            completion=250,
            cost="0.75",
            time=day - dt.timedelta(hours=hours),
        )
    gateway_request(subscription="sub-a", model="gpt-4o-mini", prompt=1000, completion=10, cost="1",
                    time=day + dt.timedelta(days=1), native_resource_id="/SUBSCRIPTIONS/X/providers/Microsoft.CognitiveServices/accounts/AOAI-X")  # fmt: skip
    rows = demo_cost_rows(until=day + dt.timedelta(days=2))
    billed = {(r["Date"], r["ResourceId"].rsplit("/", 1)[1], r["MeterName"]): (r["Quantity"], r["CostInBillingCurrency"])
              for r in rows}  # fmt: skip
    assert billed[("03/05/2026", "aoai-contoso-swc", "gpt 4o 1120 Inp glbl Tokens")] == (
        "0.80000000",
        "0.70400000",
    )
    assert billed[("03/05/2026", "aoai-contoso-swc", "gpt 4o 1120 cached Inp glbl Tokens")] == (
        "0.20000000",
        "0.20000000",
    )
    assert billed[("03/05/2026", "aoai-contoso-swc", "gpt 4o 1120 Outp glbl Tokens")] == (
        "0.50000000",
        "0.50000000",
    )
    assert billed[("03/06/2026", "aoai-x", "gpt-4o-mini-0718-Inp-glbl Tokens")][0] == "1.00000000"
    for date in ("03/05/2026", "03/06/2026"):  # the extra lines, every day
        assert billed[(date, "aoai-contoso-wus3", "gpt 4o 1120 Inp glbl Tokens")] == (
            "1500.00000000",
            "3.30000000",
        )
        assert (date, "stcontosologs", "Hot LRS Data Stored") in billed
        assert (date, "apim-contoso-ai", "Standard v2 Unit") in billed
    assert len(billed) == len(rows) == 3 + 2 + 3 * 2
    path = tmp_path / "export.csv"
    demo_cost_export_write(path=path, rows=rows)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        assert list(csv.DictReader(handle)) == rows
