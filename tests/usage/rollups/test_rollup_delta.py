"""New gateway rows are added to the rollups from their own values (RollupDelta, rollup_add): the
rollups end as a recompute of their hours from the request table builds them, without that
recompute reading the request table."""

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

import usage.ingestion.pipeline
from aoai_portal.months import month_bounds
from tests.support.rollup_snapshot import ROLLUP_TABLES, rollup_snapshot
from usage.demo.data import generate_logs
from usage.ingestion.rows import PARSERS
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import (
    Deployment,
    DeploymentType,
    GatewayRequest,
    LlmLogChunk,
    NativeLog,
    ProvisionedCommitment,
    TokensPerMinuteHourly,
    UsageDaily,
    UsageHourly,
)
from usage.rollups.delta import RollupDelta, rollup_add
from usage.rollups.hourly import rollup_refresh_range
from usage.rollups.tokens_per_minute import tokens_per_minute_compute

START = datetime(2026, 11, 2, 22, tzinfo=UTC)  # crosses midnight
END = datetime(2026, 11, 3, 1, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def logs():
    return generate_logs(start=START, end=END, requests_per_hour=120, seed=12)


def _snapshot() -> dict[str, list[tuple]]:
    return rollup_snapshot(ROLLUP_TABLES)


def _store(logs, *, batch_size: int) -> None:
    for table in (NATIVE, LLM_LOG):
        rows_store(table=table, rows=logs[table])
    rows = logs[GATEWAY]
    for start in range(0, len(rows), batch_size):  # as import_logs: one call per batch
        rows_store(table=GATEWAY, rows=rows[start : start + batch_size], batch_size=batch_size)


def test_added_requests_build_what_a_recompute_of_their_hours_builds(logs):
    ptu = _ptu_deployment(logs)  # PTU requests too: priced after they are written, added so
    _store(logs, batch_size=70)  # each hour's rows come in several batches: added to stored rows
    added = _snapshot()
    requests = GatewayRequest.objects.count()
    assert requests > 300
    assert sum(r.requests for r in UsageHourly.objects.all()) == requests
    assert UsageHourly.objects.exclude(last_seen_at=None).exists()  # headroom seen
    assert UsageHourly.objects.exclude(native_duration_hist={}).exists()  # natives joined
    assert TokensPerMinuteHourly.objects.exists() and all(added.values())
    assert GatewayRequest.objects.filter(deployment=ptu, cost__gt=0).exists()

    rollup_refresh_range(start=START - timedelta(hours=1), end=END + timedelta(hours=1))
    assert _snapshot() == added


def test_a_batch_of_new_rows_does_not_aggregate_the_request_table(logs):
    for table in (NATIVE, LLM_LOG):
        rows_store(table=table, rows=logs[table])
    with CaptureQueriesContext(connection) as queries:
        rows_store(table=GATEWAY, rows=logs[GATEWAY][:200])
    aggregates = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "usage_gatewayrequest"' in q["sql"] and "GROUP BY" in q["sql"]
    ]
    assert aggregates == []
    assert sum(r.requests for r in UsageHourly.objects.all()) == GatewayRequest.objects.count()


def test_re_storing_the_same_rows_adds_nothing(logs):
    _store(logs, batch_size=100)
    before = _snapshot()
    _store(logs, batch_size=100)
    assert _snapshot() == before


def test_the_latest_headroom_of_an_hour_is_that_of_its_latest_request():
    delta = RollupDelta()
    hour = datetime(2026, 11, 2, 9, tzinfo=UTC)
    rows = [
        GatewayRequest(
            pk=pk,
            correlation_id=f"c{pk}",
            time=hour + timedelta(minutes=minute),
            response_code=200,
            total_tokens=10,
            ratelimit_remaining_requests=remaining,
            apim_subscription_id="sub",
        )
        for pk, minute, remaining in ((1, 30, 5), (2, 10, 9), (3, 30, 4), (4, 40, None))
    ]
    delta.add(rows, {})
    (rollup,) = delta.hourly.values()
    assert rollup.requests == 4 and rollup.total_tokens == 40
    # Minute 30 twice: the later id wins, as the recompute's (time desc, id desc) picks it.
    assert (rollup.last_seen_at, rollup.ratelimit_remaining_requests) == (hour + timedelta(minutes=30), 4)
    ((key, minutes),) = delta.minutes.items()
    assert key == (hour, "sub") and sorted(m.minute for m in minutes) == [10, 30, 40]
    assert minutes[hour + timedelta(minutes=30)][0] == 20


