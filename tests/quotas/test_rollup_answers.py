"""The quota overview read from rollups answers exactly what the request table says.

The reference primitives below compute the quota page's inputs straight from GatewayRequest in
Python, with the semantics the selectors had when they scanned the request table (and UsageHourly,
whose hour keys they filtered on); the overview is computed once with them and once with the
rollup-backed selectors, on generated data with bursts and tier changes mid-month and mid-hour.
"""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aoai_portal.months import month_parse
from quotas.selectors import consumption, drift, overview, tiers
from quotas.selectors.consumption import peak_tokens_per_minute
from quotas.selectors.overview import quota_overview
from quotas.services import tier_assign
from tests.factories import gateway_request, tier_add
from tests.support.module_rows import module_rows
from usage.chargeback.scope import EVERY_COST_CENTER
from usage.models import GatewayRequest
from usage.models.requests import status_class
from usage.rollups.hourly import rollup_refresh_range

pytestmark = pytest.mark.django_db

NOV = month_parse("2026-11")
OCT = month_parse("2026-10")
NOW = datetime(2026, 11, 15, 10, 37, 12, tzinfo=UTC)
SUBS = {  # subscription -> the products it calls through (the last one from Nov 9 on)
    "sub-0": ["prod-a", "prod-b"],
    "sub-1": ["prod-a"],
    "sub-2": ["prod-b"],
    "sub-3": ["prod-c"],
    "sub-4": ["prod-a", ""],
    "sub-5": ["prod-b"],
    "": ["prod-a"],
}


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _burst(rows: list, *, sub: str, at: datetime, tokens: int, n: int = 12, **fields) -> None:
    """``n`` requests inside the clock minute of ``at`` (from its second on), ``tokens`` in all."""
    for i in range(n):
        rows.append(
            gateway_request(
                time=at + timedelta(seconds=i * (59 - at.second) / n),
                apim_subscription_id=sub,
                product_id=SUBS[sub][-1],
                total_tokens=tokens // n,
                **fields,
            )
        )


def _generate(seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 10, 27, tzinfo=UTC)
    rows = []
    for _ in range(1_500):
        at = start + timedelta(seconds=rng.randrange(21 * 86400), microseconds=rng.randrange(10**6))
        sub = rng.choice(list(SUBS))
        products = SUBS[sub]
        rows.append(
            gateway_request(
                time=at,
                apim_subscription_id=sub,
                product_id=products[-1] if at >= datetime(2026, 11, 9, tzinfo=UTC) else rng.choice(products),
                deployment=rng.choice(["gpt-4o", "gpt-4o-mini", "gpt-4o-mini", ""]),
                model=rng.choice(["gpt-4o", "gpt-4o-mini", "gpt-4o-mini", ""]),
                response_code=rng.choice([200, 200, 200, 201, 302, 429, 403, 500]),
                total_tokens=rng.choice([0, rng.randrange(1, 900)]),
            )
        )
        rows[-1].cost = Decimal(rows[-1].total_tokens) / 3000  # money too, not only tokens
    mini = {"deployment": "gpt-4o-mini", "model": "gpt-4o-mini"}
    for sub, at, tokens in (
        ("sub-1", datetime(2026, 10, 31, 23, 59, 40, tzinfo=UTC), 9_000),  # last minute of October
        ("sub-1", datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC), 7_000),  # first minute of November
        ("sub-0", datetime(2026, 11, 3, 8, 30, 5, tzinfo=UTC), 2_600),  # prod-a on Small then
        ("sub-0", datetime(2026, 11, 10, 8, 30, 5, tzinfo=UTC), 2_600),  # prod-b
        ("sub-1", datetime(2026, 11, 7, 14, 10, 0, tzinfo=UTC), 5_000),  # Small, minutes before Large
        ("sub-1", datetime(2026, 11, 7, 14, 40, 0, tzinfo=UTC), 5_000),  # Large
        ("sub-2", datetime(2026, 11, 12, 9, 5, 0, tzinfo=UTC), 3_500),  # Mid
        ("sub-2", datetime(2026, 11, 12, 9, 15, 0, tzinfo=UTC), 3_500),  # Small from 09:10
        ("sub-2", datetime(2026, 11, 14, 23, 59, 1, tzinfo=UTC), 30_000),  # last whole day
        ("sub-3", datetime(2026, 11, 13, 12, 0, 0, tzinfo=UTC), 50_000),  # no tier
        ("sub-5", datetime(2026, 11, 15, 3, 20, 0, tzinfo=UTC), 25_000),  # partial day, whole hour
        ("sub-5", datetime(2026, 11, 15, 10, 36, 30, tzinfo=UTC), 24_000),  # partial hour, before now
        ("sub-5", datetime(2026, 11, 15, 10, 37, 0, tzinfo=UTC), 40_000),  # now's minute, partly after
        ("sub-5", datetime(2026, 11, 15, 10, 50, 0, tzinfo=UTC), 90_000),  # after now, same hour
        ("sub-5", datetime(2026, 11, 15, 14, 0, 0, tzinfo=UTC), 90_000),  # after now
        ("sub-4", datetime(2026, 11, 8, 13, 25, 0, tzinfo=UTC), 6_000),  # Future tier just effective
        ("sub-4", datetime(2026, 11, 8, 13, 5, 0, tzinfo=UTC), 6_000),  # ... and just before
    ):
        _burst(rows, sub=sub, at=at, tokens=tokens, **mini)
    # Successful calls to a deployment a tier forbids, late on whole days, around tier changes.
    for sub, at in (
        ("sub-2", datetime(2026, 11, 12, 9, 30, tzinfo=UTC)),  # the day sub-2 moved to Small
        ("sub-1", datetime(2026, 11, 7, 12, 0, tzinfo=UTC)),  # hours before prod-a moved to Large
        ("sub-0", datetime(2026, 11, 5, 22, 0, tzinfo=UTC)),
        ("sub-3", datetime(2026, 11, 14, 23, 0, tzinfo=UTC)),
    ):
        rows.append(
            gateway_request(
                time=at,
                apim_subscription_id=sub,
                product_id=SUBS[sub][-1],
                deployment="gpt-4o-big",
                model="gpt-4o-big",
                total_tokens=10,
            )
        )
    GatewayRequest.objects.bulk_create(rows)
    rollup_refresh_range(start=start, end=start + timedelta(days=21))


