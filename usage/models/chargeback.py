from typing import Any

from django.conf import settings
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

    A subscription's own assignment wins over its product's (see usage.chargeback.selectors.cost_centers).
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


class CostCenterOwner(models.Model):
    """Someone who may see one cost center's chargeback and quotas (with the ``budget_owner`` role).

    A user is named by username, e-mail or Entra object id; an Entra group by its object id, as
    the ``groups`` claim of the ID token carries it. Values are kept lower-case and compared so.
    Which cost centers a user sees is computed in ``usage.chargeback.scope``.
    """

    class Kind(models.TextChoices):
        USER = "user", "User (username, e-mail or Entra object id)"
        GROUP = "group", "Entra group (object id)"

    cost_center = models.ForeignKey(CostCenter, on_delete=models.CASCADE, related_name="owners")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.USER)
    value = models.CharField(max_length=256)

    class Meta:
        verbose_name = "budget owner"
        constraints = [
            models.UniqueConstraint(fields=["cost_center", "kind", "value"], name="costcenter_owner_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} owns {self.cost_center.code}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.value = self.value.strip().lower()
        super().save(*args, **kwargs)


class NamedIdentity(models.Model):
    """A person or an application known by its Entra object id (the People table).

    Filled from portal sign-ins, a CSV import, Microsoft Graph and the admin site; ``source``
    says which wrote it last. An object id with no row is shown as the id itself.
    """

    class Kind(models.TextChoices):
        USER = "user", "User"
        APPLICATION = "application", "Application"

    object_id = models.CharField(max_length=128, unique=True)
    display_name = models.CharField(max_length=256)
    email = models.CharField(max_length=256, blank=True)
    department = models.CharField(max_length=256, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.USER)
    cost_center = models.ForeignKey(CostCenter, null=True, blank=True, on_delete=models.SET_NULL)
    # "admin", "signin", "csv" or "graph".
    source = models.CharField(max_length=16, blank=True, default="admin")
    updated_at = models.DateTimeField(auto_now=True)
    # When Microsoft Graph was last asked about this id (found or not), so it is not asked again
    # on every pass.
    graph_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "person"
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return f"{self.display_name} ({self.object_id})"


class MonthClose(models.Model):
    """One close of one chargeback month, with the totals frozen at that moment.

    A month is closed while it has a row with ``reopened_at`` unset; reopening fills the
    ``reopened_*`` fields (the row stays as history) and closing again adds a new row. Usage that
    arrives after the close is shown as an adjustment (current minus ``snapshot``), never merged
    silently into the closed figures. See ``usage.chargeback.services``.
    """

    month = models.DateField(help_text="First day of the month (UTC)")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_by_name = models.CharField(max_length=256, blank=True)
    closed_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    # {"currency", "totals", "cost_centers", "subscriptions", "models", "assignments", "lines",
    # "invoice"}; amounts are decimal strings. "lines" hold the frozen figures per day and
    # dimensions; "invoice" the month's invoice per subscription at close (null before any export).
    snapshot = models.JSONField(default=dict)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reopened_by_name = models.CharField(max_length=256, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "-closed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["month"],
                condition=models.Q(reopened_at__isnull=True),
                name="monthclose_one_open_close_per_month",
            )
        ]

    def __str__(self) -> str:
        state = "reopened" if self.reopened_at else "closed"
        return f"{self.month:%Y-%m} {state} by {self.closed_by_name}"

    @property
    def is_active(self) -> bool:
        return self.reopened_at is None


class GatewayIdentity(models.Model):
    """An Entra object id that is an APIM instance's managed identity, not a caller.

    With APIM calling Azure OpenAI through its managed identity, the native log's ``objectId`` is
    this id on every request; ``usage.identity`` skips it and looks for the caller elsewhere.
    ``PORTAL_GATEWAY_IDENTITIES`` lists more, from the deployment's settings.
    """

    object_id = models.CharField(max_length=128, unique=True)
    note = models.CharField(max_length=256, blank=True, help_text="Which APIM instance, for example")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["object_id"]

    def __str__(self) -> str:
        return self.object_id
