"""The lines the Cost Management emulator (``costs.emulator``) serves: ``CostRecord`` (one usage
line of one day, in its actual and amortized costs), ``cost_records_generate`` (a span of them for
two Azure OpenAI accounts, a reservation and a storage line) and ``export_write`` (the same lines as a
cost details export), so a pull and a file import of the same lines can be compared.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ACTUAL_COST = "ActualCost"
AMORTIZED_COST = "AmortizedCost"


@dataclass
class CostRecord:
    """One usage line of one day; ``actual_cost`` / ``amortized_cost`` None: not in that dataset."""

    date: dt.date
    resource_id: str
    meter: str
    meter_category: str
    meter_subcategory: str
    quantity: Decimal
    actual_cost: Decimal | None
    amortized_cost: Decimal | None
    charge_type: str = "Usage"
    pricing_model: str = "OnDemand"
    unit: str = "1K"
    meter_id: str = ""
    currency: str = "USD"
    service_name: str = "Foundry Models"
    location: str = "swedencentral"

    def cost(self, query_type: str) -> Decimal | None:
        return self.amortized_cost if query_type == AMORTIZED_COST else self.actual_cost

    def dimension(self, name: str) -> str:
        """The value of a Query API dimension (its name compared case-insensitively)."""
        parts = self.resource_id.split("/")
        values = {
            "resourceid": self.resource_id.lower(),  # as the service answers it
            "resourcetype": "/".join(self.resource_id.lower().split("/providers/")[-1].split("/")[:2]),
            "resourcegroupname": parts[4] if len(parts) > 4 else "",
            "subscriptionid": parts[2] if len(parts) > 2 else "",
            "resourcelocation": self.location,
            "servicename": self.service_name,
            "meter": self.meter,
            "meterid": self.meter_id,
            "metercategory": self.meter_category,
            "metersubcategory": self.meter_subcategory,
            "chargetype": self.charge_type,
            "pricingmodel": self.pricing_model,
        }
        return values[name.lower()]


# --- generated lines ----------------------------------------------------------------------------

ACCOUNT = "/subscriptions/{sub}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/{name}"
STORAGE = "/subscriptions/{sub}/resourceGroups/rg-ai/providers/Microsoft.Storage/storageAccounts/aoailogs"
_TOKEN_METERS = (
    ("gpt-4o-0806-Inp-glbl Tokens", "0.0025"),
    ("gpt 4o 0806 cached Inp glbl Tokens", "0.00125"),
    ("gpt-4o-0806-Outp-glbl Tokens", "0.01"),
    ("gpt-4o-mini-0718-Inp-regnl Tokens", "0.000165"),
    ("gpt-4o-mini-0718-Outp-regnl Tokens", "0.00066"),
)
_EIGHT = Decimal("0.00000001")


def cost_records_generate(
    *,
    start: dt.date,
    end: dt.date,
    subscription: str = "00000000-0000-0000-0000-000000000001",
    accounts: Iterable[str] = ("aoai-sweden", "aoai-eastus2"),
    discount: Decimal = Decimal("0.1"),
    seed: int = 7,
) -> list[CostRecord]:
    """Lines of ``[start, end]``: token meters per account and day at a ``discount`` off list, a
    PTU reservation bought on the first day (actual) and spread over the days (amortized), and a
    storage line the Azure OpenAI filter leaves out."""
    rng = random.Random(seed)
    names = list(accounts)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    records: list[CostRecord] = []
    reserved_account = ACCOUNT.format(sub=subscription, name=names[0])
    for day in days:
        for name in names:
            resource = ACCOUNT.format(sub=subscription, name=name)
            for meter, price in _TOKEN_METERS:
                quantity = Decimal(rng.randint(50, 5000))
                cost = (quantity * Decimal(price) * (1 - discount)).quantize(_EIGHT)
                records.append(
                    CostRecord(
                        date=day,
                        resource_id=resource,
                        meter=meter,
                        meter_category="Foundry Models",
                        meter_subcategory="Azure OpenAI",
                        quantity=quantity,
                        actual_cost=cost,
                        amortized_cost=cost,
                    )
                )
        hourly = Decimal("24")
        records.append(
            CostRecord(
                date=day,
                resource_id=reserved_account,
                meter="Provisioned Managed Global Unit",
                meter_category="Foundry Models",
                meter_subcategory="Azure OpenAI",
                quantity=hourly,
                actual_cost=Decimal(0),  # covered by the reservation: billed when it was bought
                amortized_cost=(hourly * Decimal("1.4")).quantize(_EIGHT),
                pricing_model="Reservation",
                unit="1 Hour",
            )
        )
        records.append(
            CostRecord(
                date=day,
                resource_id=STORAGE.format(sub=subscription),
                meter="Hot LRS Write Operations",
                meter_category="Storage",
                meter_subcategory="Tiered Block Blob",
                quantity=Decimal(rng.randint(1, 90)),
                actual_cost=Decimal("0.054"),
                amortized_cost=Decimal("0.054"),
                unit="10K",
                service_name="Storage",
            )
        )
    records.append(
        CostRecord(
            date=start,
            resource_id=reserved_account,
            meter="Provisioned Managed Global Unit",
            meter_category="Foundry Models",
            meter_subcategory="Azure OpenAI",
            quantity=Decimal(1),
            actual_cost=(Decimal("1.4") * 24 * len(days)).quantize(_EIGHT),
            amortized_cost=None,  # a purchase is spread over the usage in the amortized view
            charge_type="Purchase",
            pricing_model="Reservation",
            unit="1 Hour",
        )
    )
    return records


EXPORT_HEADER = [
    "BillingPeriodStartDate", "Date", "ResourceId", "MeterCategory", "MeterSubCategory", "MeterName",
    "MeterId", "Quantity", "UnitOfMeasure", "CostInBillingCurrency", "BillingCurrency", "ChargeType",
    "PricingModel", "ConsumedService",
]  # fmt: skip


def export_write(path: Path, records: Iterable[CostRecord], *, query_type: str = ACTUAL_COST) -> Path:
    """The records of one dataset as a cost details export (EA spelling, UTF-8 with a BOM)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(EXPORT_HEADER)
        for record in records:
            cost = record.cost(query_type)
            if cost is None:
                continue
            consumed = record.dimension("ResourceType").split("/")[0]
            writer.writerow(
                [
                    record.date.replace(day=1).strftime("%m/%d/%Y"),
                    record.date.strftime("%m/%d/%Y"),
                    record.resource_id,
                    record.meter_category,
                    record.meter_subcategory,
                    record.meter,
                    record.meter_id,
                    str(record.quantity),
                    record.unit,
                    str(cost),
                    record.currency,
                    record.charge_type,
                    record.pricing_model,
                    consumed,
                ]
            )
    return path
