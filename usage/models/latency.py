from django.db import models


class LatencyDayDimensions(models.Model):
    """The day and dimensions of LatencyDaily, its spans and LatencySubscriptionDaily (declared
    before the measures, so their columns come first, as they always did)."""

    day = models.DateField()
    deployment = models.CharField(max_length=256, blank=True)
    model = models.CharField(max_length=128, blank=True)
    backend_region = models.CharField(max_length=128, blank=True)
    apim_region = models.CharField(max_length=128, blank=True)
    is_streaming = models.BooleanField(default=False)

    class Meta:
        abstract = True


class LatencyMeasures(models.Model):
    """What every daily latency rollup holds for its day (or span) and dimensions."""

    requests = models.BigIntegerField(default=0)
    throttled = models.BigIntegerField(default=0)  # HTTP 429
    errors = models.BigIntegerField(default=0)  # HTTP 5xx
    tps_completion_tokens = models.BigIntegerField(default=0)
    tps_backend_ms = models.FloatField(default=0)
    # Packed histograms (usage.rollups.histograms.histogram_pack).
    total_time_hist = models.BinaryField(default=b"")
    backend_time_hist = models.BinaryField(default=b"")
    native_duration_hist = models.BinaryField(default=b"")
    overhead_hist = models.BinaryField(default=b"")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    ratelimit_remaining_requests = models.BigIntegerField(null=True, blank=True)
    ratelimit_remaining_tokens = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class LatencyDayMeasures(LatencyDayDimensions, LatencyMeasures):
    """What the daily latency rollups share: the dimensions and the day's measures."""

    class Meta:
        abstract = True


class LatencyHours(models.Model):
    """The measures per hour of day that LatencyHourOfDay and LatencySubscriptionDaily keep."""

    # {hour of day: [requests, throttled (429), errors (5xx), tps completion tokens, tps backend ms,
    #                last seen (ISO) or null, rate-limit remaining requests, remaining tokens]}
    measures_by_hour = models.JSONField(default=dict)
    # Histograms per hour of day (usage.rollups.histograms.histograms_pack, keyed by hour).
    total_time_by_hour = models.BinaryField(default=b"")
    backend_time_by_hour = models.BinaryField(default=b"")
    native_duration_by_hour = models.BinaryField(default=b"")
    overhead_by_hour = models.BinaryField(default=b"")

    class Meta:
        abstract = True


class LatencyDaily(LatencyDayMeasures):
    """Daily latency rollup: what the latency pages read for whole-day ranges.

    UsageHourly is keyed by subscription, product and status class as well, so at moderate
    volumes it holds about as many rows as there are requests; reading a month of it cannot be
    fast. This table drops those dimensions (status classes become counts) and the hour (kept
    only per hour of day: a total-time histogram for the heatmap, the rest in
    ``measures_by_hour`` so a refresh can replace single hours), so a month is at most
    30 x deployments x regions x APIM regions x 2 rows. Derived from UsageHourly by
    ``usage.rollups.hourly.rollup_refresh_hours`` for every day whose hours it refreshed (during a long
    import, by ``usage.rollups.deferral.latency_pending_refresh`` once a minute; like every latency rollup).

    The histograms that pages read are packed (``usage.rollups.histograms.histogram_pack``): a month of
    rows merges with one integer addition per histogram instead of a JSON decode and a dict
    update per bucket.
    """

    # Total-time histogram per hour of day (usage.rollups.histograms.histograms_pack, keyed by hour) and
    # {hour of day: requests}, for the heatmap.
    total_time_by_hour = models.BinaryField(default=b"")
    requests_by_hour = models.JSONField(default=dict)
    # The other measures per hour of day, so a refresh can replace single hours and re-sum the
    # day (read by the rollup only; grouping by hour of day reads LatencyHourOfDay):
    # {hour: {"backend": hist, "native": hist, "overhead": hist, "throttled": n, "errors": n,
    #         "tps_tokens": n, "tps_ms": ms, "last_seen_at": iso, "rl_requests": n, "rl_tokens": n}}
    measures_by_hour = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "deployment", "model", "backend_region", "apim_region", "is_streaming"],
                name="latencydaily_unique_dims",
            )
        ]
        indexes = [models.Index(fields=["day"], name="latencydaily_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.deployment} {self.backend_region}"


class LatencyHourOfDayDimensions(LatencyHours):
    """What LatencyHourOfDay and its spans share: the day and the dimensions grouping by hour of
    day can filter on (all but the subscription), with the per-hour measures."""

    day = models.DateField()
    deployment = models.CharField(max_length=256, blank=True)
    model = models.CharField(max_length=128, blank=True)
    is_streaming = models.BooleanField(default=False)

    class Meta:
        abstract = True


class LatencyHourOfDay(LatencyHourOfDayDimensions):
    """Latency per hour of day without regions: what grouping by hour of day reads.

    One row per UTC day x deployment x model x streaming kind (the dimensions latency can be
    filtered by, except the subscription) holding that day's hours: a month is
    30 x deployments x 2 rows whatever the request volume, where LatencyDaily has regions x APIM
    regions rows a day and UsageHourly about one row per request at moderate volumes. Maintained
    with LatencyDaily by ``usage.rollups.hourly.rollup_refresh_hours`` (refreshed hours are replaced,
    the day's other hours kept).
    """

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "deployment", "model", "is_streaming"], name="latencyhourofday_unique_dims"
            )
        ]  # its index leads with the day: it serves the range reads too

    def __str__(self) -> str:
        return f"{self.day} {self.deployment}"


