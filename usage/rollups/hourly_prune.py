"""The days before the hourly horizon (``usage.rollups.horizon``): refreshed whole, kept by day.

UsageDaily is kept by taking a refreshed hour's old hourly contribution out and putting the new
one in, and the latency rollups by replacing a refreshed hour with its hourly rows; once a day's
hourly rows are gone (a pruned day) neither works. So an hour of a pruned day is never refreshed
alone: its whole UTC day is (``hourly_day_replaced`` around the ordinary refresh of its 24
hours): the day's hourly and daily rows are deleted, the hours recomputed from the requests
(UsageDaily, TokensPerMinuteHourly and the latency rollups as for any hour), and the day's
hourly rows dropped again in the same transaction. A late request in a pruned day thus gives the
rows a full rebuild gives. New requests in such a day take the same way instead of being added
(``delta_past_horizon_take``). A day before the horizon that still has its hourly rows (history
loaded by a backfill, batch after batch) is refreshed by the hour like any other, exactly, and
pruned the next night: recomputing its whole day for every batch would aggregate it again and
again.

A day whose requests request retention removed (before ``REQUEST_RETENTION_MONTHS``) cannot be
recomputed: a refresh leaves it as it is, and new requests in it are added to UsageDaily,
TokensPerMinuteHourly and LatencyOperationDaily only (the other latency rollups cannot take an
addition without the day's hourly rows).

``hourly_rollups_prune`` (nightly, ``usage.tasks``; ``manage.py rollups_prune``) drops the hourly
rows of the days that moved past the horizon, finishing their deferred latency refresh first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aoai_portal.months import month_add, month_bounds, month_floor

from ..models import LatencyPendingHour, UsageDaily, UsageHourly
from .common import rollup_lock
from .daily import daily_sums_of, usage_daily_apply
from .horizon import day_floor, hourly_horizon
from .latency import latency_hours_apply

if TYPE_CHECKING:
    from .delta import RollupDelta

logger = logging.getLogger(__name__)


def _requests_kept_from(*, now: datetime) -> datetime | None:
    """The oldest moment request retention keeps requests from (as ``usage.retention`` cuts),
    None when requests are kept forever."""
    months = settings.REQUEST_RETENTION_MONTHS
    if months <= 0:
        return None
    return month_bounds(month_add(month_floor(now), -months))[0]


@dataclass
class HorizonSplit:
    """Hours to refresh, cut at the horizon: ``recent`` hours refreshed as they are (those of
    unpruned days before it too), pruned ``days`` (midnights) refreshed whole, and the pruned
    ``frozen`` days whose requests are gone."""

    recent: list[datetime] = field(default_factory=list)
    days: list[datetime] = field(default_factory=list)
    frozen: list[datetime] = field(default_factory=list)


def hours_past_horizon_split(hours: Iterable[datetime], *, now: datetime | None = None) -> HorizonSplit:
    """Cut ``hours`` at the horizon (all recent when hourly rows are kept forever)."""
    now = now or timezone.now()
    horizon = hourly_horizon(now=now)
    if horizon is None:
        return HorizonSplit(recent=list(hours))
    kept_from = _requests_kept_from(now=now)
    split = HorizonSplit()
    old: dict[datetime, list[datetime]] = {}
    for hour in hours:
        if hour >= horizon:
            split.recent.append(hour)
        else:
            old.setdefault(day_floor(hour), []).append(hour)
    for day, hours_of_day in sorted(old.items()):
        if not _day_pruned(day):
            # Its hourly rows are all there (a backfill of old history, or the prune has not run
            # yet): refreshed by the hour as any hour, exactly; the nightly prune drops them.
            split.recent += hours_of_day
        elif kept_from is not None and day < kept_from:
            split.frozen.append(day)
        else:
            split.days.append(day)
    if split.frozen:
        logger.warning(
            "rollup refresh: %d day(s) before %s left as they are: their requests were removed by retention",
            len(split.frozen),
            kept_from,
        )
    return split


def _day_pruned(day: datetime) -> bool:
    """Whether the UTC day starting at ``day`` is kept by day only: daily rows, no hourly ones
    (the prune drops a day's hourly rows in one transaction, so a day has all or none)."""
    end = day + timedelta(days=1)
    return (
        not UsageHourly.objects.filter(hour__gte=day, hour__lt=end).exists()
        and UsageDaily.objects.filter(day=day.date()).exists()
    )


def _hourly_day_drop(day: datetime) -> int:
    """Drop the UsageHourly rows of the UTC day starting at ``day`` (in the caller's transaction,
    under the rollup lock), after refreshing the latency rollups of its hours that a deferred
    import left pending (they are refreshed from these rows). Returns the rows dropped."""
    end = day + timedelta(days=1)
    pending = list(
        LatencyPendingHour.objects.filter(hour__gte=day, hour__lt=end).values_list("hour", flat=True)
    )
    if pending:
        latency_hours_apply(pending)
        LatencyPendingHour.objects.filter(hour__in=pending).delete()
    return int(UsageHourly.objects.filter(hour__gte=day, hour__lt=end).delete()[0])


def day_hours(day: datetime) -> list[datetime]:
    return [day + timedelta(hours=h) for h in range(24)]


@contextmanager
def hourly_day_replaced(*, day: datetime) -> Iterator[None]:
    """One transaction around the refresh of every hour of the UTC day ``day`` (a midnight) before
    the horizon: its hourly and daily rows deleted first (so the refresh puts the whole day into
    UsageDaily, with nothing to take out), its hourly rows dropped after."""
    with transaction.atomic():
        rollup_lock()
        UsageHourly.objects.filter(hour__gte=day, hour__lt=day + timedelta(days=1)).delete()
        UsageDaily.objects.filter(day=day.date()).delete()
        yield
        _hourly_day_drop(day)


def delta_past_horizon_take(delta: RollupDelta, *, now: datetime | None = None) -> list[datetime]:
    """Take what ``delta`` (new requests, already stored) holds for the pruned days before the
    horizon out of it, and return those days (midnights) for a whole-day refresh.

    Frozen days (their other requests removed by retention) are not returned: their usage is
    added to UsageDaily here, their minutes and API-operation entries stay in ``delta``. Call
    in ``rollup_add``'s transaction, under the rollup lock.
    """
    split = hours_past_horizon_split({key[0] for key in delta.hourly}, now=now)
    if not split.days and not split.frozen:
        return []
    old_days = set(split.days)
    frozen_days = set(split.frozen)
    frozen = []
    for key in [key for key in delta.hourly if day_floor(key[0]) in old_days | frozen_days]:
        rollup = delta.hourly.pop(key)
        delta.latest.pop(key, None)
        if day_floor(key[0]) in frozen_days:
            frozen.append(rollup)
    for minute_key in [k for k in delta.minutes if day_floor(k[0]) in old_days]:
        del delta.minutes[minute_key]
    for operation_day in [d for d in delta.operations if _midnight(d) in old_days]:
        del delta.operations[operation_day]
    if frozen:
        usage_daily_apply({day.date() for day in frozen_days}, {}, daily_sums_of(frozen))
    return split.days


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass
class HourlyPruneResult:
    horizon: datetime | None  # hourly rows before this were dropped; None: kept forever
    days: list[date] = field(default_factory=list)
    rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon.isoformat() if self.horizon else None,
            "days": len(self.days),
            "rows": self.rows,
        }


def hourly_rollups_prune(*, now: datetime | None = None) -> HourlyPruneResult:
    """Drop the UsageHourly rows before the horizon, one UTC day per transaction (their daily
    rollups are already there: kept with the hourly rows by every refresh). Idempotent."""
    result = HourlyPruneResult(horizon=hourly_horizon(now=now))
    if result.horizon is None:
        return result
    old = UsageHourly.objects.filter(hour__lt=result.horizon).order_by("hour").values_list("hour", flat=True)
    while (first := old.first()) is not None:
        day = day_floor(first)
        with transaction.atomic():
            rollup_lock()
            result.rows += _hourly_day_drop(day)
        result.days.append(day.date())
    if result.rows:
        logger.info("hourly rollups pruned: %s", result.as_dict())
    return result
