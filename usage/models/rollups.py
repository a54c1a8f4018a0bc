from django.db import models


class UsageRollup(models.Model):
    """What UsageHourly and UsageDaily share: the dimensions both keep and the usage measures.

    The measures are ``usage.measures.USAGE_MEASURES``, declared here in that order.
    """

    apim_subscription_id = models.CharField(max_length=256, blank=True)
    product_id = models.CharField(max_length=256, blank=True)
    deployment = models.CharField(max_length=256, blank=True)
    model = models.CharField(max_length=128, blank=True)

    requests = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    estimated_tokens = models.BigIntegerField(default=0)
    unpriced_tokens = models.BigIntegerField(default=0)
    images = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=8, default=0)

    class Meta:
        abstract = True


class UsageHourly(UsageRollup):
    """Hourly rollup of GatewayRequest: what every page and API endpoint reads.

    One row per hour and combination of the dimensions (below and in UsageRollup). Maintained by
    ``usage.rollups.hourly.rollup_refresh_hours``, which recomputes whole hours, so late rows and
    re-imports land in the right hour exactly once. Cost centers are resolved from the
    subscription/product at read time, so re-assigning a subscription needs no recompute.
    Kept for the months of ``PORTAL_HOURLY_ROLLUP_MONTHS`` only; older days are kept by day
    (``usage.rollups.horizon``).
    """

    hour = models.DateTimeField()
    backend_region = models.CharField(max_length=128, blank=True)
    apim_region = models.CharField(max_length=128, blank=True)
    is_streaming = models.BooleanField(default=False)
    status_class = models.CharField(max_length=8)  # 2xx, 4xx, 429, 5xx, unknown

    # Latency histograms: {bucket index: count} over usage.rollups.histograms buckets.
    total_time_hist = models.JSONField(default=dict)
    backend_time_hist = models.JSONField(default=dict)
    native_duration_hist = models.JSONField(default=dict)
    # Gateway overhead per request (total time minus backend time, at least 0), for requests
    # that have both times; its own histogram, since percentiles of a difference are not the
    # difference of percentiles.
    overhead_hist = models.JSONField(default=dict)
    # For tokens/second of non-streaming completions: completion tokens and backend ms summed
    # over successful non-streaming requests that have both.
    tps_completion_tokens = models.BigIntegerField(default=0)
    tps_backend_ms = models.FloatField(default=0)
    # Most recent rate-limit headroom seen in the hour (value at max time).
    last_seen_at = models.DateTimeField(null=True, blank=True)
    ratelimit_remaining_requests = models.BigIntegerField(null=True, blank=True)
    ratelimit_remaining_tokens = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "hour",
                    "apim_subscription_id",
                    "product_id",
                    "deployment",
                    "model",
                    "backend_region",
                    "apim_region",
                    "is_streaming",
                    "status_class",
                ],
                name="usagehourly_unique_dims",
            )
        ]
        indexes = [
            models.Index(fields=["hour"], name="usagehourly_hour"),
            # Pages filtered to one subscription or one deployment over a range.
            models.Index(fields=["apim_subscription_id", "hour"], name="usagehourly_sub_hour"),
            models.Index(fields=["deployment", "hour"], name="usagehourly_dep_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.apim_subscription_id} {self.model}"


class LatencyPendingHour(models.Model):
    """An hour whose UsageHourly rows changed while the latency rollups were deferred.

    Long imports (``usage.rollups.deferral.latency_rollups_deferred``) refresh the latency rollups of the
    hours they touched every minute instead of after every batch; each batch marks its hours here
    in its own transaction, so a worker killed before the refresh leaves them marked, and the next
    deferred run refreshes them first.
    """

    hour = models.DateTimeField(primary_key=True)

    def __str__(self) -> str:
        return self.hour.isoformat()
