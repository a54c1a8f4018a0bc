from django.db import models


class TokensPerMinuteHourly(models.Model):
    """Tokens per clock minute of one subscription, one row per hour: what the quota page reads.

    A tokens-per-minute limit is about single minutes, which no hourly sum can show, and the request
    table is far too big to bucket per minute on every page view. One row per (hour, subscription)
    keeps the peak of the hour and the total of every minute that had tokens, so "the peak of the
    month" is a MAX over ~720 rows per subscription and "the minutes above a limit" reads only
    the rows whose peak is above it. Maintained by ``usage.rollups.hourly.rollup_refresh_hours`` in the
    same transaction as UsageHourly (whole hours recomputed from GatewayRequest, so idempotent).
    Requests without a subscription are not kept (the quota page has no row for them).
    """

    hour = models.DateTimeField()
    apim_subscription_id = models.CharField(max_length=256)
    # The greatest non-empty product id seen in the hour ("" if none): APIM scopes a key to one
    # product, so normally the only one; the greatest is the quota page's tie-break.
    product_id = models.CharField(max_length=256, blank=True)
    # Most tokens in one clock minute of the hour, and that minute (the earliest if tied).
    peak_tokens = models.BigIntegerField(default=0)
    peak_minute = models.DateTimeField()
    # {minute of the hour ("0".."59"): tokens}, only minutes with tokens (sparse).
    tokens_by_minute = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "apim_subscription_id"], name="tpmhourly_unique_dims")
        ]
        # The unique key's index serves reads by hour range.
        indexes = [
            # Drift reads only the hours whose peak is above the lowest tolerated limit.
            models.Index(fields=["peak_tokens", "hour"], name="tpmhourly_peak_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.apim_subscription_id} peak {self.peak_tokens}"