def _tiers() -> None:
    small = tier_add("Small", tpm=2_000, quota=150_000, deployments="gpt-4o-mini")
    mid = tier_add("Mid", tpm=4_000, quota=400_000, models="gpt-4o-mini,gpt-4o")
    large = tier_add("Large", tpm=8_000, quota=10_000_000)
    future = tier_add(
        "Future", tpm=3_000, quota=90_000, effective_from=datetime(2026, 11, 8, 13, 20, tzinfo=UTC)
    )
    tier_assign(kind="product", key="prod-a", tier=small, valid_from=datetime(2026, 10, 1, tzinfo=UTC))
    tier_assign(
        kind="product", key="prod-a", tier=large, valid_from=datetime(2026, 11, 7, 14, 25, tzinfo=UTC)
    )
    tier_assign(kind="product", key="prod-b", tier=future, valid_from=datetime(2026, 10, 1, tzinfo=UTC))
    tier_assign(kind="subscription", key="sub-2", tier=mid, valid_from=datetime(2026, 10, 1, tzinfo=UTC))
    tier_assign(
        kind="subscription", key="sub-2", tier=small, valid_from=datetime(2026, 11, 12, 9, 10, tzinfo=UTC)
    )
    tier_assign(kind="subscription", key="sub-5", tier=mid, valid_from=datetime(2026, 10, 1, tzinfo=UTC))


# --- the reference: straight from the request table ------------------------------------------


def _all_requests() -> list[GatewayRequest]:
    return list(GatewayRequest.objects.exclude(apim_subscription_id=""))


def _minute_sums(start: datetime, end: datetime) -> dict[tuple, int]:
    sums: dict[tuple, int] = defaultdict(int)
    for r in _all_requests():
        if start <= r.time < end:
            sums[(r.apim_subscription_id, r.time.astimezone(UTC).replace(second=0, microsecond=0))] += (
                r.total_tokens
            )
    return sums


def _direct_peaks(*, start: datetime, end: datetime) -> dict[str, int]:
    peaks: dict[str, int] = {}
    for (sub, _), tokens in _minute_sums(start, end).items():
        peaks[sub] = max(peaks.get(sub, 0), tokens)
    return peaks


