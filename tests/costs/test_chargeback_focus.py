"""The chargeback as a FOCUS dataset (costs.focus): columns, sums, neutralised text, Parquet."""

import csv
import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from costs.focus import COLUMNS
from tests.support.true_up_data import march_build
from usage.models import NamedIdentity, NativeLog

pytestmark = pytest.mark.django_db
CSV_URL = "/chargeback/export.focus.csv?month=2026-03"
EVIL = '=HYPERLINK("http://x","y")'


def _csv(client) -> list[dict[str, str]]:
    response = client.get(CSV_URL)
    assert response.status_code == 200, response.content
    assert 'filename="aoai-chargeback-focus-2026-03.csv"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.splitlines()[0].split(",") == list(COLUMNS)
    return list(csv.DictReader(io.StringIO(text)))


def _sum(rows, column: str) -> Decimal:
    return sum((Decimal(row[column]) for row in rows), Decimal(0))


def test_focus_csv_rows_add_up_to_the_chargeback_and_the_invoice(client_for, finance_user):
    march_build(rnd_name=EVIL)
    client = client_for(finance_user)
    rows = _csv(client)
    api = client.get("/api/v1/chargeback?month=2026-03&group_by=subscription").json()
    assert _sum(rows, "ListCost") == Decimal(api["totals"]["cost"]) == Decimal("2.50")
    assert _sum(rows, "BilledCost") == Decimal(api["totals"]["invoiced_cost"]) == Decimal("154.00")
    assert _sum(rows, "EffectiveCost") == Decimal("154.00")
    for row in api["rows"]:
        mine = [r for r in rows if r["x_ApimSubscriptionId"] == row["group"]]
        assert _sum(mine, "BilledCost") == Decimal(row["invoiced_cost"])
    by_key = {(r["x_ApimSubscriptionId"], r["x_Model"], r["x_TokenKind"]): r for r in rows}
    sub_a_input = by_key[("sub-a", "gpt-4o", "input")]
    assert sub_a_input["BilledCost"] == "80.00000000" and sub_a_input["ConsumedQuantity"] == "4000"
    assert sub_a_input["ConsumedUnit"] == "Tokens" and sub_a_input["x_InvoiceStatus"] == "invoiced"
    assert sub_a_input["ChargePeriodStart"] == "2026-03-01T00:00:00Z"
    assert sub_a_input["ChargePeriodEnd"] == "2026-04-01T00:00:00Z"
    assert sub_a_input["ResourceName"] == "aoai-sweden" and sub_a_input["SubAccountId"] == "0000"
    assert sub_a_input["ServiceName"] == "Azure OpenAI" and sub_a_input["x_CostCenter"] == "RND"
    # Text that a spreadsheet would run is neutralised; numbers (a negative true-up too) stay numbers.
    assert sub_a_input["x_CostCenterName"] == "'" + EVIL
    assert by_key[("sub-b", "gpt-4o", "cached_input")]["x_TrueUp"].startswith("-")
    unallocated = [r for r in rows if r["x_ApimSubscriptionId"] == "(unallocated)"]
    assert _sum(unallocated, "BilledCost") == Decimal("24.00") and len(unallocated) == 2
    assert any("batch" in r["ChargeDescription"] for r in unallocated)


def test_before_any_export_the_billed_cost_is_the_computed_cost(client_for, finance_user):
    march_build(invoice=False)
    rows = _csv(client_for(finance_user))
    assert {r["x_InvoiceStatus"] for r in rows} == {"computed"}
    assert all(r["BilledCost"] == r["ListCost"] for r in rows)
    assert _sum(rows, "BilledCost") == Decimal("2.50")


def test_parquet_is_readable_and_typed(client_for, finance_user):
    march_build()
    NativeLog.objects.update(object_id="oid-1")
    NamedIdentity.objects.create(object_id="oid-1", display_name="@evil person")
    response = client_for(finance_user).get("/chargeback/export.focus.parquet?month=2026-03")
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert table.column_names == list(COLUMNS)
    assert sum(table.column("BilledCost").to_pylist()) == Decimal("154.00")
    assert str(table.schema.field("ChargePeriodStart").type) == "timestamp[us, tz=UTC]"


def test_persons_and_the_command(tmp_path, client_for, finance_user):
    from tests.support.costs_data import gateway_request

    march_build()
    gateway_request(subscription="sub-a", prompt=1, caller_object_id="oid-1")
    gateway_request(subscription="sub-b", prompt=1, native_resource_id="/subscriptions/x")
    NativeLog.objects.update(object_id="apim-managed-identity")  # not the caller: never a person
    NamedIdentity.objects.create(object_id="oid-1", display_name="@evil person")
    out = tmp_path / "focus.csv"
    call_command("export_focus", "--month", "2026-03", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["x_Person"] for r in rows if r["x_ApimSubscriptionId"] == "sub-a"} == {"'@evil person"}
    assert {r["x_Person"] for r in rows if r["x_ApimSubscriptionId"] == "sub-b"} == {""}
    call_command(
        "export_focus", "--month", "2026-03", "--format", "parquet", "--output", str(tmp_path / "f.parquet")
    )
    assert pq.read_table(tmp_path / "f.parquet").num_rows == len(rows)


def test_the_chargeback_page_links_the_focus_export(client_for, finance_user):
    html = client_for(finance_user).get("/chargeback/?month=2026-03").content.decode()
    assert "/chargeback/export.focus.csv?month=2026-03" in html


def test_focus_is_for_finance(client_for, django_user_model):
    user = django_user_model.objects.create_user(username="nobody")
    assert client_for(user).get(CSV_URL).status_code in (302, 403)
