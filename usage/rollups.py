"""Maintain the hourly rollups (UsageHourly) from the request table.

A rollup hour is always recomputed whole from GatewayRequest (delete + insert in one
transaction), which makes the refresh idempotent: re-imports, late rows and late join partners
only need to name the hours they touched.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from .histograms import histogram_add
from .models import GatewayRequest, NativeLog, TokenSource, UsageHourly

_DIMENSIONS = (
    "apim_subscription_id",
    "product_id",
    "deployment",
    "model",
    "backend_region",
    "apim_region",
    "is_streaming",
)
_FIELDS = (
    *_DIMENSIONS,
    "time",
    "response_code",
    "apim_request_id",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "total_tokens",
    "images",
    "cost",
    "is_priced",
    "token_source",
    "total_time_ms",
    "backend_time_ms",
    "operation",
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
)
_CHUNK = 900  # SQLite's bound-parameter limit is 999 on old builds


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def status_class(response_code: int | None) -> str:
    code = response_code or 0
    if code == 429:
        return "429"
    if code >= 500:
        return "5xx"
    if code >= 400:
        return "4xx"
    if code >= 200:
        return "2xx"
    return "unknown"


def _native_durations(apim_request_ids: list[str]) -> dict[str, float]:
    durations: dict[str, float] = {}
    ids = [i for i in apim_request_ids if i]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        durations.update(
            NativeLog.objects.filter(correlation_id__in=chunk, duration_ms__isnull=False).values_list(
                "correlation_id", "duration_ms"
            )
        )
    return durations


def _rollup_rows(hour: datetime, rows: list[dict]) -> list[UsageHourly]:
    native = _native_durations([r["apim_request_id"] for r in rows])
    groups: dict[tuple, UsageHourly] = {}
    for row in rows:
        klass = status_class(row["response_code"])
        key = (*(row[d] for d in _DIMENSIONS), klass)
        rollup = groups.get(key)
        if rollup is None:
            rollup = UsageHourly(
                hour=hour,
                status_class=klass,
                cost=Decimal(0),
                total_time_hist={},
                backend_time_hist={},
                native_duration_hist={},
                **{d: row[d] for d in _DIMENSIONS},
            )
            groups[key] = rollup
        rollup.requests += 1
        for measure in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"):
            setattr(rollup, measure, getattr(rollup, measure) + row[measure])
        rollup.total_tokens += row["total_tokens"]
        rollup.images += row["images"]
        rollup.cost += row["cost"]
        if row["token_source"] == TokenSource.ESTIMATED:
            rollup.estimated_tokens += row["total_tokens"]
        if not row["is_priced"]:
            rollup.unpriced_tokens += row["total_tokens"]
        histogram_add(rollup.total_time_hist, row["total_time_ms"])
        histogram_add(rollup.backend_time_hist, row["backend_time_ms"])
        histogram_add(rollup.native_duration_hist, native.get(row["apim_request_id"]))
        if (
            not row["is_streaming"]
            and klass == "2xx"
            and row["completion_tokens"]
            and row["backend_time_ms"]
            and row["operation"] in ("chat", "completion", "responses")
        ):
            rollup.tps_completion_tokens += row["completion_tokens"]
            rollup.tps_backend_ms += row["backend_time_ms"]
        has_headroom = (
            row["ratelimit_remaining_requests"] is not None or row["ratelimit_remaining_tokens"] is not None
        )
        if has_headroom and (rollup.last_seen_at is None or row["time"] >= rollup.last_seen_at):
            rollup.last_seen_at = row["time"]
            rollup.ratelimit_remaining_requests = row["ratelimit_remaining_requests"]
            rollup.ratelimit_remaining_tokens = row["ratelimit_remaining_tokens"]
    return list(groups.values())


def rollup_refresh_hours(*, hours: Iterable[datetime]) -> int:
    """Recompute the rollup rows of each hour in ``hours``; returns the number of rows written."""
    written = 0
    for hour in sorted({hour_floor(h) for h in hours}):
        end = hour + timedelta(hours=1)
        rows = list(GatewayRequest.objects.filter(time__gte=hour, time__lt=end).values(*_FIELDS))
        rollups = _rollup_rows(hour, rows)
        with transaction.atomic():
            UsageHourly.objects.filter(hour=hour).delete()
            UsageHourly.objects.bulk_create(rollups, batch_size=500)
        written += len(rollups)
    return written


def rollup_refresh_range(*, start: datetime, end: datetime) -> int:
    """Recompute every hour in [start, end)."""
    hours = []
    hour = hour_floor(start)
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return rollup_refresh_hours(hours=hours)
