"""Add new requests to the rollups of their hours without aggregating those hours again.

Ingestion writes requests that were not stored before and adds their own sums to the rollups in
the same transaction (``RollupDelta``, ``rollup_add``), which gives the same rows as
``usage.rollups.hourly.rollup_refresh_hours`` without aggregating the hours' requests again; a
re-import writes no request twice, so it adds nothing twice.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from aoai_portal.months import month_bounds

from ..db.bulk import rows_update
from ..measures import USAGE_MEASURES
from ..models import GatewayRequest, NativeLog, TokenSource, UsageDaily, UsageHourly
from ..models.requests import status_class
from .common import DIMENSIONS, TPS_OPERATIONS, rollup_lock
from .daily import daily_sums_of, usage_daily_apply
from .deferral import latency_hours_changed
from .histograms import bucket_index, histogram_merge_into
from .hourly import rollup_refresh_hours
from .hourly_prune import delta_past_horizon_take
from .latency_operations import OperationEntries, latency_operations_add, operation_entries_add
from .tokens_per_minute import tokens_per_minute_add

# UsageHourly fields a batch of new requests adds to (all but the key and the latest headroom).
_HOURLY_SUMS = (*USAGE_MEASURES, "tps_completion_tokens", "tps_backend_ms")
_HOURLY_HISTOGRAMS = ("total_time_hist", "backend_time_hist", "native_duration_hist", "overhead_hist")
_HOURLY_MEASURES = (
    *_HOURLY_SUMS,
    *_HOURLY_HISTOGRAMS,
    "last_seen_at",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
)


class RollupDelta:
    """What new requests add to the hourly rollups, summed in Python as they are written.

    ``add`` takes requests as written (primary keys set) and the durations of their native
    partners; ``rollup_add`` adds the sums to the stored rollups. The same numbers as
    ``usage.rollups.hourly`` computes over those requests (its SQL and this code are twins:
    status class, bucket index, TPS condition, the latest headroom by time then id), without
    reading them back; the sums are bounded by the rollup keys touched, not by the requests.
    """

    def __init__(self) -> None:
        self.hourly: dict[tuple, UsageHourly] = {}
        self.latest: dict[tuple, tuple] = {}  # key -> (time, id) of the row its headroom came from
        # (hour, subscription) -> {minute: [tokens, greatest product]} for TokensPerMinuteHourly.
        self.minutes: dict[tuple, dict[datetime, list]] = {}
        self.operations: OperationEntries = {}  # for LatencyOperationDaily

    def add(self, requests: Iterable[GatewayRequest], native_durations: Mapping[str, float | None]) -> None:
        for request in requests:
            moment = request.time.astimezone(UTC)
            hour = moment.replace(minute=0, second=0, microsecond=0)
            key = (hour, status_class(request.response_code), *(getattr(request, d) for d in DIMENSIONS))
            rollup = self.hourly.get(key)
            if rollup is None:
                rollup = self.hourly[key] = UsageHourly(
                    hour=hour,
                    status_class=key[1],
                    **dict(zip(DIMENSIONS, key[2:], strict=True)),
                    cost=Decimal(0),
                    total_time_hist={},
                    backend_time_hist={},
                    native_duration_hist={},
                    overhead_hist={},
                )
            self._request_add(rollup, key, request, native_durations)
            operation_entries_add(self.operations, request)
            if request.apim_subscription_id:
                minute = moment.replace(second=0, microsecond=0)
                slot = self.minutes.setdefault((hour, request.apim_subscription_id), {}).get(minute)
                if slot is None:
                    slot = self.minutes[(hour, request.apim_subscription_id)][minute] = [0, ""]
                slot[0] += request.total_tokens or 0
                if request.product_id > slot[1]:
                    slot[1] = request.product_id

    def _request_add(
        self, rollup: UsageHourly, key: tuple, request: GatewayRequest, natives: Mapping
    ) -> None:
        total_tokens = request.total_tokens or 0
        rollup.requests += 1
        rollup.prompt_tokens += request.prompt_tokens or 0
        rollup.cached_tokens += request.cached_tokens or 0
        rollup.completion_tokens += request.completion_tokens or 0
        rollup.reasoning_tokens += request.reasoning_tokens or 0
        rollup.total_tokens += total_tokens
        rollup.images += request.images or 0
        rollup.cost += request.cost or 0
        if request.token_source == TokenSource.ESTIMATED:
            rollup.estimated_tokens += total_tokens
        if not request.is_priced:
            rollup.unpriced_tokens += total_tokens
        code = request.response_code or 0
        total, backend = request.total_time_ms, request.backend_time_ms
        if (
            not request.is_streaming
            and 200 <= code < 400
            and (request.completion_tokens or 0) > 0
            and backend is not None
            and backend > 0
            and request.operation in TPS_OPERATIONS
        ):
            rollup.tps_completion_tokens += request.completion_tokens
            rollup.tps_backend_ms += backend
        native = natives.get(request.apim_request_id) if request.apim_request_id else None
        for histogram, ms in (
            (rollup.total_time_hist, total),
            (rollup.backend_time_hist, backend),
            (
                rollup.overhead_hist,
                max(total - backend, 0.0) if total is not None and backend is not None else None,
            ),
            (rollup.native_duration_hist, native),
        ):
            if ms is not None:
                bucket = str(bucket_index(ms))
                histogram[bucket] = histogram.get(bucket, 0) + 1
        if request.ratelimit_remaining_requests is not None or request.ratelimit_remaining_tokens is not None:
            seen = (request.time, request.pk or 0)
            if key not in self.latest or seen > self.latest[key]:
                self.latest[key] = seen
                rollup.last_seen_at = request.time
                rollup.ratelimit_remaining_requests = request.ratelimit_remaining_requests
                rollup.ratelimit_remaining_tokens = request.ratelimit_remaining_tokens


def native_durations_get(requests: Iterable[GatewayRequest]) -> dict[str, float | None]:
    """The stored native partners' durations of ``requests``, by APIM request id (for ``RollupDelta``)."""
    ids = [r.apim_request_id for r in requests if r.apim_request_id]
    return dict(
        NativeLog.objects.filter(correlation_id__any=ids).values_list("correlation_id", "duration_ms")
    )