def test_tokens_per_minute_added_in_two_batches_peak_at_the_earliest_busiest_minute():
    hour = datetime(2026, 11, 2, 9, tzinfo=UTC)
    ids = itertools.count()

    def batch(*minutes_tokens):
        rows = [
            GatewayRequest.objects.create(
                correlation_id=f"r{next(ids)}",
                time=hour + timedelta(minutes=minute),
                response_code=200,
                total_tokens=tokens,
                apim_subscription_id="sub",
                product_id=product,
            )
            for minute, tokens, product in minutes_tokens
        ]
        delta = RollupDelta()
        delta.add(rows, {})
        rollup_add(delta)

    batch((40, 100, "basic"), (50, 0, ""))
    batch((10, 60, "premium"), (10, 40, ""), (50, 0, ""))  # minute 10 ties minute 40, earlier
    (added,) = TokensPerMinuteHourly.objects.values_list(
        "peak_tokens", "peak_minute", "product_id", "tokens_by_minute"
    )
    assert added == (100, hour + timedelta(minutes=10), "premium", {"10": 100, "40": 100})
    (computed,) = tokens_per_minute_compute(GatewayRequest.objects.all())
    assert added == (
        computed.peak_tokens,
        computed.peak_minute,
        computed.product_id,
        computed.tokens_by_minute,
    )


def _ptu_deployment(logs) -> str:
    deployments = Counter(getattr(PARSERS[GATEWAY](row), "deployment", "") for row in logs[GATEWAY])
    ptu, _ = deployments.most_common(1)[0]
    Deployment.objects.create(name=ptu, deployment_type=DeploymentType.PROVISIONED)
    ProvisionedCommitment.objects.create(
        deployment=ptu, month=START.date().replace(day=1), amount=Decimal(5000)
    )
    return ptu


def _requests_scanned(deployment, month, **_ignored) -> int:
    """The month's tokens summed over its requests: what the rollups stand in for."""
    start, end = month_bounds(month)
    requests = GatewayRequest.objects.filter(deployment=deployment, time__gte=start, time__lt=end)
    return requests.aggregate(t=Sum("total_tokens"))["t"] or 0


def test_ptu_shares_of_new_requests_come_from_the_rollups_as_from_the_requests(logs, monkeypatch):
    """Batch after batch the month's tokens so far (rollups + the batch being written) price each
    new PTU request as a sum over the month's requests would."""
    ptu = _ptu_deployment(logs)
    costs = []
    for month_tokens in (usage.ingestion.pipeline.month_tokens_stored, _requests_scanned):
        for model in (GatewayRequest, NativeLog, LlmLogChunk, UsageHourly, UsageDaily, TokensPerMinuteHourly):
            model.objects.all().delete()
        monkeypatch.setattr(usage.ingestion.pipeline, "month_tokens_stored", month_tokens)
        _store(logs, batch_size=70)
        costs.append(
            sorted(GatewayRequest.objects.filter(deployment=ptu).values_list("correlation_id", "cost"))
        )
    by_rollups, by_requests = costs
    assert by_rollups == by_requests
    # Every batch priced at its own share: the rates fell as the month's tokens grew.
    rates = {
        cost / tokens for (_, cost), tokens in zip(by_rollups, _tokens(ptu), strict=True) if tokens and cost
    }
    assert len(rates) > 3


def _tokens(deployment: str) -> list[int]:
    rows = GatewayRequest.objects.filter(deployment=deployment).order_by("correlation_id")
    return list(rows.values_list("total_tokens", flat=True))


def test_pricing_new_ptu_requests_does_not_sum_the_months_requests(logs):
    _ptu_deployment(logs)
    rows_store(table=NATIVE, rows=logs[NATIVE])
    rows_store(table=GATEWAY, rows=logs[GATEWAY][:100])
    with CaptureQueriesContext(connection) as queries:
        rows_store(table=GATEWAY, rows=logs[GATEWAY][100:200])
    sums = [
        q["sql"] for q in queries.captured_queries if 'SUM("usage_gatewayrequest"."total_tokens")' in q["sql"]
    ]
    assert sums == []
    assert GatewayRequest.objects.filter(cost__gt=0).exists()
