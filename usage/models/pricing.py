"""Prices: effective-dated per model (defaults from genai-prices, overrides by admins), the kind of
each deployment, and monthly provisioned-throughput (PTU) commitments.

Rows are never edited in place: a new price is a new row with a later ``effective_from``, so the
``price_version`` recorded on a request always names the row that produced its cost.
"""

from django.db import models


class DeploymentType(models.TextChoices):
    GLOBAL = "global", "Global"
    DATA_ZONE = "datazone", "Data Zone"
    REGIONAL = "regional", "Regional (Standard)"
    PROVISIONED = "provisioned", "Provisioned (PTU)"


class ModelPrice(models.Model):
    class Source(models.TextChoices):
        GENAI_PRICES = "genai-prices", "genai-prices (default)"
        AZURE_RETAIL = "azure-retail", "Azure Retail Prices API"
        ADMIN = "admin", "Admin override"

    model = models.CharField(
        max_length=128, help_text="Model name as Azure reports it, e.g. gpt-4o, gpt-35-turbo"
    )
    deployment = models.CharField(
        max_length=256, blank=True, help_text="Empty: every deployment of the model"
    )
    deployment_type = models.CharField(
        max_length=16, choices=DeploymentType.choices, default=DeploymentType.GLOBAL
    )
    model_version = models.CharField(
        max_length=32,
        blank=True,
        help_text="Empty: every version; else as Azure meters name it (1120 = the 2024-11-20 version)",
    )
    region = models.CharField(
        max_length=64, blank=True, help_text="Azure region name (eastus2); empty: every region"
    )
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateTimeField(help_text="UTC; requests at or after this moment use this price")
    input_per_1m = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    cached_input_per_1m = models.DecimalField(
        max_digits=18, decimal_places=8, null=True, blank=True, help_text="Empty: cached input costs as input"
    )
    output_per_1m = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    per_image = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    per_audio_minute = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ADMIN)
    source_version = models.CharField(
        max_length=64, blank=True, help_text="genai-prices version, or who set it"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "deployment", "deployment_type", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "model", "model_version", "deployment", "deployment_type", "region", "currency",
                    "effective_from", "source",
                ],
                name="modelprice_unique_version",
            )
        ]
        indexes = [models.Index(fields=["model", "effective_from"], name="modelprice_model_from")]

    def __str__(self) -> str:
        scope = f" @{self.deployment}" if self.deployment else ""
        return (
            f"{self.model}{scope} {self.deployment_type} from {self.effective_from:%Y-%m-%d} ({self.source})"
        )

    @property
    def version(self) -> str:
        """What requests record in ``price_version``."""
        return f"{self.source}#{self.pk}"


class Deployment(models.Model):
    """What kind of Azure OpenAI deployment a deployment name is (prices differ per type), and
    which model it serves when a request's logs do not say."""

    name = models.CharField(max_length=256, unique=True)
    deployment_type = models.CharField(
        max_length=16, choices=DeploymentType.choices, default=DeploymentType.GLOBAL
    )
    model = models.CharField(
        max_length=128,
        blank=True,
        help_text="Model behind this deployment, e.g. gpt-4o: requests whose logs name no model are "
        "shown and priced as it. Empty: the deployment's own name if that is a priced model's name.",
    )
    region = models.CharField(
        max_length=64,
        blank=True,
        help_text="Azure region name of the deployment (eastus2): picks Azure's regional list price",
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_deployment_type_display()})"


class ProvisionedCommitment(models.Model):
    """The monthly amount paid for a provisioned (PTU) deployment, shared out by tokens."""

    deployment = models.CharField(max_length=256)
    month = models.DateField(help_text="First day of the month (UTC)")
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "deployment"]
        constraints = [models.UniqueConstraint(fields=["deployment", "month"], name="ptu_commitment_unique")]

    def __str__(self) -> str:
        return f"{self.deployment} {self.month:%Y-%m}: {self.amount} {self.currency}"
