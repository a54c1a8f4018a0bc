"""The hourly horizon: months before it are kept by day, and every answer keeps its numbers.

Generated traffic on two old days (the last of September and the first of October) and one
recent day; the clock stands in December, so with PORTAL_HOURLY_ROLLUP_MONTHS=2 the horizon is
November 1st. Answers are taken with the horizon on before the hourly rows are pruned and again
after: chargeback (report and API), latency (API), quotas and the daily rollups must not move.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import usage.rollups.hourly_sql
import usage.rollups.latency_sql
from aoai_portal.months import month_parse
from quotas.selectors.overview import quota_overview
from quotas.services import tier_assign
from tests.factories import tier_add
from tests.support.rollup_snapshot import ROLLUP_TABLES, rollup_snapshot
from usage import tasks as usage_tasks
from usage.chargeback.scope import EVERY_COST_CENTER
from usage.chargeback.selectors.cost_centers import unassigned_subscriptions
from usage.chargeback.selectors.reports import chargeback_report
from usage.demo.data import generate_logs
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import LatencyHourOfDaySpan, LatencyPendingHour, UsageDaily, UsageHourly
from usage.rollups.deferral import latency_rollups_marked
from usage.rollups.horizon import hourly_horizon, hourly_range_widened
from usage.rollups.hourly import rollup_refresh_hours, rollup_refresh_range
from usage.rollups.hourly_prune import hourly_rollups_prune

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
HORIZON = datetime(2026, 11, 1, tzinfo=UTC)
OLD_START, OLD_END = datetime(2026, 9, 30, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)
RECENT_START, RECENT_END = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
SEPTEMBER, OCTOBER = month_parse("2026-09"), month_parse("2026-10")
# Everything but UsageHourly, which the horizon thins out (its recent rows are compared apart).
KEPT_TABLES = tuple(model for model in ROLLUP_TABLES if model is not UsageHourly)


@pytest.fixture(scope="module")
def logs():
    old = generate_logs(start=OLD_START, end=OLD_END, requests_per_hour=12, seed=27)
    recent = generate_logs(start=RECENT_START, end=RECENT_END, requests_per_hour=12, seed=28)
    return {table: old[table] + recent[table] for table in old}


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    # Django's clock only (freezegun's fake datetime class upsets the API's schemas).
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture(params=["fast", "portable"])
def paths(request, monkeypatch):
    """The rollups through PostgreSQL's statements and through the portable ORM path."""
    if request.param == "portable":
        monkeypatch.setattr(usage.rollups.hourly_sql, "HOURLY_SQL_FAST_PATH", False)
        monkeypatch.setattr(usage.rollups.latency_sql, "LATENCY_SQL_FAST_PATH", False)
    return request.param


@pytest.fixture
def stored(logs, settings):
    """The traffic stored with hourly rows kept (as before the months turned), quota tiers set."""
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 0
    for table in (NATIVE, LLM_LOG, GATEWAY):
        rows_store(table=table, rows=logs[table])
    tier = tier_add("Narrow", tpm=400, quota=20_000, budget="1.00", deployments="gpt-4o")
    tier_assign(kind="product", key="research", tier=tier, valid_from=OLD_START - timedelta(days=30))
    return logs


def _recent_hourly() -> list[tuple]:
    fields = [f.name for f in UsageHourly._meta.fields if f.name != "id"]
    return sorted(
        tuple(map(str, row)) for row in UsageHourly.objects.filter(hour__gte=HORIZON).values_list(*fields)
    )


def _answers(client) -> dict:
    """What the pages and the API answer for the old months (and a sub-day range in them)."""
    answers: dict = {}
    for month in (SEPTEMBER, OCTOBER):
        for group_by in ("cost_center", "subscription", "deployment"):
            report = chargeback_report(month=month, group_by=group_by, scope=EVERY_COST_CENTER)
            answers[("report", month, group_by)] = (
                [(row.group, row.label, row.measures) for row in report.rows],
                report.totals,
            )
            api = client.get(f"/api/v1/chargeback?month={month:%Y-%m}&group_by={group_by}")
            answers[("chargeback api", month, group_by)] = api.json()
    for query in (
        "from=2026-09-30&to=2026-10-02&interval=day&group_by=subscription",
        "from=2026-09-30&to=2026-10-02&interval=hour",
        "from=2026-09-30T10:00:00&to=2026-10-01T05:00:00&interval=hour&group_by=deployment",
    ):
        answers[("usage api", query)] = client.get(f"/api/v1/usage?{query}").json()
    for group_by in ("region", "deployment", "hour_of_day", "day"):
        for query in (
            "from=2026-09-01&to=2026-09-30",
            "from=2026-10-01&to=2026-10-31",
            "from=2026-09-01&to=2026-10-31&subscription=sub-batch-jobs",
            "from=2026-09-30T10:00:00&to=2026-09-30T14:00:00",
        ):
            answers[("latency api", group_by, query)] = client.get(
                f"/api/v1/latency?{query}&group_by={group_by}"
            ).json()
    for month, now in (
        (SEPTEMBER, NOW),
        (OCTOBER, NOW),
        (OCTOBER, datetime(2026, 10, 1, 14, 30, tzinfo=UTC)),
    ):
        overview = quota_overview(month=month, now=now, scope=EVERY_COST_CENTER)
        answers[("quotas", month, now)] = (
            [
                (r.apim_subscription_id, r.tokens, r.cost, r.requests, r.throttled_429, r.status)
                + (r.projected_tokens, r.projected_cost, r.peak_tpm)
                for r in overview.rows
            ],
            sorted((d.apim_subscription_id, d.kind, d.observed, d.at) for d in overview.drift),
        )
    answers["unassigned"] = unassigned_subscriptions(since=datetime(2026, 9, 30, 15, tzinfo=UTC))
    return answers


