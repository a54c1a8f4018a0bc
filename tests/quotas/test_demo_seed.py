"""The demo tiers make the quota page show ok, warning, over and drift on the demo's own usage."""

from datetime import UTC, datetime

import pytest

from aoai_portal.months import month_floor
from quotas.demo import quota_demo_seed
from quotas.selectors.overview import quota_overview
from tests.factories import priced_request_create, rollups_refresh
from usage.chargeback.scope import EVERY_COST_CENTER

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_the_demo_seed_yields_every_status_and_is_idempotent():
    for sub, product, tokens, deployment in (
        ("sub-big", "search", 50_000, "gpt-4o-mini"),
        ("sub-near", "support", 20_000, "gpt-4o-mini"),
        ("sub-over", "research", 10_000, "gpt-4o"),
        ("sub-small", "research", 2_000, "gpt-4o-mini"),
    ):
        for minute in range(4):
            priced_request_create(
                sub=sub,
                product=product,
                at=datetime(2026, 11, 3, 9, minute, tzinfo=UTC),
                tokens=tokens // 4,
                cost="1.00",
                deployment=deployment,
            )
    rollups_refresh()

    assert len(quota_demo_seed(now=NOW)) == 6
    assert quota_demo_seed(now=NOW) == []

    overview = quota_overview(scope=EVERY_COST_CENTER, month=month_floor(NOW), now=NOW)
    statuses = {r.apim_subscription_id: r.status for r in overview.rows}
    assert statuses == {"sub-big": "ok", "sub-near": "warning", "sub-over": "over", "sub-small": "ok"}
    assert {(d.apim_subscription_id, d.kind) for d in overview.drift} >= {
        ("sub-over", "quota"),
        ("sub-over", "deployment"),
        ("sub-small", "tpm"),
    }
