from django.db import models

from .rollups import UsageRollup


class UsageDaily(UsageRollup):
    """Daily usage rollup: what the money pages (chargeback, quotas) read for whole days.

    UsageHourly is keyed by regions, streaming and status class as well, so at high density it
    holds about as many rows as there are requests. This table keeps only the dimensions
    chargeback and quotas group by (subscription, product, deployment, model) and turns the
    status class into 429 and 2xx counts. Maintained by ``usage.rollups.hourly.rollup_refresh_hours`` in the
    same transaction as UsageHourly: a refreshed hour takes its old hourly contribution out and
    puts its new one in, so the refresh stays idempotent and never reads the rest of the day.
    """

    day = models.DateField()
    throttled = models.BigIntegerField(default=0)  # HTTP 429
    succeeded = models.BigIntegerField(default=0)  # HTTP 2xx (the quota drift check counts these)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "apim_subscription_id", "product_id", "deployment", "model"],
                name="usagedaily_unique_dims",
            )
        ]
        indexes = [models.Index(fields=["day"], name="usagedaily_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.apim_subscription_id} {self.deployment}"