def month_tokens_stored(
    deployment: str, month: date, *, added: RollupDelta, writing: Iterable[GatewayRequest] = ()
) -> int:
    """The tokens of ``deployment``'s requests stored in ``month`` (its first day) during a batch
    of new requests: UsageDaily (every batch before) plus those the batch wrote but has not added
    yet (``added``: its earlier chunks; ``writing``: the chunk just written). What a sum over the
    month's requests gives, from at most a month of daily rollup rows instead of the month's
    requests (PTU shares of new requests, ``usage.accounting.services.usage_price_written``)."""
    start, end = month_bounds(month)
    stored = (
        UsageDaily.objects.filter(deployment=deployment, day__gte=start.date(), day__lt=end.date()).aggregate(
            t=Sum("total_tokens")
        )["t"]
        or 0
    )
    deployment_index = 2 + DIMENSIONS.index("deployment")  # in a RollupDelta key: hour, class, dims
    pending = sum(
        rollup.total_tokens
        for key, rollup in added.hourly.items()
        if key[deployment_index] == deployment and start <= key[0] < end
    )
    writing_tokens = sum(
        r.total_tokens or 0 for r in writing if r.deployment == deployment and start <= r.time < end
    )
    return stored + pending + writing_tokens


def rollup_add(delta: RollupDelta) -> int:
    """Add new requests (``delta``) to the stored rollups of their hours: UsageHourly, UsageDaily,
    TokensPerMinuteHourly, LatencyOperationDaily and (or, deferred, marked for) the other latency
    rollups.

    For requests that were not stored before (what ``requests_write`` writes): the same rollups
    ``rollup_refresh_hours`` would recompute for their hours, at the cost of the rollup rows of
    those hours instead of the requests. Returns the number of UsageHourly rows written.
    """
    if not delta.hourly:
        return 0
    with transaction.atomic():
        rollup_lock()
        old_days = delta_past_horizon_take(delta)  # refreshed whole below
        hours = sorted({key[0] for key in delta.hourly})
        stored = {
            (r.hour.astimezone(UTC), r.status_class, *(getattr(r, d) for d in DIMENSIONS)): r
            for r in UsageHourly.objects.filter(hour__in=hours)
        }
        updated, created = [], []
        for key, added in delta.hourly.items():
            rollup = stored.get(key)
            if rollup is None:
                stored[key] = added
                created.append(added)
                continue
            for name in _HOURLY_SUMS:
                setattr(rollup, name, getattr(rollup, name) + getattr(added, name))
            for name in _HOURLY_HISTOGRAMS:
                histogram_merge_into(getattr(rollup, name), getattr(added, name))
            # New requests come after the stored ones (their ids are higher): a tie in time is theirs.
            if added.last_seen_at is not None and (
                rollup.last_seen_at is None or added.last_seen_at >= rollup.last_seen_at
            ):
                rollup.last_seen_at = added.last_seen_at
                rollup.ratelimit_remaining_requests = added.ratelimit_remaining_requests
                rollup.ratelimit_remaining_tokens = added.ratelimit_remaining_tokens
            updated.append(rollup)
        rows_update(rows=updated, fields=_HOURLY_MEASURES)
        UsageHourly.objects.bulk_create(created, batch_size=1000)
        usage_daily_apply({hour.date() for hour in hours}, {}, daily_sums_of(delta.hourly.values()))
        tokens_per_minute_add(delta.minutes)
        latency_hours_changed(hours, stored.values())
        latency_operations_add(delta.operations)
        return len(updated) + len(created) + rollup_refresh_hours(hours=old_days)
