"""The tokens-per-minute rollup (TokensPerMinuteHourly) that the quota page reads for whole hours."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

import usage.rollups.tokens_per_minute
from tests.factories import gateway_request
from usage.models import GatewayRequest, TokensPerMinuteHourly
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 3


def _requests(*, n: int, seed: int, start: datetime = START, days: int = DAYS) -> list[GatewayRequest]:
    """Random requests plus bursts (many requests in one minute, ties between minutes)."""
    rng = random.Random(seed)
    rows = [
        gateway_request(
            time=start + timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(10**6)),
            apim_subscription_id=rng.choice(["sub-a", "sub-b", "sub-c", ""]),
            product_id=rng.choice(["prod-a", "prod-b", ""]),
            response_code=rng.choice([200, 200, 429, 500]),
            total_tokens=rng.choice([0, rng.randrange(1, 2_000)]),
        )
        for _ in range(n)
    ]
    for _ in range(5):
        minute = start + timedelta(minutes=rng.randrange(days * 1440))
        sub = rng.choice(["sub-a", "sub-b"])
        rows += [
            gateway_request(
                time=minute + timedelta(seconds=second),
                apim_subscription_id=sub,
                product_id="prod-z",
                total_tokens=500,
            )
            for second in range(0, 60, 3)
        ]
    # Two minutes of one hour with the same total: the earlier one is the peak minute.
    tie = start + timedelta(hours=5)
    rows += [
        gateway_request(
            time=tie + timedelta(minutes=40, seconds=1), apim_subscription_id="sub-t", total_tokens=9_999
        ),
        gateway_request(
            time=tie + timedelta(minutes=7, seconds=59), apim_subscription_id="sub-t", total_tokens=9_999
        ),
    ]
    GatewayRequest.objects.bulk_create(rows)
    return rows


def _expected() -> dict[tuple, dict]:
    """A fresh aggregation of the request table, in Python: per (hour, subscription)."""
    minutes: dict[tuple, int] = defaultdict(int)
    products: dict[tuple, str] = defaultdict(str)
    for r in GatewayRequest.objects.exclude(apim_subscription_id=""):
        moment = r.time.astimezone(UTC)
        hour = moment.replace(minute=0, second=0, microsecond=0)
        minutes[(hour, r.apim_subscription_id, moment.minute)] += r.total_tokens
        products[(hour, r.apim_subscription_id)] = max(products[(hour, r.apim_subscription_id)], r.product_id)
    expected: dict[tuple, dict] = {}
    for (hour, sub, minute), tokens in sorted(minutes.items()):
        entry = expected.setdefault(
            (hour, sub),
            {"product_id": products[(hour, sub)], "peak": -1, "peak_minute": None, "by_minute": {}},
        )
        if tokens:
            entry["by_minute"][str(minute)] = tokens
        if tokens > entry["peak"]:  # minutes in order: ties keep the earliest
            entry["peak"], entry["peak_minute"] = tokens, hour + timedelta(minutes=minute)
    return expected


def _stored() -> dict[tuple, dict]:
    return {
        (row.hour, row.apim_subscription_id): {
            "product_id": row.product_id,
            "peak": row.peak_tokens,
            "peak_minute": row.peak_minute,
            "by_minute": row.tokens_by_minute,
        }
        for row in TokensPerMinuteHourly.objects.all()
    }


@pytest.mark.parametrize("fold_in_sql", [True, False])
def test_the_rollup_equals_a_fresh_aggregation_of_the_requests(db, monkeypatch, fold_in_sql):
    monkeypatch.setattr(usage.rollups.tokens_per_minute, "TPM_SQL_FAST_PATH", fold_in_sql)
    _requests(n=800, seed=1)
    rollup_refresh_range(start=START, end=START + timedelta(days=DAYS))
    expected = _expected()
    assert len(expected) > 100
    assert _stored() == expected
    tie = TokensPerMinuteHourly.objects.get(apim_subscription_id="sub-t")
    assert (tie.peak_tokens, tie.peak_minute) == (9_999, START + timedelta(hours=5, minutes=7))
    assert tie.tokens_by_minute == {"7": 9_999, "40": 9_999}
    bursts = TokensPerMinuteHourly.objects.filter(peak_tokens__gte=20 * 500)
    assert bursts.count() >= 4 and {b.product_id for b in bursts} == {"prod-z"}
    assert not TokensPerMinuteHourly.objects.filter(apim_subscription_id="").exists()


@pytest.mark.parametrize("fold_in_sql", [True, False])
def test_the_product_of_an_hour_is_the_greatest_by_code_point(db, monkeypatch, fold_in_sql):
    # Minutes with products that a linguistic collation orders the other way ("a" < "B" there):
    # both folds compare the minutes' products by code point, as Python does.
    monkeypatch.setattr(usage.rollups.tokens_per_minute, "TPM_SQL_FAST_PATH", fold_in_sql)
    for minute, product in ((3, "a-prod"), (9, "B-prod"), (20, "")):
        gateway_request(
            time=START + timedelta(minutes=minute), apim_subscription_id="sub-p", product_id=product
        ).save()
    rollup_refresh_range(start=START, end=START + timedelta(hours=1))
    assert TokensPerMinuteHourly.objects.get(apim_subscription_id="sub-p").product_id == "a-prod"
    assert _stored() == _expected()


def test_refreshing_hours_again_changes_nothing(db):
    _requests(n=300, seed=2)
    rollup_refresh_range(start=START, end=START + timedelta(days=DAYS))
    before = _stored()
    rollup_refresh_hours(hours=[START + timedelta(hours=h, minutes=17) for h in (0, 5, 5, 30, 71)])
    rollup_refresh_range(start=START + timedelta(hours=20), end=START + timedelta(hours=50))
    assert _stored() == before == _expected()


def test_a_late_row_updates_its_own_hour_only(db):
    _requests(n=300, seed=3)
    rollup_refresh_range(start=START, end=START + timedelta(days=DAYS))
    before = _stored()
    at = START + timedelta(days=1, hours=7, minutes=33, seconds=20)
    hour = START + timedelta(days=1, hours=7)
    late = gateway_request(time=at, apim_subscription_id="sub-a", product_id="prod-late", total_tokens=50_000)
    late.save()
    rollup_refresh_hours(hours=[late.time])
    rollup_refresh_hours(hours=[late.time])

    after = _stored()
    assert after == _expected()
    row = after[(hour, "sub-a")]
    assert (row["peak"], row["peak_minute"], row["product_id"]) == (
        50_000 + before.get((hour, "sub-a"), {}).get("by_minute", {}).get("33", 0),
        hour + timedelta(minutes=33),
        "prod-late",
    )
    assert {k: v for k, v in after.items() if k != (hour, "sub-a")} == {
        k: v for k, v in before.items() if k != (hour, "sub-a")
    }


def test_an_hour_whose_rows_are_gone_loses_its_rows(db):
    rows = _requests(n=200, seed=4, days=1)
    rollup_refresh_range(start=START, end=START + timedelta(days=1))
    hour = rows[0].time.replace(minute=0, second=0, microsecond=0)
    GatewayRequest.objects.filter(time__gte=hour, time__lt=hour + timedelta(hours=1)).delete()
    rollup_refresh_hours(hours=[hour])
    assert not TokensPerMinuteHourly.objects.filter(hour=hour).exists()
    assert _stored() == _expected()


@pytest.mark.slow
def test_refreshing_hour_by_hour_gives_the_same_rows_as_a_full_rebuild(db):
    _requests(n=400, seed=5)
    for hour in range(DAYS * 24):
        rollup_refresh_hours(hours=[START + timedelta(hours=hour)])
    incremental = _stored()
    TokensPerMinuteHourly.objects.all().delete()
    rollup_refresh_range(start=START, end=START + timedelta(days=DAYS))
    assert _stored() == incremental == _expected()


def test_the_refresh_does_not_query_per_minute_or_per_subscription(db):
    _requests(n=100, seed=6, days=1)
    with CaptureQueriesContext(connection) as few:
        rollup_refresh_range(start=START, end=START + timedelta(days=1))
    _requests(n=1_500, seed=7, days=1)
    with CaptureQueriesContext(connection) as many:
        rollup_refresh_range(start=START, end=START + timedelta(days=1))
    assert TokensPerMinuteHourly.objects.count() > 60

    def reads(captured: CaptureQueriesContext) -> int:  # bulk inserts come in batches: not counted
        return sum(not q["sql"].startswith("INSERT") for q in captured.captured_queries)

    assert reads(many) == reads(few)


def _migration():
    """The migration that added the table (found by name, so renumbering it does not matter)."""
    import importlib
    from pathlib import Path

    import usage.migrations

    (path,) = Path(usage.migrations.__file__).parent.glob("*_tokens_per_minute_hourly.py")
    return importlib.import_module(f"usage.migrations.{path.stem}")


def test_the_migration_backfills_the_same_rows_and_2xx_counts(db):
    from django.apps import apps

    from usage.models import UsageDaily

    _requests(n=500, seed=8)
    rollup_refresh_range(start=START, end=START + timedelta(days=DAYS))
    rollups = _stored()
    succeeded = dict(UsageDaily.objects.values_list("id", "succeeded"))
    assert any(succeeded.values())
    TokensPerMinuteHourly.objects.all().delete()
    UsageDaily.objects.update(succeeded=0)

    migration = _migration()
    migration.backfill_succeeded(apps, None)
    migration.backfill_tokens_per_minute(apps, None)

    assert _stored() == rollups == _expected()
    assert dict(UsageDaily.objects.values_list("id", "succeeded")) == succeeded
