"""``import_costs``: cost details (EA, MCA) and FOCUS exports, as CSV, gzip and Parquet."""

import csv
import gzip
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from costs.models import CostImport, CostLine, CostRejectedLine
from costs.services import AMORTIZED, cost_file_import

AOAI = "/subscriptions/0000/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai-sweden"
STORAGE = "/subscriptions/0000/resourceGroups/rg-ai/providers/Microsoft.Storage/storageAccounts/logs"
APIM = "/subscriptions/0000/resourceGroups/rg-ai/providers/Microsoft.ApiManagement/service/gateway"

EA = [
    "InvoiceSectionName", "BillingPeriodStartDate", "BillingPeriodEndDate", "Date", "ResourceId",
    "MeterCategory", "MeterSubCategory", "MeterName", "MeterId", "Quantity", "UnitOfMeasure",
    "EffectivePrice", "CostInBillingCurrency", "BillingCurrency", "ChargeType", "PricingModel",
    "ConsumedService", "Tags",
]  # fmt: skip
MCA = [name[0].lower() + name[1:] for name in EA]
FOCUS = [
    "BilledCost", "BillingCurrency", "BillingPeriodStart", "ChargeCategory", "ChargePeriodStart",
    "ChargePeriodEnd", "ConsumedQuantity", "ConsumedUnit", "EffectiveCost", "ListCost", "PricingCategory",
    "ResourceId", "ResourceName", "ServiceName", "x_SkuMeterCategory", "x_SkuMeterSubcategory",
    "x_SkuMeterName", "x_PricingUnitDescription", "x_ResourceType",
]  # fmt: skip


def ea_row(day, meter, cost, *, resource=AOAI, category="Foundry Models", sub="Azure OpenAI", quantity="10",
           charge="Usage", tags=""):  # fmt: skip
    return [
        "AI", "03/01/2026", "03/31/2026", day, resource, category, sub, meter, "m-1", quantity, "1K",
        "0.0025", cost, "USD", charge, "OnDemand", "Microsoft.CognitiveServices", tags,
    ]  # fmt: skip


def focus_row(day, meter, billed, effective, *, resource=AOAI, category="Foundry Models", charge="Usage"):
    sub = "Azure OpenAI" if category == "Foundry Models" else ""
    resource_type = "/".join(resource.lower().split("/providers/")[1].split("/")[:2])
    return [
        billed, "USD", "2026-03-01T00:00:00Z", charge, f"{day}T00:00:00Z", f"{day}T00:00:00Z", "10", "1K",
        effective, billed, "Standard", resource, "aoai-sweden", "Azure OpenAI", category, sub,
        meter, "1K", resource_type,
    ]  # fmt: skip


def write_csv(path: Path, header, rows, *, bom=True, gz=False) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = (("\ufeff" if bom else "") + buffer.getvalue()).encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_parquet(path: Path, header, rows) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    pq.write_table(pa.table(columns), path)
    return path


MARCH = [
    ea_row("03/05/2026", "gpt 4o 1120 Inp glbl Tokens", "12.50"),
    ea_row("03/05/2026", "gpt 4o 1120 Outp glbl Tokens", "40.00"),
    # The same key split by tags: added together.
    ea_row("03/05/2026", "gpt 4o 1120 cached Inp glbl Tokens", "1.25", tags='{"team":"a"}'),
    ea_row("03/05/2026", "gpt 4o 1120 cached Inp glbl Tokens", "0.75", tags='{"team":"b"}'),
    ea_row("03/05/2026", "Hot LRS Write Operations", "0.10", resource=STORAGE, category="Storage", sub="Tiered Block Blob"),
    ea_row("03/05/2026", "Developer Unit", "1.60", resource=APIM, category="API Management", sub=""),
    ea_row("03/05/2026", "S1 Transactions", "0.30", category="Cognitive Services", sub="Speech"),
    ea_row("not a date", "gpt 4o 1120 Inp glbl Tokens", "1.00"),
    ea_row("03/06/2026", "gpt 4o 1120 Inp glbl Tokens", "twelve"),
]  # fmt: skip


