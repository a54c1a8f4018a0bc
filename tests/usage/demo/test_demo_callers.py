"""The demo's traffic names its callers: "People and apps" shows a dozen people and two
applications, and APIM's managed identity (on the native rows) is never taken for a caller."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from usage.chargeback.scope import EVERY_COST_CENTER
from usage.chargeback.selectors.identities import identity_usage
from usage.demo.catalog import APIM_MANAGED_IDENTITY, APPLICATIONS, PEOPLE
from usage.demo.data import generate_logs
from usage.demo.site import demo_cost_centers_seed
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest

START = datetime(2026, 11, 4, 8, tzinfo=UTC)
END = START + timedelta(hours=3)


@pytest.mark.django_db
def test_the_demo_traffic_shows_a_dozen_people_and_two_applications():
    demo_cost_centers_seed()
    logs = generate_logs(start=START, end=END, requests_per_hour=150, seed=3, malformed=False)
    for table in (GATEWAY, NATIVE, LLM_LOG):
        rows_store(table=table, rows=logs[table], source="demo")

    rows = identity_usage(scope=EVERY_COST_CENTER, begin=START, end=END)
    kinds = Counter(row.kind for row in rows)
    assert kinds["user"] == len(PEOPLE) == 12 and kinds["application"] == len(APPLICATIONS) == 2
    assert {row.object_id for row in rows if row.kind} == {c.object_id for c in (*PEOPLE, *APPLICATIONS)}
    assert APIM_MANAGED_IDENTITY not in {row.object_id for row in rows}
    sources = Counter(GatewayRequest.objects.values_list("caller_source", flat=True))
    assert sources["header-backend"] > sources["header-frontend"] > 0
    assert sources["apim-user"] > 0 and sources[""] > 0  # batch jobs: no header, APIM administrator
    assert "native" not in sources