def _direct_busy_minutes(*, start: datetime, end: datetime, above: dict[str, int]) -> list[dict]:
    """One threshold for every subscription (the lowest), as the request-table scan had."""
    lowest = min(above.values(), default=None)
    if lowest is None:
        return []
    return [
        {"apim_subscription_id": sub, "minute": minute, "tokens": tokens}
        for (sub, minute), tokens in sorted(
            _minute_sums(start, end).items(), key=lambda i: (i[0][1], i[0][0])
        )
        if tokens > lowest
    ]


def _direct_products(*, start: datetime, end: datetime) -> dict[str, str]:
    """By rollup hour key, as the selector did over UsageHourly."""
    latest: dict[str, tuple] = {}
    for r in _all_requests():
        if r.product_id and start <= _hour(r.time) < end:
            latest[r.apim_subscription_id] = max(
                latest.get(r.apim_subscription_id, ()), (_hour(r.time), r.product_id)
            )
    return {sub: product for sub, (_, product) in latest.items()}


def _direct_deployments_used(*, start: datetime, end: datetime, **_) -> list[dict]:
    used: dict[tuple, dict] = {}
    for r in _all_requests():
        if status_class(r.response_code) == "2xx" and start <= _hour(r.time) < end:
            entry = used.setdefault(
                (r.apim_subscription_id, r.deployment, r.model),
                {"apim_subscription_id": r.apim_subscription_id, "deployment": r.deployment, "model": r.model}
                | {"n_requests": 0, "last_hour": _hour(r.time), "last_day": None},
            )
            entry["n_requests"] += 1
            entry["last_hour"] = max(entry["last_hour"], _hour(r.time))
    return list(used.values())


def _direct_usage_by_subscription(*, start: datetime, end: datetime, **_) -> dict[str, dict]:
    """By rollup hour key, as the selector did over UsageHourly alone."""
    usage: dict[str, dict] = {}
    for r in _all_requests():
        if start <= _hour(r.time) < end:
            entry = usage.setdefault(
                r.apim_subscription_id,
                {"apim_subscription_id": r.apim_subscription_id, "tokens": 0, "cost": Decimal(0)}
                | {"n_requests": 0, "throttled": 0},
            )
            entry["tokens"] += r.total_tokens
            entry["cost"] += Decimal(r.cost)
            entry["n_requests"] += 1
            entry["throttled"] += status_class(r.response_code) == "429"
    return usage


def _direct_products_and_peaks(*, start: datetime, end: datetime, products: bool = True, peaks: bool = True):
    return (
        _direct_products(start=start, end=end) if products else {},
        _direct_peaks(start=start, end=end) if peaks else {},
    )


def _direct(monkeypatch, call):
    with monkeypatch.context() as patch:
        patch.setattr(overview, "products_and_peaks", _direct_products_and_peaks)
        patch.setattr(drift, "busy_minutes", _direct_busy_minutes)
        patch.setattr(drift, "deployments_used", _direct_deployments_used)
        patch.setattr(overview, "usage_by_subscription", _direct_usage_by_subscription)
        return call()


# --- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(django_db_setup, django_db_blocker):
    """The generated weeks and tiers, built once for the module (each test's changes are undone)."""
    with module_rows(django_db_blocker):
        _generate(seed=11)
        _tiers()
        yield