def test_a_cost_details_export_is_kept_for_azure_openai_only_and_every_line_accounted(db, tmp_path):
    path = write_csv(tmp_path / "ea.csv", EA, MARCH)
    result = cost_file_import(path=path)
    assert result.error == ""
    assert result.file_format == "cost-details.csv"
    assert (result.read, result.stored, result.updated, result.unchanged, result.ignored, result.rejected) == (
        9, 5, 0, 0, 2, 2
    )  # fmt: skip
    assert result.accounted
    assert result.lines == 4  # the two tagged lines are one invoice line
    lines = {line.meter_name: line for line in CostLine.objects.all()}
    assert lines["gpt 4o 1120 cached Inp glbl Tokens"].billed_cost == Decimal("2.00")
    assert lines["gpt 4o 1120 cached Inp glbl Tokens"].quantity == Decimal("20")
    assert lines["gpt 4o 1120 Inp glbl Tokens"].effective_cost is None
    assert lines["gpt 4o 1120 Inp glbl Tokens"].resource_id == AOAI.lower()
    assert str(lines["gpt 4o 1120 Inp glbl Tokens"].date) == "2026-03-05"
    # Speech on an AI services account is a Cognitive Services line: kept (its meter is for admins).
    assert "S1 Transactions" in lines
    reasons = sorted(CostRejectedLine.objects.values_list("reason", flat=True))
    assert reasons == ["CostInBillingCurrency: not a number: 'twelve'", "Date: not a date: 'not a date'"]
    record = CostImport.objects.get()
    assert (record.read, record.stored, record.ignored, record.rejected) == (9, 5, 2, 2)


def test_importing_twice_changes_nothing(db, tmp_path):
    path = write_csv(tmp_path / "ea.csv", EA, MARCH)
    cost_file_import(path=path)
    before = list(CostLine.objects.order_by("key").values())
    again = cost_file_import(path=path)
    assert (again.stored, again.updated, again.unchanged, again.ignored, again.rejected) == (0, 0, 5, 2, 2)
    assert list(CostLine.objects.order_by("key").values()) == before
    assert CostRejectedLine.objects.count() == 2


def test_an_overlapping_later_export_adds_new_days_and_corrects_changed_amounts(db, tmp_path):
    first = write_csv(tmp_path / "month-to-date-1.csv", EA, MARCH[:3])
    cost_file_import(path=first)
    later = write_csv(
        tmp_path / "month-to-date-2.csv",
        EA,
        [
            ea_row("03/05/2026", "gpt 4o 1120 Inp glbl Tokens", "12.50"),  # same
            ea_row("03/05/2026", "gpt 4o 1120 Outp glbl Tokens", "41.00"),  # corrected by Azure
            ea_row("03/06/2026", "gpt 4o 1120 Inp glbl Tokens", "3.00"),  # a new day
        ],
    )
    result = cost_file_import(path=later)
    assert (result.stored, result.updated, result.unchanged) == (1, 1, 1)
    out = CostLine.objects.get(meter_name="gpt 4o 1120 Outp glbl Tokens")
    assert out.billed_cost == Decimal("41.00")
    # A line the later export no longer lists is kept: exports overlap, they do not replace.
    assert CostLine.objects.filter(meter_name="gpt 4o 1120 cached Inp glbl Tokens").exists()
    assert CostLine.objects.count() == 4


def test_mca_spellings_iso_dates_and_no_bom_read_the_same(db, tmp_path):
    rows = [ea_row("2026-03-05", "gpt 4o 1120 Inp glbl Tokens", "12.50")]
    rows[0][1] = "2026-03-01"
    result = cost_file_import(path=write_csv(tmp_path / "mca.csv", MCA, rows, bom=False))
    assert (result.read, result.stored) == (1, 1)
    ea = cost_file_import(path=write_csv(tmp_path / "ea.csv", EA, [ea_row("03/05/2026", "gpt 4o 1120 Inp glbl Tokens", "12.50")]))
    assert (ea.stored, ea.unchanged) == (0, 1)  # the same key