class LatencySubscriptionDaily(LatencyDayMeasures, LatencyHours):
    """Daily latency per APIM subscription: what the latency pages read when filtered to one
    subscription (whole days, or grouped by hour of day).

    One row per UTC day x subscription x deployment x model x backend region x APIM region x
    streaming kind. Day totals (packed histograms, counts) serve the table and trend; the same
    measures per hour of day (``measures_by_hour`` and the ``*_by_hour`` packed histograms, laid
    out as in LatencyHourOfDay) serve the heatmap and grouping by hour of day, and let a refresh
    replace single hours and re-sum the day. A month of one subscription is at most
    30 x deployments x regions x APIM regions x 2 rows whatever the request volume, where
    UsageHourly holds hours x product x status class rows more. Maintained with LatencyDaily by
    ``usage.rollups.hourly.rollup_refresh_hours``.
    """

    apim_subscription_id = models.CharField(max_length=256, blank=True)
    # {hour of day: requests}: the first of each hour's ``measures_by_hour``, kept apart because
    # the heatmap needs only these (decoding every hour's measures was a fifth of the page).
    requests_by_hour = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "apim_subscription_id",
                    "day",
                    "deployment",
                    "model",
                    "backend_region",
                    "apim_region",
                    "is_streaming",
                ],
                name="latencysubdaily_unique_dims",
            )
        ]  # its index leads with (subscription, day): the pages' reads
        indexes = [models.Index(fields=["day"], name="latencysubdaily_day")]  # the refresh's

    def __str__(self) -> str:
        return f"{self.day} {self.apim_subscription_id} {self.deployment} {self.backend_region}"


class LatencySubscriptionRegionDaily(LatencyMeasures, LatencyHours):
    """LatencySubscriptionDaily summed over deployments, models and APIM regions: one row per UTC
    day x subscription x backend region x streaming kind.

    What the latency page reads for one subscription over whole days when it groups by backend
    region or day and filters no deployment or model (its default view): the table, the trends,
    the heatmap and the line chart all key by backend region. A subscription's requests spread
    over more deployment, model and region combinations as its volume grows (and so do its
    LatencySubscriptionDaily rows); here a month
    is at most 30 x backend regions x 2 rows at any volume. Maintained with LatencySubscriptionDaily
    by ``usage.rollups.hourly.rollup_refresh_hours`` in the same way (refreshed hours replaced).
    """

    day = models.DateField()
    apim_subscription_id = models.CharField(max_length=256, blank=True)
    backend_region = models.CharField(max_length=128, blank=True)
    is_streaming = models.BooleanField(default=False)
    requests_by_hour = models.JSONField(default=dict)  # as LatencySubscriptionDaily's

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["apim_subscription_id", "day", "backend_region", "is_streaming"],
                name="latencysubregiondaily_unique",
            )
        ]  # its index leads with (subscription, day): the page's reads
        indexes = [models.Index(fields=["day"], name="latencysubregiondaily_day")]  # the refresh's

    def __str__(self) -> str:
        return f"{self.day} {self.apim_subscription_id} {self.backend_region}"