@pytest.mark.slow
@pytest.mark.parametrize(
    "month, now",
    [
        (NOV, NOW),  # mid-hour: partial hour and partial day read from the request table
        (NOV, datetime(2026, 11, 15, 10, tzinfo=UTC)),  # on the hour
        (NOV, datetime(2026, 11, 15, tzinfo=UTC)),  # at midnight: whole days only
        (NOV, datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC)),  # less than a minute into the month
        (NOV, datetime(2026, 11, 4, 23, 59, 59, tzinfo=UTC)),  # projection window starts in October
        (OCT, NOW),  # a finished month
    ],
)
def test_the_overview_from_rollups_equals_the_overview_from_the_request_table(
    generated, monkeypatch, settings, month, now
):
    settings.QUOTA_DRIFT_TOLERANCE_PERCENT = 10

    from_rollups = quota_overview(scope=EVERY_COST_CENTER, month=month, now=now)
    direct = _direct(monkeypatch, lambda: quota_overview(scope=EVERY_COST_CENTER, month=month, now=now))

    assert from_rollups == direct
    assert quota_overview(scope=EVERY_COST_CENTER, month=month, now=now, per_minute=False) == _direct(
        monkeypatch, lambda: quota_overview(scope=EVERY_COST_CENTER, month=month, now=now, per_minute=False)
    )
    if (month, now) == (NOV, NOW):
        kinds = {(d.apim_subscription_id, d.kind) for d in from_rollups.drift}
        assert {("sub-1", "tpm"), ("sub-2", "tpm"), ("sub-5", "tpm"), ("sub-2", "deployment")} <= kinds
        # prod-b's tier was not yet effective when sub-0 called gpt-4o-big; sub-3 has no tier.
        assert not any(
            "gpt-4o-big" in d.detail
            for d in from_rollups.drift
            if d.apim_subscription_id in ("sub-0", "sub-3")
        )
        # sub-1 called gpt-4o-big at 12:00 on Nov 7, before prod-a moved from Small to Large at 14:25.
        big = [
            d for d in from_rollups.drift if d.apim_subscription_id == "sub-1" and "gpt-4o-big" in d.detail
        ]
        assert [(d.kind, d.tier, d.at) for d in big] == [
            ("deployment", "Small", datetime(2026, 11, 7, 12, tzinfo=UTC))
        ]
        # The call to gpt-4o-big at 09:30 on Nov 12 (a whole day: its hour is looked up) was
        # under Mid (Small started at 09:10, after the rollup hour 09:00): Mid lists models only.
        big = [
            d for d in from_rollups.drift if d.apim_subscription_id == "sub-2" and "gpt-4o-big" in d.detail
        ]
        assert [(d.kind, d.tier, d.at) for d in big] == [
            ("model", "Mid", datetime(2026, 11, 12, 9, tzinfo=UTC))
        ]
        # Only subscriptions tier_at can give a tier have a threshold, each its own lowest (+10%).
        start = datetime(2026, 11, 1, tzinfo=UTC)
        thresholds = drift._lowest_tolerated(
            tiers.assignments_overlapping(start=start, end=NOW),
            consumption.products_by_subscription(start=start, end=NOW),
        )
        assert thresholds == {"sub-0": 3_300, "sub-1": 2_200, "sub-2": 2_200, "sub-4": 2_200, "sub-5": 3_300}
        rows = {r.apim_subscription_id: r for r in from_rollups.rows}
        assert rows["sub-5"].peak_tpm >= 24_000 and rows["sub-5"].peak_tpm < 90_000
        assert rows["sub-0"].product_id == "prod-b"


@pytest.mark.slow
def test_the_peak_and_products_over_any_window_equal_the_request_table(generated):
    for start, end in (
        (datetime(2026, 10, 28, 7, 13, 29, tzinfo=UTC), NOW),  # the demo seed's "last 31 days"-style window
        (
            datetime(2026, 11, 3, 8, 30, 30, tzinfo=UTC),
            datetime(2026, 11, 3, 8, 45, tzinfo=UTC),
        ),  # inside an hour
        (datetime(2026, 11, 3, 8, 0, tzinfo=UTC), datetime(2026, 11, 3, 9, 0, tzinfo=UTC)),  # one whole hour
        (datetime(2026, 11, 12, 9, 5, 30, tzinfo=UTC), datetime(2026, 11, 12, 10, 0, 1, tzinfo=UTC)),
    ):
        assert peak_tokens_per_minute(start=start, end=end) == _direct_peaks(start=start, end=end)
        assert consumption.products_by_subscription(start=start, end=end) == _direct_products(
            start=start, end=end
        )


@pytest.mark.slow
def test_the_overview_runs_a_fixed_number_of_queries(generated, settings):
    settings.QUOTA_DRIFT_TOLERANCE_PERCENT = 10
    with CaptureQueriesContext(connection) as first:
        quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW)
    more = []
    for i in range(40):
        _burst(more, sub="sub-2", at=datetime(2026, 11, 2 + i % 12, i % 24, 10, tzinfo=UTC), tokens=60_000)
        more[-1].apim_subscription_id = f"sub-new-{i}"
        more[-1].deployment = "gpt-4o-big"
    GatewayRequest.objects.bulk_create(more)
    rollup_refresh_range(start=datetime(2026, 11, 2, tzinfo=UTC), end=datetime(2026, 11, 15, tzinfo=UTC))
    with CaptureQueriesContext(connection) as second:
        quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW)
    assert len(second.captured_queries) == len(first.captured_queries)
