"""Prompt review: admin-defined flag rules, the flags found on requests, and the review queue."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Severity(models.IntegerChoices):
    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"
    CRITICAL = 4, "critical"


class FlagRule(models.Model):
    """A keyword list or a regular expression an admin wants flagged (validated on save)."""

    class Kind(models.TextChoices):
        KEYWORDS = "keywords", "Keyword list (one per line, case-insensitive, whole words)"
        REGEX = "regex", "Regular expression"

    class Scope(models.TextChoices):
        PROMPT = "prompt", "Prompt"
        COMPLETION = "completion", "Completion"
        BOTH = "both", "Prompt and completion"

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.KEYWORDS)
    pattern = models.TextField(help_text="Keywords one per line, or one regular expression.")
    case_sensitive = models.BooleanField(default=False)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.BOTH)
    severity = models.IntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    enabled = models.BooleanField(default=True)
    # Empty both = every request. Otherwise the rule applies to these subscriptions OR cost centers.
    subscriptions = models.JSONField(
        default=list, blank=True, help_text="APIM subscription ids (empty with no cost centers = all)."
    )
    cost_centers = models.ManyToManyField("usage.CostCenter", blank=True, related_name="flag_rules")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.clean()  # also from code and the shell, not only from forms
        super().save(*args, **kwargs)

    @property
    def source(self) -> str:
        return f"rule:{self.pk}"

    def clean(self) -> None:
        from audit.rules import rule_pattern_validate

        if not isinstance(self.subscriptions, list) or not all(
            isinstance(s, str) for s in self.subscriptions
        ):
            raise ValidationError({"subscriptions": "A list of APIM subscription ids."})
        try:
            rule_pattern_validate(kind=self.kind, pattern=self.pattern, case_sensitive=self.case_sensitive)
        except ValueError as exc:
            raise ValidationError({"pattern": str(exc)}) from exc


class Flag(models.Model):
    """One rule or detector that matched one request, with the matched spans (offsets only, no text)."""

    # No database constraint: on PostgreSQL the request table is partitioned by month and its key is
    # (id, time), which a foreign key on ``id`` alone cannot reference. Django still cascades
    # deletes; request retention (usage.retention) deletes flags itself before dropping a month.
    request = models.ForeignKey(
        "usage.GatewayRequest", on_delete=models.CASCADE, related_name="flags", db_constraint=False
    )
    rule = models.ForeignKey(FlagRule, null=True, blank=True, on_delete=models.CASCADE, related_name="flags")
    # "rule:<id>" or "detector:<name>": what produced it (unique per request).
    source = models.CharField(max_length=64)
    name = models.CharField(max_length=128, help_text="Detector or rule name, as shown to reviewers.")
    severity = models.IntegerField(choices=Severity.choices)
    # [{"part": "prompt"|"completion", "message": i, "start": s, "end": e, "label": "..."}]
    spans = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "source"], name="flag_request_source_unique")
        ]
        ordering = ["-severity", "name"]

    def __str__(self) -> str:
        return f"{self.name} on {self.request_id}"


class ReviewItem(models.Model):
    """One per flagged request: the reviewer's work on it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_REVIEW = "in_review", "In review"
        DISMISSED = "dismissed", "Dismissed"
        CONFIRMED = "confirmed", "Confirmed"
        ESCALATED = "escalated", "Escalated"

    # No database constraint, like Flag.request (partitioned request table).
    request = models.OneToOneField(
        "usage.GatewayRequest", on_delete=models.CASCADE, related_name="review", db_constraint=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    # The worst severity of the request's flags (kept in step by flags_evaluate).
    severity = models.IntegerField(choices=Severity.choices, default=Severity.LOW, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="review_items",
    )
    note = models.TextField(blank=True)
    # Confirmed / escalated items keep their text past retention until an admin releases them.
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Copies of the request's time, subscription and product (set by flags_evaluate): the queue
    # filters and sorts on them without joining the partitioned request table, where a lookup by
    # id alone probes every partition.
    request_time = models.DateTimeField()
    apim_subscription_id = models.CharField(max_length=256, blank=True)
    product_id = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The queue's orders (audit.selectors.QUEUE_ORDERS) and its subscription filter.
            models.Index(fields=["request_time", "id"], name="audit_review_time_idx"),
            models.Index(fields=["-severity", "request_time", "id"], name="audit_review_sev_age_idx"),
            models.Index(
                fields=["apim_subscription_id", "request_time", "id"], name="audit_review_sub_time_idx"
            ),
            # A cost center's queue (its products) and its count, without reading every item.
            models.Index(fields=["product_id", "status"], name="audit_review_product_idx"),
        ]

    def __str__(self) -> str:
        return f"review of {self.request_id} ({self.status})"


class ReviewEvent(models.Model):
    """History of a review item: every change, who made it and why. Append-only."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=256, blank=True)
    action = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.username} {self.action}"