class LatencyDailySpan(LatencyDayMeasures):
    """LatencyDaily summed over an aligned span of 2, 4, ... 256 days (``usage.rollups.spans``): what
    latency pages read for long whole-day ranges without a subscription filter.

    A month of LatencyDaily is 30 rows per deployment, model, regions and streaming kind, each
    with 24 hours of heatmap histograms to add; the same month read as spans is ~7 rows per
    dimension (``usage.rollups.spans.spans_cover``), so a long range costs about what a week does. ``day``
    is the span's first day. Each span is the sum of its two halves (LatencyDaily rows for the
    2-day spans), re-summed by ``usage.rollups.hourly.rollup_refresh_hours`` whenever a day in it changes.
    Per-day views (the trend lines, grouping by day) still read LatencyDaily.
    """

    span_days = models.PositiveSmallIntegerField()
    # As in LatencyDaily: total-time histograms per hour of day (packed) and requests per hour.
    total_time_by_hour = models.BinaryField(default=b"")
    requests_by_hour = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "span_days",
                    "deployment",
                    "model",
                    "backend_region",
                    "apim_region",
                    "is_streaming",
                ],
                name="latencydailyspan_unique_dims",
            )
        ]  # its index leads with (day, span_days): the reads and the refresh

    def __str__(self) -> str:
        return f"{self.day} +{self.span_days}d {self.deployment} {self.backend_region}"


class LatencyHourOfDaySpan(LatencyHourOfDayDimensions):
    """LatencyHourOfDay summed over an aligned span of 2, 4, ... 256 days (``usage.rollups.spans``): what
    grouping by hour of day reads for whole-day ranges without a subscription filter.

    As LatencyDailySpan does for LatencyDaily: ``day`` is the span's first day, each span the sum
    of its two halves, re-summed by ``usage.rollups.hourly.rollup_refresh_hours`` whenever a day in it
    changes; a month reads ~7 rows per deployment, model and streaming kind instead of 30.
    """

    span_days = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "span_days", "deployment", "model", "is_streaming"],
                name="latencyhourofdayspan_unique_dims",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} +{self.span_days}d {self.deployment}"


class LatencyOperationDaily(models.Model):
    """Per UTC day, API operation, deployment, model and streaming kind: requests, 429s, 5xx and
    the total-time histogram, for the latency page's trends per API operation and per deployment.

    The other latency rollups are built from UsageHourly, which has no operation; this one is
    computed from the requests of the refreshed hours (``usage.rollups.latency_operations``),
    whenever the other latency rollups are. ``operation`` is APIM's ``OperationId``
    (``ChatCompletions_Create``), else the operation read from the URL (``chat``).
    ``hours`` keeps each hour's entry ({hour: [requests, throttled, errors, {bucket: count}]}),
    so refreshing an hour replaces that hour and keeps the rest of the day.
    """

    day = models.DateField()
    operation = models.CharField(max_length=256, blank=True)
    deployment = models.CharField(max_length=256, blank=True)
    model = models.CharField(max_length=128, blank=True)
    is_streaming = models.BooleanField(default=False)
    requests = models.BigIntegerField(default=0)
    throttled = models.BigIntegerField(default=0)  # HTTP 429
    errors = models.BigIntegerField(default=0)  # HTTP 5xx
    total_time_hist = models.JSONField(default=dict)  # the day's, {bucket index: count}
    hours = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "operation", "deployment", "model", "is_streaming"],
                name="latencyoperationdaily_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.operation} {self.deployment}"
