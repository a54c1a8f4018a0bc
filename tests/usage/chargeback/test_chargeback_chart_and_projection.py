"""The chargeback page's chart stacks by what its table groups by, and a month in progress shows
where it will end at the recent rate (the quota page's rule, ``usage.projection``)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time

from tests.factories import priced_request_create, rollups_refresh
from usage.chargeback.scope import EVERY_COST_CENTER
from usage.chargeback.selectors.groups import ChargebackFilters
from usage.chargeback.selectors.projection import chargeback_projection
from usage.chargeback.selectors.reports import chargeback_report
from usage.models import CostCenter, CostCenterAssignment
from usage.projection import projection_window

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)  # 16 days left; the last 7 days: 8-14 November


@pytest.fixture
def november(db):
    center = CostCenter.objects.create(code="RND", name="Research")
    CostCenterAssignment.objects.create(kind="product", key="prod-a", cost_center=center)
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 2, 9, tzinfo=UTC), tokens=1_000, cost="10")
    priced_request_create(sub="sub-a", at=datetime(2026, 11, 10, 9, tzinfo=UTC), tokens=700, cost="7")
    priced_request_create(
        sub="sub-b",
        at=datetime(2026, 11, 12, 9, tzinfo=UTC),
        tokens=70,
        cost="14",
        deployment="embed",
        model="",
    )
    rollups_refresh()


def _chart(html: str) -> dict:
    start = html.index(">", html.index('id="chargeback-chart-data"')) + 1
    return json.loads(html[start : html.index("</script>", start)])


@pytest.mark.parametrize(
    ("query", "title", "labels", "total"),
    [
        ("", "Daily cost by cost center", {"RND — Research"}, 31),
        ("&cost_center=RND", "Daily cost by subscription", {"sub-a", "sub-b"}, 31),
        (
            "&cost_center=RND&subscription=sub-b",
            "Daily cost by deployment and model",
            {"embed · (unknown model)"},
            14,
        ),
        (
            "&cost_center=RND&subscription=sub-a&deployment=gpt-4o&model=gpt-4o",
            "Daily cost by deployment and model",
            {"gpt-4o · gpt-4o"},
            17,
        ),
    ],
)
def test_the_chart_title_and_series_follow_the_grouping(
    client_for, finance_user, november, query, title, labels, total
):
    html = client_for(finance_user).get(f"/chargeback/?month=2026-11{query}").content.decode()
    assert f'<h2 id="chargeback-chart-title">{title}</h2>' in html
    chart = _chart(html)
    assert {s["label"] for s in chart["series"]} == labels
    assert sum(sum(s["values"]) for s in chart["series"]) == pytest.approx(total)


def test_the_month_in_progress_is_projected_from_the_last_days_rate(november):
    report = chargeback_report(scope=EVERY_COST_CENTER, month=NOW.date(), group_by="cost_center")
    projection = chargeback_projection(report=report, now=NOW)

    # To date 31; the last 7 days 21 (10 and 12 November) -> 31 + 21 / 7 × 16 = 79.
    assert projection.cost == Decimal("79.00")
    assert projection.total_tokens == 1_770 + 770 // 7 * 16
    assert projection.recent.requests == 2

    only_a = chargeback_report(
        scope=EVERY_COST_CENTER,
        month=NOW.date(),
        group_by="subscription",
        filters=ChargebackFilters(subscription="sub-a"),
    )
    assert chargeback_projection(report=only_a, now=NOW).cost == Decimal("33.00")  # 17 + 7 / 7 × 16


def test_the_quota_page_and_chargeback_share_one_rule():
    window = projection_window(month=NOW.date(), now=NOW, days=7)
    assert (window.days_left, window.recent_start) == (Decimal(16), datetime(2026, 11, 8, tzinfo=UTC))
    assert window.cost(to_date=Decimal(17), recent=Decimal(7)) == Decimal("33.00")
    assert window.tokens(to_date=1_700, recent=700) == 3_300


def test_the_recent_window_is_whole_days_and_today_so_far():
    """Seen at noon the window starts at a midnight (no second partial day to read) and the rate
    divides by its real length."""
    window = projection_window(month=NOW.date(), now=NOW + timedelta(hours=12), days=7)
    assert window.recent_start == datetime(2026, 11, 8, tzinfo=UTC)
    assert (window.recent_days, window.days_left) == (Decimal("7.5"), Decimal("15.5"))
    assert window.cost(to_date=Decimal(17), recent=Decimal(15)) == Decimal("48.00")  # 17 + 15 / 7.5 × 15.5
    assert window.tokens(to_date=1_000, recent=750) == 1_000 + 1_550


def test_a_finished_month_has_no_projection(november):
    report = chargeback_report(scope=EVERY_COST_CENTER, month=NOW.date(), group_by="cost_center")
    assert chargeback_projection(report=report, now=datetime(2026, 12, 1, tzinfo=UTC)) is None


def test_the_page_shows_the_projection_only_while_the_month_runs(client_for, finance_user, november):
    with freeze_time(NOW):
        html = client_for(finance_user).get("/chargeback/?month=2026-11").content.decode()
        assert 'data-card="projection"' in html
        assert "USD 79.00" in html
        assert "at the daily rate of the last 7 days and today" in html
    with freeze_time(datetime(2026, 12, 2, tzinfo=UTC)):
        html = client_for(finance_user).get("/chargeback/?month=2026-11").content.decode()
        assert 'data-card="projection"' not in html