def test_an_amortized_export_fills_the_effective_cost_of_the_same_lines(db, tmp_path):
    rows = [ea_row("03/05/2026", "gpt 4o 1120 Inp glbl Tokens", "12.50")]
    cost_file_import(path=write_csv(tmp_path / "actual.csv", EA, rows))
    rows[0][12] = "10.00"
    result = cost_file_import(path=write_csv(tmp_path / "amortized.csv", EA, rows), dataset=AMORTIZED)
    assert result.updated == 1
    line = CostLine.objects.get()
    assert (line.billed_cost, line.effective_cost, line.amount) == (Decimal("12.50"), Decimal("10.00"), Decimal("10.00"))
    # The actual export again keeps the amortized figure.
    rows[0][12] = "12.50"
    assert cost_file_import(path=write_csv(tmp_path / "actual.csv", EA, rows)).unchanged == 1


FOCUS_ROWS = [
    focus_row("2026-03-05", "gpt 4o 1120 Inp glbl Tokens", "12.50", "11.25"),
    focus_row("2026-03-05", "gpt 4o 1120 Outp glbl Tokens", "40.00", "36.00"),
    focus_row("2026-03-05", "Hot LRS Write Operations", "0.10", "0.10", resource=STORAGE, category="Storage"),
]


@pytest.mark.parametrize("container", ["csv", "gz", "parquet"])
def test_focus_exports_in_every_container(db, tmp_path, container):
    rows = FOCUS_ROWS
    if container == "parquet":
        path = write_parquet(tmp_path / "focus.parquet", FOCUS, rows)
    else:
        path = write_csv(tmp_path / "part_0_0001.csv", FOCUS, rows, gz=container == "gz")  # name says nothing
    result = cost_file_import(path=path)
    assert result.file_format == f"focus.{container}"
    assert (result.read, result.stored, result.ignored, result.rejected) == (3, 2, 1, 0)
    line = CostLine.objects.get(meter_name="gpt 4o 1120 Inp glbl Tokens")
    assert (line.billed_cost, line.effective_cost) == (Decimal("12.50"), Decimal("11.25"))
    assert str(line.billing_period) == "2026-03-01"


@pytest.mark.parametrize("container", ["gz", "parquet"])
def test_cost_details_as_gzip_and_parquet(db, tmp_path, container):
    rows = MARCH[:2]
    if container == "parquet":
        path = write_parquet(tmp_path / "cost.parquet", EA, rows)
    else:
        path = write_csv(tmp_path / "cost.csv.gz", EA, rows, gz=True)
    result = cost_file_import(path=path)
    assert (result.file_format, result.stored) == (f"cost-details.{container}", 2)


def test_a_focus_line_without_billed_cost_is_rejected(db, tmp_path):
    row = focus_row("2026-03-05", "gpt 4o 1120 Inp glbl Tokens", "", "1")
    result = cost_file_import(path=write_csv(tmp_path / "focus.csv", FOCUS, [row]))
    assert result.rejected == 1
    assert CostRejectedLine.objects.get().reason == "BilledCost: empty"


def test_the_command_reports_every_line_and_fails_on_files_it_cannot_read(db, tmp_path, capsys):
    write_csv(tmp_path / "ea.csv", EA, MARCH)
    (tmp_path / "notes.txt").write_text("hello,world\n1,2\n")
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command("import_costs", str(tmp_path), "--no-progress")
    out, err = capsys.readouterr()
    assert "9 lines read = 5 stored + 0 updated + 0 unchanged + 2 ignored (not Azure OpenAI) + 2 rejected" in out
    assert "notes.txt: not a Cost Management cost details or FOCUS export" in err
    call_command("import_costs", str(tmp_path / "ea.csv"), "--no-progress")
    assert "0 stored + 0 updated + 5 unchanged" in capsys.readouterr().out


def test_a_line_with_too_few_values_is_rejected_not_dropped(db, tmp_path):
    path = tmp_path / "short.csv"
    write_csv(path, EA, MARCH[:1])
    path.write_bytes(path.read_bytes() + b"AI,03/01/2026\r\n")
    result = cost_file_import(path=path)
    assert (result.read, result.stored, result.rejected) == (2, 1, 1)
    assert CostRejectedLine.objects.get().reason == "2 values for 18 columns"
