"""The daily usage rollup (UsageDaily) that chargeback and quotas read for whole days."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.factories import gateway_request
from usage.chargeback.selectors.lines import usage_lines
from usage.measures import TOKEN_MEASURES, USAGE_MEASURES
from usage.models import GatewayRequest, TokenSource, UsageDaily
from usage.rollups.daily import usage_daily_refresh
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range

START = datetime(2026, 3, 1, tzinfo=UTC)
_MEASURES = (*USAGE_MEASURES, "throttled", "succeeded")


def _requests(*, n: int, seed: int, start: datetime = START, days: int = 3) -> list[GatewayRequest]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt, completion = rng.randrange(1, 400), rng.randrange(0, 300)
        rows.append(
            gateway_request(
                time=start + timedelta(seconds=rng.randrange(days * 86400)),
                apim_subscription_id=rng.choice(["sub-a", "sub-b", "sub-c"]),
                product_id=rng.choice(["prod-a", "prod-b"]),
                deployment=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                backend_region=rng.choice(["swedencentral", "eastus"]),
                is_streaming=rng.random() < 0.3,
                response_code=rng.choice([200, 200, 201, 304, 429, 500, 400]),
                prompt_tokens=prompt,
                cached_tokens=rng.randrange(0, prompt + 1),
                completion_tokens=completion,
                reasoning_tokens=rng.randrange(0, 20),
                total_tokens=prompt + completion,
                images=rng.randrange(0, 2),
                cost=Decimal(rng.randrange(0, 10**6)) / Decimal(10**8),
                token_source=rng.choice([TokenSource.REPORTED, TokenSource.ESTIMATED]),
                is_priced=rng.random() < 0.9,
            )
        )
    GatewayRequest.objects.bulk_create(rows)
    return rows


def _expected() -> dict[tuple, dict]:
    """A fresh aggregation of the request table, in Python."""
    sums: dict[tuple, dict] = defaultdict(lambda: {m: 0 for m in _MEASURES} | {"cost": Decimal(0)})
    for r in GatewayRequest.objects.all():
        entry = sums[
            (r.time.astimezone(UTC).date(), r.apim_subscription_id, r.product_id, r.deployment, r.model)
        ]
        entry["requests"] += 1
        for name in TOKEN_MEASURES:
            entry[name] += getattr(r, name)
        entry["images"] += r.images
        entry["cost"] += r.cost
        entry["estimated_tokens"] += r.total_tokens if r.token_source == TokenSource.ESTIMATED else 0
        entry["unpriced_tokens"] += 0 if r.is_priced else r.total_tokens
        entry["throttled"] += 1 if r.response_code == 429 else 0
        entry["succeeded"] += 1 if 200 <= r.response_code < 400 else 0  # status class "2xx"
    return dict(sums)


def _stored() -> dict[tuple, dict]:
    return {
        (row.day, row.apim_subscription_id, row.product_id, row.deployment, row.model): {
            m: getattr(row, m) for m in _MEASURES
        }
        for row in UsageDaily.objects.all()
    }


def test_the_daily_rollup_equals_a_fresh_aggregation_of_the_requests(db):
    _requests(n=600, seed=1)
    rollup_refresh_range(start=START, end=START + timedelta(days=3))
    expected = _expected()
    assert len(expected) > 20
    assert _stored() == expected


def test_refreshing_hours_again_changes_nothing(db):
    _requests(n=300, seed=2)
    rollup_refresh_range(start=START, end=START + timedelta(days=3))
    before = _stored()
    rollup_refresh_hours(hours=[START + timedelta(hours=h) for h in (0, 5, 5, 30, 71)])
    rollup_refresh_range(start=START + timedelta(hours=20), end=START + timedelta(hours=50))
    assert _stored() == before == _expected()


def test_a_late_row_is_counted_once_in_its_own_day(db):
    _requests(n=200, seed=3)
    rollup_refresh_range(start=START, end=START + timedelta(days=3))
    late = gateway_request(
        time=START + timedelta(days=1, hours=7, minutes=3),
        apim_subscription_id="sub-late",
        response_code=429,
        total_tokens=77,
        cost=Decimal("0.12345678"),
    )
    late.save()
    rollup_refresh_hours(hours=[late.time])
    rollup_refresh_hours(hours=[late.time])
    assert _stored() == _expected()
    row = UsageDaily.objects.get(apim_subscription_id="sub-late")
    assert (row.day, row.requests, row.throttled, row.total_tokens) == (
        (START + timedelta(days=1)).date(),
        1,
        1,
        77,
    )


def test_an_hour_whose_rows_are_gone_leaves_the_day(db):
    rows = _requests(n=100, seed=4, days=1)
    rollup_refresh_range(start=START, end=START + timedelta(days=1))
    gone = rows[0]
    GatewayRequest.objects.filter(
        time__gte=gone.time.replace(minute=0, second=0),
        time__lt=gone.time.replace(minute=0, second=0) + timedelta(hours=1),
    ).delete()
    rollup_refresh_hours(hours=[gone.time])
    assert _stored() == _expected()


def test_a_full_rebuild_gives_the_same_days_as_refreshing_hour_by_hour(db):
    _requests(n=300, seed=5)
    for hour in range(72):
        rollup_refresh_hours(hours=[START + timedelta(hours=hour)])
    incremental = _stored()
    UsageDaily.objects.all().delete()
    usage_daily_refresh(days=[START + timedelta(days=d) for d in range(3)])
    assert _stored() == incremental == _expected()


def test_day_lines_from_the_daily_rollup_match_lines_from_the_hourly_one(db):
    _requests(n=400, seed=6)
    rollup_refresh_range(start=START, end=START + timedelta(days=3))
    begin, end = START + timedelta(hours=5), START + timedelta(days=2, hours=13)
    for fast_path in (True, False):
        mixed = usage_lines(begin=begin, end=end, interval="day", fast_path=fast_path)
        hourly = defaultdict(lambda: None)
        for line in usage_lines(begin=begin, end=end, interval="hour", fast_path=fast_path):
            key = (line.bucket.replace(hour=0), *line.dims)
            if hourly[key] is None:
                hourly[key] = line.measures
            else:
                hourly[key].add(line.measures)
        assert {(line.bucket, *line.dims): line.measures for line in mixed} == dict(hourly)


def test_collapsed_lines_are_the_day_lines_summed_over_the_window(db):
    _requests(n=400, seed=7)
    rollup_refresh_range(start=START, end=START + timedelta(days=3))
    begin, end = START + timedelta(hours=5), START + timedelta(days=2, hours=13)
    for fast_path in (True, False):
        summed = defaultdict(lambda: None)
        for line in usage_lines(begin=begin, end=end, interval="day", fast_path=fast_path):
            if summed[line.dims] is None:
                summed[line.dims] = line.measures
            else:
                summed[line.dims].add(line.measures)
        collapsed = usage_lines(begin=begin, end=end, interval="day", fast_path=fast_path, collapse=True)
        assert {line.bucket for line in collapsed} == {begin}
        assert {line.dims: line.measures for line in collapsed} == dict(summed)
        subscription = collapsed[0].subscription
        only = usage_lines(
            begin=begin,
            end=end,
            interval="day",
            fast_path=fast_path,
            collapse=True,
            subscription=subscription,
        )
        assert only == [line for line in collapsed if line.subscription == subscription]