def test_the_horizon_is_the_first_midnight_of_the_oldest_month_kept_hourly(settings):
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    assert hourly_horizon(now=NOW) == HORIZON
    assert hourly_horizon(now=datetime(2027, 1, 1, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 1
    assert hourly_horizon(now=NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 0
    assert hourly_horizon(now=NOW) is None


def test_pruning_keeps_every_answer_and_is_idempotent(stored, settings, finance_user, client):
    client.force_login(finance_user)
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    before, kept, recent = _answers(client), rollup_snapshot(KEPT_TABLES), _recent_hourly()
    assert UsageHourly.objects.filter(hour__lt=HORIZON).exists()

    result = usage_tasks.hourly_rollups_prune()
    assert result["horizon"] == HORIZON.isoformat() and result["days"] == 2 and result["rows"] > 0
    assert not UsageHourly.objects.filter(hour__lt=HORIZON).exists()
    assert UsageHourly.objects.filter(hour__gte=RECENT_START).exists()
    assert rollup_snapshot(KEPT_TABLES) == kept
    assert _recent_hourly() == recent
    assert _answers(client) == before

    again = hourly_rollups_prune()
    assert (again.rows, again.days) == (0, [])
    assert rollup_snapshot(KEPT_TABLES) == kept


def test_whole_day_and_month_answers_are_those_of_hourly_rows_kept_forever(
    stored, settings, finance_user, client
):
    client.force_login(finance_user)
    forever = _answers(client)
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    hourly_rollups_prune()
    pruned = _answers(client)
    whole = [
        key
        for key in forever
        if key[0] in ("report", "chargeback api", "quotas")
        and key[-1] != datetime(2026, 10, 1, 14, 30, tzinfo=UTC)
    ]
    whole += [key for key in forever if key[0] == "latency api" and "T" not in key[2]]
    whole += [key for key in forever if key[0] == "usage api" and "T" not in key[1] and "hour" not in key[1]]
    assert len(whole) > 20
    for key in whole:
        assert pruned[key] == forever[key], key


def test_a_sub_day_range_before_the_horizon_is_read_as_its_whole_day_and_says_so(
    stored, settings, finance_user, client
):
    client.force_login(finance_user)
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    hourly_rollups_prune()
    hours = client.get(
        "/api/v1/latency?from=2026-09-30T10:00:00&to=2026-09-30T14:00:00&group_by=model"
    ).json()
    day = client.get("/api/v1/latency?from=2026-09-30&to=2026-09-30&group_by=model").json()
    assert hours["rows"] == day["rows"] and day["note"] == ""
    assert hours["note"] == "Before 2026-11-01 usage is kept by day; the range was widened to whole days."
    page = client.get("/latency/?from=2026-09-30T10:00:00&to=2026-09-30T14:00:00")
    assert "the range was widened to whole days" in page.content.decode()

    partial = client.get("/api/v1/usage?from=2026-09-30T10:00:00&to=2026-09-30T14:00:00&interval=hour").json()
    whole = client.get("/api/v1/usage?from=2026-09-30&to=2026-10-01&interval=day").json()
    assert partial["totals"] == whole["totals"] and partial["totals"]["requests"] > 0
    assert [row["time"][:10] for row in partial["rows"]] == ["2026-09-30"]  # one bucket: the day
    assert partial["note"].startswith("Before 2026-11-01") and whole["note"] == ""
    recent = client.get("/api/v1/usage?from=2026-11-20T10:00:00&to=2026-11-20T14:00:00&interval=hour").json()
    assert recent["note"] == "" and len(recent["rows"]) == 4  # after the horizon: hours as they are

    read = hourly_range_widened(
        begin=datetime(2026, 10, 31, 22, tzinfo=UTC), end=datetime(2026, 11, 3, 5, tzinfo=UTC)
    )
    assert (read.begin, read.end, read.widened) == (datetime(2026, 10, 31, tzinfo=UTC), read.end, True)
    assert read.end == datetime(2026, 11, 3, 5, tzinfo=UTC)  # a partial day after the horizon stays


def _rebuilt() -> dict:
    """The rollups rebuilt from the requests with the horizon on, then pruned."""
    for model in (*ROLLUP_TABLES, LatencyHourOfDaySpan):
        model.objects.all().delete()
    rollup_refresh_range(start=OLD_START, end=RECENT_END)
    assert UsageHourly.objects.filter(hour__lt=HORIZON).exists()  # rebuilt by the hour ...
    hourly_rollups_prune()  # ... and pruned by the nightly task
    return rollup_snapshot(ROLLUP_TABLES)


def test_a_late_request_in_a_pruned_day_gives_the_rows_of_a_full_rebuild(stored, settings, paths):
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    hourly_rollups_prune()
    late = dict(stored[GATEWAY][5])
    late |= {"CorrelationId": "late-request-1", "TimeGenerated": "2026-09-30T10:30:00.0000000Z"}
    daily_before = UsageDaily.objects.filter(day=OLD_START.date()).count()

    rows_store(table=GATEWAY, rows=[late])  # new requests: the day refreshed whole
    after_late = rollup_snapshot(ROLLUP_TABLES)
    assert not UsageHourly.objects.filter(hour__lt=HORIZON).exists()
    assert UsageDaily.objects.filter(day=OLD_START.date()).count() >= daily_before

    rollup_refresh_hours(hours=[datetime(2026, 9, 30, 10, 30, tzinfo=UTC)])  # a refresh of one hour
    assert rollup_snapshot(ROLLUP_TABLES) == after_late
    assert _rebuilt() == after_late


def test_pending_latency_hours_are_refreshed_before_their_hourly_rows_go(stored, settings):
    with latency_rollups_marked():  # as a backfill leaves them for its last window
        rollup_refresh_hours(hours=[datetime(2026, 10, 1, 7, tzinfo=UTC)])
    assert LatencyPendingHour.objects.exists()
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    hourly_rollups_prune()
    assert not LatencyPendingHour.objects.exists()
    assert rollup_snapshot(ROLLUP_TABLES) == _rebuilt()


def test_the_horizon_off_keeps_every_hourly_row(stored, settings):
    hourly = UsageHourly.objects.count()
    assert hourly_rollups_prune().horizon is None
    rollup_refresh_hours(hours=[datetime(2026, 9, 30, 10, tzinfo=UTC)])
    assert UsageHourly.objects.count() == hourly
    assert UsageHourly.objects.filter(hour__lt=HORIZON).exists()
    read = hourly_range_widened(
        begin=datetime(2026, 9, 30, 10, tzinfo=UTC), end=datetime(2026, 9, 30, 14, tzinfo=UTC)
    )
    assert not read.widened and read.note == ""


def test_a_day_whose_requests_retention_removed_is_left_as_it_is(stored, settings):
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2
    settings.REQUEST_RETENTION_MONTHS = 1  # requests before November are gone (or going)
    hourly_rollups_prune()
    kept = rollup_snapshot(ROLLUP_TABLES)
    rollup_refresh_hours(hours=[datetime(2026, 9, 30, 10, tzinfo=UTC)])  # nothing to recompute from
    assert rollup_snapshot(ROLLUP_TABLES) == kept

    def day_requests() -> int:
        return sum(UsageDaily.objects.filter(day=OLD_START.date()).values_list("requests", flat=True))

    before = day_requests()
    late = dict(stored[GATEWAY][5])
    late |= {"CorrelationId": "late-request-2", "TimeGenerated": "2026-09-30T10:30:00.0000000Z"}
    rows_store(table=GATEWAY, rows=[late])  # added to the day, not a recompute of it
    assert day_requests() == before + 1
    assert not UsageHourly.objects.filter(hour__lt=HORIZON).exists()


def test_history_loaded_before_the_horizon_is_added_by_the_hour_and_pruned_at_night(stored, settings):
    settings.PORTAL_HOURLY_ROLLUP_MONTHS = 2  # the old days still have their hourly rows
    late = dict(stored[GATEWAY][7])
    late |= {"CorrelationId": "late-request-3", "TimeGenerated": "2026-10-01T03:15:00.0000000Z"}
    rows_store(table=GATEWAY, rows=[late])
    assert UsageHourly.objects.filter(hour=datetime(2026, 10, 1, 3, tzinfo=UTC)).exists()
    hourly_rollups_prune()
    assert rollup_snapshot(ROLLUP_TABLES) == _rebuilt()
