"""What Azure billed for Azure OpenAI, as imported from Cost Management exports, and the admin
mappings that tie it to the portal's requests.

* ``CostLine``: one invoice line per (billing period, day, resource, meter, charge type, pricing
  model), summed over the export's lines with that key. ``billed_cost`` is the *actual* cost,
  ``effective_cost`` the *amortized* one (FOCUS carries both; a cost details export one of them).
* ``CostRejectedLine``: an export line that could not be read, kept with its reason.
* ``CostImport``: one imported file and how each of its lines was accounted.
* ``MeterMapping``: an admin's reading of a meter name, which wins over ``costs.meters``.
* ``AccountMapping``: an admin's link from an invoice ResourceId to the backend host requests use.
"""

from decimal import Decimal
from typing import Any

from django.db import models

from .meters import MeterDeployment, TokenKind


class CostImport(models.Model):
    file_name = models.CharField(max_length=512)
    file_format = models.CharField(max_length=32, blank=True)  # cost-details / focus, + csv / gz / parquet
    dataset = models.CharField(max_length=16, blank=True)  # actual / amortized / both (FOCUS)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # read = stored + updated + unchanged + ignored + rejected
    read = models.IntegerField(default=0)
    stored = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    ignored = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.started_at:%Y-%m-%d %H:%M})"


class CostLine(models.Model):
    # sha256 of the key fields (costs.services: billing period, date, resource, meter, charge type,
    # pricing model): a re-import finds its line by it.
    key = models.CharField(max_length=64, unique=True)
    billing_period = models.DateField(help_text="First day of the billing period")
    date = models.DateField(db_index=True, help_text="Usage day (UTC)")
    resource_id = models.TextField(help_text="Lower-case ARM resource id")
    meter_name = models.CharField(max_length=256)
    meter_id = models.CharField(max_length=64, blank=True)
    meter_category = models.CharField(max_length=128, blank=True)
    meter_subcategory = models.CharField(max_length=128, blank=True)
    charge_type = models.CharField(max_length=32, blank=True)
    pricing_model = models.CharField(max_length=32, blank=True)
    quantity = models.DecimalField(default=Decimal(0), max_digits=24, decimal_places=8)
    unit_of_measure = models.CharField(max_length=64, blank=True)
    billed_cost = models.DecimalField(null=True, blank=True, max_digits=24, decimal_places=8)
    effective_cost = models.DecimalField(null=True, blank=True, max_digits=24, decimal_places=8)
    currency = models.CharField(max_length=3, blank=True)
    source_format = models.CharField(max_length=16, blank=True)
    last_import = models.ForeignKey(CostImport, null=True, blank=True, on_delete=models.SET_NULL)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date", "resource_id", "meter_name"]

    def __str__(self) -> str:
        return f"{self.date} {self.meter_name} {self.amount} {self.currency}"

    @property
    def amount(self) -> Decimal:
        """What is allocated: the amortized cost when an export gave it, else the actual cost."""
        if self.effective_cost is not None:
            return self.effective_cost
        return self.billed_cost if self.billed_cost is not None else Decimal(0)


class CostRejectedLine(models.Model):
    """An export line that could not be read. Kept with its reason, never dropped."""

    source = models.CharField(max_length=32)  # file format
    file_name = models.CharField(max_length=512)
    line_number = models.IntegerField(default=0)
    reason = models.TextField()
    raw = models.TextField()
    # sha256 of source + raw: re-importing the same bad line does not store it twice.
    fingerprint = models.CharField(max_length=64, unique=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.file_name}:{self.line_number}: {self.reason[:60]}"


class MeterMapping(models.Model):
    meter_name = models.CharField(
        max_length=256, unique=True, help_text="As the export spells it; compared case-insensitively"
    )
    model = models.CharField(max_length=128, blank=True, help_text="As requests name it, e.g. gpt-4o")
    version = models.CharField(max_length=32, blank=True)
    kind = models.CharField(
        max_length=24, choices=[c for c in TokenKind.choices if c[0] != TokenKind.UNKNOWN]
    )
    deployment_type = models.CharField(max_length=16, choices=MeterDeployment.choices, blank=True)
    note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["meter_name"]

    def __str__(self) -> str:
        return f"{self.meter_name} -> {self.model} {self.kind}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.meter_name = " ".join(self.meter_name.split())
        super().save(*args, **kwargs)


class AccountMapping(models.Model):
    resource_id = models.CharField(
        max_length=512, unique=True, help_text="The invoice line's ResourceId (compared lower-case)"
    )
    backend_host = models.CharField(
        max_length=255, help_text="The host requests reach that account on, e.g. my-aoai.openai.azure.com"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["resource_id"]

    def __str__(self) -> str:
        return f"{self.resource_id} -> {self.backend_host}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.resource_id = self.resource_id.strip().lower()
        self.backend_host = self.backend_host.strip().lower()
        super().save(*args, **kwargs)
