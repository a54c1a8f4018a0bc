"""Quota tiers, who is on which tier (with history), and the alerts already sent.

* ``QuotaTier``: the limits an admin sets (tokens per minute, monthly token quota, optional
  monthly cost budget, allowed deployments/models). APIM enforces them with the policy rendered by
  ``quotas.policy.tier_policy_render``.
* ``TierAssignment``: puts an APIM product or subscription on a tier for ``[valid_from, valid_to)``.
  A subscription's own assignment wins over its product's. Rows are closed, never deleted, so the
  history answers "which tier was this subscription on at 10:42 on the 3rd?".
* ``QuotaAlert``: one row per subscription, month, kind and threshold; its unique constraint is what
  makes an alert go out once per threshold per month.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


def names_parse(text: str) -> list[str]:
    """``"gpt-4o, gpt-4o-mini\\nada"`` -> ``["gpt-4o", "gpt-4o-mini", "ada"]`` (order kept, no duplicates)."""
    seen: list[str] = []
    for part in text.replace("\n", ",").split(","):
        name = part.strip()
        if name and name not in seen:
            seen.append(name)
    return seen


class PolicyFlavor(models.TextChoices):
    LLM = "llm-token-limit", "llm-token-limit (any LLM API)"
    AZURE_OPENAI = "azure-openai-token-limit", "azure-openai-token-limit (Azure OpenAI APIs)"


class QuotaTier(models.Model):
    name = models.CharField(max_length=64, unique=True)
    tokens_per_minute = models.PositiveBigIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Prompt + completion tokens per minute (APIM answers 429).",
    )
    monthly_token_quota = models.PositiveBigIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Tokens per calendar month, UTC (APIM answers 403 once it is used up).",
    )
    monthly_cost_budget = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Optional monthly budget in the portal currency; alerts only (APIM counts tokens, not money).",
    )
    allowed_deployments = models.TextField(
        blank=True, help_text="Deployment names, comma- or line-separated. Empty = every deployment."
    )
    allowed_models = models.TextField(
        blank=True, help_text="Model names, comma- or line-separated. Empty = every model."
    )
    effective_from = models.DateTimeField(
        default=timezone.now, help_text="The tier's limits apply to usage from this moment (UTC)."
    )
    policy_flavor = models.CharField(max_length=32, choices=PolicyFlavor.choices, default=PolicyFlavor.LLM)
    estimate_prompt_tokens = models.BooleanField(
        default=True, help_text="Let APIM estimate prompt tokens before calling the backend."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def deployment_list(self) -> list[str]:
        return names_parse(self.allowed_deployments)

    @property
    def model_list(self) -> list[str]:
        return names_parse(self.allowed_models)


class TierAssignment(models.Model):
    """An APIM product or subscription on a tier for ``[valid_from, valid_to)``; open-ended if no end."""

    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "APIM subscription"
        PRODUCT = "product", "APIM product"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(
        max_length=256, help_text="ApimSubscriptionId or ProductId, as in the gateway logs"
    )
    tier = models.ForeignKey(QuotaTier, on_delete=models.PROTECT, related_name="assignments")
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty = still in force.")
    note = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "key", "-valid_from"]
        indexes = [models.Index(fields=["kind", "key", "valid_from"], name="tierassign_lookup")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="tierassign_valid_range",
            )
        ]

    def __str__(self) -> str:
        end = f"{self.valid_to:%Y-%m-%d %H:%M}" if self.valid_to else "…"
        return f"{self.kind} {self.key} -> {self.tier} [{self.valid_from:%Y-%m-%d %H:%M}, {end})"

    def overlapping(self) -> models.QuerySet["TierAssignment"]:
        """Other assignments of the same product/subscription whose period overlaps this one."""
        others = TierAssignment.objects.filter(kind=self.kind, key=self.key).exclude(pk=self.pk)
        others = others.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=self.valid_from))
        if self.valid_to is not None:
            others = others.filter(valid_from__lt=self.valid_to)
        return others

    def clean(self) -> None:
        if self.valid_to is not None and self.valid_from is not None and self.valid_to <= self.valid_from:
            raise ValidationError({"valid_to": "The end must be after the start."})
        if self.kind and self.key and self.valid_from is not None:
            # An open assignment that started earlier is closed by quotas.services.tier_assign.
            clash = self.overlapping().exclude(valid_to__isnull=True, valid_from__lt=self.valid_from).first()
            if clash is not None:
                raise ValidationError(f"Overlaps the assignment {clash}. End or change that one first.")


class QuotaAlert(models.Model):
    """An alert for one subscription, month, kind and threshold; unique, so it goes out once."""

    class Kind(models.TextChoices):
        QUOTA = "quota", "Token quota"
        BUDGET = "budget", "Cost budget"

    apim_subscription_id = models.CharField(max_length=256)
    month = models.DateField(help_text="First day of the month (UTC)")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    threshold = models.PositiveSmallIntegerField(help_text="Percent: 80 or 100")
    tier_name = models.CharField(max_length=64, blank=True)
    used = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    limit = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # Null until one channel took it; a run retries rows that no channel took.
    sent_at = models.DateTimeField(null=True, blank=True)
    # "email", "webhook", "email+webhook", "none" (nothing configured) or "suppressed" (a higher
    # threshold crossed in the same run carried the message).
    channel = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "apim_subscription_id", "kind", "threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["apim_subscription_id", "month", "kind", "threshold"], name="quotaalert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.apim_subscription_id} {self.month:%Y-%m} {self.kind} {self.threshold}%"
