from django.conf import settings
from django.db import models


class AccessAuditEntry(models.Model):
    """One look at prompt or completion text (or another audited action). Append-only."""

    class Action(models.TextChoices):
        VIEW_PROMPT = "view_prompt", "Viewed prompt/completion text"
        REVEAL_SECRET = "reveal_secret", "Revealed masked text"
        EXPORT = "export", "Exported data"
        PURGE = "purge", "Purged text (retention)"
        PURGE_REQUESTS = "purge_requests", "Purged requests (retention)"
        REOPEN_MONTH = "reopen_month", "Reopened a closed month"

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    # Kept as text too, so the record survives the user's deletion.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=256, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    ip_address = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-time"]
        verbose_name_plural = "access audit entries"

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.username} {self.action} {self.correlation_id}"
