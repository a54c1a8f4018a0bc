from django.db import models


class CostCenter(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=256)
    owner = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class CostCenterAssignment(models.Model):
    """Charges an APIM subscription or product to a cost center.

    A subscription's own assignment wins over its product's (see usage.chargeback selectors).
    """

    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "APIM subscription"
        PRODUCT = "product", "APIM product"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=256, help_text="ApimSubscriptionId or ProductId")
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="assignments")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="costcenter_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} -> {self.cost_center.code}"


class NamedIdentity(models.Model):
    """A display name for an Entra object id seen in native logs (a person or an app)."""

    object_id = models.CharField(max_length=128, unique=True)
    display_name = models.CharField(max_length=256)
    cost_center = models.ForeignKey(CostCenter, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name_plural = "named identities"

    def __str__(self) -> str:
        return f"{self.display_name} ({self.object_id})"
