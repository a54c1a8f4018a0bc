"""Month-to-date usage against tiers: projection, thresholds, precedence, history, peak, drift."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aoai_portal.months import month_parse
from quotas.selectors.overview import quota_overview
from quotas.services import tier_assign
from tests.factories import priced_request_create, rollups_refresh, tier_add
from usage.chargeback.scope import EVERY_COST_CENTER

pytestmark = pytest.mark.django_db

NOV = month_parse("2026-11")
NOW = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)  # 16 days left in November


def _row(overview, sub):
    return next(r for r in overview.rows if r.apim_subscription_id == sub)


def test_it_projects_the_end_of_month_from_the_last_seven_days():
    tier_assign(
        kind="subscription",
        key="sub-a",
        tier=tier_add("Std", quota=100_000),
        valid_from=NOW - timedelta(days=60),
    )
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 2, 9, tzinfo=UTC), tokens=5_000, cost="5")
    for day in range(8, 15):  # the 7 days before NOW: 1,000 tokens and 1.00 a day
        priced_request_create(sub="sub-a", at=datetime(2026, 11, day, 12, tzinfo=UTC), tokens=1_000, cost="1")
    priced_request_create(sub="sub-a", at=NOW + timedelta(hours=1), tokens=99_999)  # after "now": not counted
    rollups_refresh()

    row = _row(quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW), "sub-a")

    assert row.tokens == 12_000
    assert row.cost == Decimal("12")
    assert row.projected_tokens == 12_000 + 16 * 1_000
    assert row.projected_cost == Decimal("28.00")
    assert row.projected_quota_percent == 28.0


def test_a_finished_month_projects_exactly_what_it_used():
    priced_request_create(sub="sub-a", at=datetime(2026, 10, 30, 9, tzinfo=UTC), tokens=700, cost="0.70")
    rollups_refresh()
    row = _row(quota_overview(scope=EVERY_COST_CENTER, month=month_parse("2026-10"), now=NOW), "sub-a")
    assert row.projected_tokens == row.tokens == 700
    assert row.status == "no_tier"


def test_it_marks_warning_from_80_percent_and_over_from_100_percent_riskiest_first():
    tier = tier_add("Small", quota=1_000, budget="10.00")
    for sub, tokens, cost in (
        ("sub-ok", 799, "1"),
        ("sub-warn", 800, "1"),
        ("sub-over", 1_000, "1"),
        ("sub-money", 10, "10.00"),
    ):
        tier_assign(kind="subscription", key=sub, tier=tier, valid_from=NOW - timedelta(days=30))
        priced_request_create(sub=sub, at=datetime(2026, 11, 3, tzinfo=UTC), tokens=tokens, cost=cost)
    rollups_refresh()

    overview = quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW)

    statuses = {r.apim_subscription_id: r.status for r in overview.rows}
    assert statuses == {"sub-ok": "ok", "sub-warn": "warning", "sub-over": "over", "sub-money": "over"}
    order = [r.apim_subscription_id for r in overview.rows]
    assert order.index("sub-over") < order.index("sub-warn") < order.index("sub-ok")
    assert order.index("sub-money") < order.index("sub-warn")
    assert _row(overview, "sub-warn").quota_percent == 80.0
    assert _row(overview, "sub-money").budget_percent == 100.0


def test_a_subscription_tier_wins_over_its_product_tier():
    gold = tier_add("Gold", quota=5_000_000, tpm=50_000)
    bronze = tier_add("Bronze", quota=1_000, tpm=100)
    tier_assign(kind="product", key="prod-a", tier=bronze, valid_from=NOW - timedelta(days=90))
    tier_assign(kind="subscription", key="sub-vip", tier=gold, valid_from=NOW - timedelta(days=90))
    priced_request_create(sub="sub-vip", product="prod-a", at=datetime(2026, 11, 5, tzinfo=UTC), tokens=900)
    priced_request_create(sub="sub-plain", product="prod-a", at=datetime(2026, 11, 5, tzinfo=UTC), tokens=900)
    priced_request_create(sub="sub-other", product="prod-b", at=datetime(2026, 11, 5, tzinfo=UTC), tokens=900)
    rollups_refresh()

    overview = quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW)

    vip, plain, other = (_row(overview, s) for s in ("sub-vip", "sub-plain", "sub-other"))
    assert (vip.tier, vip.tier_source, vip.token_quota, vip.status) == (
        "Gold",
        "subscription",
        5_000_000,
        "ok",
    )
    assert (plain.tier, plain.tier_source, plain.token_quota, plain.status) == (
        "Bronze",
        "product",
        1_000,
        "warning",
    )
    assert (other.tier, other.status) == (None, "no_tier")


def test_a_mid_month_tier_change_keeps_each_minute_against_the_tier_of_its_time():
    small = tier_add("Small", tpm=1_000, quota=10_000)
    large = tier_add("Large", tpm=5_000, quota=100_000)
    tier_assign(kind="subscription", key="sub-a", tier=small, valid_from=datetime(2026, 10, 1, tzinfo=UTC))
    tier_assign(kind="subscription", key="sub-a", tier=large, valid_from=datetime(2026, 11, 12, tzinfo=UTC))
    burst_on_small = datetime(2026, 11, 10, 8, 30, 5, tzinfo=UTC)
    priced_request_create(sub="sub-a", at=burst_on_small, tokens=3_000)
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 13, 8, 30, 5, tzinfo=UTC), tokens=3_000)  # fine on Large
    rollups_refresh()

    overview = quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW)

    row = _row(overview, "sub-a")
    assert (row.tier, row.token_quota, row.tier_tpm, row.status) == ("Large", 100_000, 5_000, "ok")
    tpm_drift = [d for d in overview.drift if d.kind == "tpm"]
    assert len(tpm_drift) == 1
    assert (tpm_drift[0].tier, tpm_drift[0].observed, tpm_drift[0].limit) == ("Small", 3_000, 1_000)
    assert tpm_drift[0].at == burst_on_small.replace(second=0)
    # The history is kept: the Small assignment was closed, not overwritten.
    from quotas.models import TierAssignment

    history = list(
        TierAssignment.objects.filter(key="sub-a")
        .order_by("valid_from")
        .values_list("tier__name", "valid_to")
    )
    assert history == [("Small", datetime(2026, 11, 12, tzinfo=UTC)), ("Large", None)]


def test_peak_tokens_per_minute_sums_requests_of_the_same_clock_minute_and_429s_are_counted():
    tier_assign(
        kind="subscription",
        key="sub-a",
        tier=tier_add("T", tpm=10_000),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
    )
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 4, 10, 0, 10, tzinfo=UTC), tokens=400)
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 4, 10, 0, 50, tzinfo=UTC), tokens=400)
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 4, 10, 1, 5, tzinfo=UTC), tokens=500)
    for second in (1, 2, 3):
        priced_request_create(sub="sub-a", at=datetime(2026, 11, 4, 10, 2, second, tzinfo=UTC), tokens=0, code=429)
    rollups_refresh()

    row = _row(quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW), "sub-a")

    assert row.peak_tpm == 800
    assert row.tpm_percent == 8.0
    assert row.throttled_429 == 3
    assert row.requests == 6


def test_drift_lists_quota_overruns_and_calls_to_deployments_the_tier_does_not_allow(settings):
    settings.QUOTA_DRIFT_TOLERANCE_PERCENT = 10
    tier = tier_add("Mini", tpm=100_000, quota=1_000, deployments="gpt-4o-mini", models="gpt-4o-mini")
    tier_assign(kind="product", key="prod-a", tier=tier, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    priced_request_create(
        sub="sub-over",
        at=datetime(2026, 11, 3, tzinfo=UTC),
        tokens=1_200,
        deployment="gpt-4o-mini",
        model="gpt-4o-mini",
    )
    priced_request_create(
        sub="sub-within-margin",
        at=datetime(2026, 11, 3, tzinfo=UTC),
        tokens=1_050,
        deployment="gpt-4o-mini",
        model="gpt-4o-mini",
    )
    priced_request_create(
        sub="sub-wrong-deployment",
        at=datetime(2026, 11, 3, tzinfo=UTC),
        tokens=10,
        deployment="gpt-4o",
        model="gpt-4o",
    )
    priced_request_create(
        sub="sub-refused",
        at=datetime(2026, 11, 3, tzinfo=UTC),
        tokens=0,
        deployment="gpt-4o",
        model="",
        code=403,
    )
    rollups_refresh()

    overview = quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW)

    found = {(d.apim_subscription_id, d.kind) for d in overview.drift}
    assert found == {
        ("sub-over", "quota"),
        ("sub-wrong-deployment", "deployment"),
        ("sub-wrong-deployment", "model"),
    }
    assert _row(overview, "sub-over").drift[0].observed == 1_200


def test_a_tier_not_yet_effective_does_not_apply():
    later = tier_add("Later", quota=10, effective_from=NOW + timedelta(days=2))
    tier_assign(kind="subscription", key="sub-a", tier=later, valid_from=datetime(2026, 11, 1, tzinfo=UTC))
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 3, tzinfo=UTC), tokens=100)
    rollups_refresh()
    assert _row(quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW), "sub-a").status == "no_tier"


def test_an_assigned_subscription_without_usage_is_listed_and_a_future_month_is_empty():
    tier_assign(
        kind="subscription", key="sub-idle", tier=tier_add("T"), valid_from=datetime(2026, 1, 1, tzinfo=UTC)
    )
    row = _row(quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW), "sub-idle")
    assert (row.tokens, row.status, row.projected_tokens) == (0, "ok", 0)
    assert quota_overview(scope=EVERY_COST_CENTER, month=month_parse("2026-12"), now=NOW).rows == []


def test_a_drift_row_names_the_deployment_and_the_model_it_is_split_by():
    tier = tier_add("Chat only", deployments="gpt-4o", models="gpt-4o")
    tier_assign(kind="subscription", key="sub-a", tier=tier, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    at = datetime(2026, 11, 3, tzinfo=UTC)
    priced_request_create(sub="sub-a", at=at, tokens=10, deployment="text-embedding-3-small", model="")
    for _ in range(2):
        priced_request_create(
            sub="sub-a", at=at, tokens=10, deployment="text-embedding-3-small", model="text-embedding-3-small"
        )
    rollups_refresh()

    details = sorted(d.detail for d in quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW).drift if d.kind == "deployment")

    assert details == [
        "1 successful request(s) to deployment 'text-embedding-3-small' (unknown model), "
        "which tier Chat only does not allow",
        "2 successful request(s) to deployment 'text-embedding-3-small' (model 'text-embedding-3-small'), "
        "which tier Chat only does not allow",
    ]
    model_rows = [d for d in quota_overview(scope=EVERY_COST_CENTER, month=NOV, now=NOW).drift if d.kind == "model"]
    assert [d.detail for d in model_rows] == [
        "2 successful request(s) to model 'text-embedding-3-small' on deployment 'text-embedding-3-small', "
        "which tier Chat only does not allow"
    ]
    assert {d.tier_id for d in model_rows} == {tier.pk}
