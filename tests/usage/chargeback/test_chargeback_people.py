"""Chargeback by person: the API's group_by=person, "People and apps" with its drill-down, and
the person exports, over generated traffic whose callers come from every identity source."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import override_settings

from tests.usage.identity.traffic import GATEWAY_OID, identity_logs, person
from usage.chargeback.scope import EVERY_COST_CENTER
from usage.chargeback.selectors.identities import identity_usage
from usage.chargeback.selectors.people import UNIDENTIFIED
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, NATIVE
from usage.measures import CHARGEBACK_MEASURES
from usage.models import CostCenter, CostCenterAssignment, GatewayRequest, NamedIdentity

pytestmark = pytest.mark.django_db

MONTH = "2026-11"
HYPERLINK = '=HYPERLINK("http://evil.example/","click")'


@pytest.fixture
def traffic(settings):
    settings.PORTAL_GATEWAY_IDENTITIES = [GATEWAY_OID]
    logs, expected = identity_logs()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=NATIVE, rows=logs[NATIVE])
    legal = CostCenter.objects.create(code="CC-LEGAL", name="Legal")
    CostCenterAssignment.objects.create(kind="subscription", key="sub-legal-review", cost_center=legal)
    NamedIdentity.objects.create(object_id=person(1), display_name="Erin Example", kind="user")
    NamedIdentity.objects.create(object_id="app-client-id-7", display_name=HYPERLINK, kind="application")
    return expected


def _chargeback(client, group_by: str) -> dict:
    response = client.get(f"/api/v1/chargeback?month={MONTH}&group_by={group_by}")
    assert response.status_code == 200, response.content
    return response.json()


def test_person_rows_add_up_to_the_totals_of_every_grouping(client_for, finance_user, traffic):
    client = client_for(finance_user)
    people = _chargeback(client, "person")
    by_cost_center = _chargeback(client, "cost_center")
    rows = {row["group"]: row for row in people["rows"] if row["group"] != "(unallocated)"}
    for name in CHARGEBACK_MEASURES:
        total = sum(Decimal(row[name]) for row in rows.values())
        assert total == Decimal(people["totals"][name]) == Decimal(by_cost_center["totals"][name]), name
    assert Decimal(people["totals"]["cost"]) > 0
    # One row per caller found, the rest in one (unidentified) row.
    callers = {oid for oid, _ in traffic.values() if oid}
    assert set(rows) == callers | {UNIDENTIFIED}
    unidentified = sum(1 for oid, _ in traffic.values() if not oid)
    assert rows[UNIDENTIFIED]["requests"] == unidentified
    assert rows[person(1)]["label"] == "Erin Example" and rows[person(1)]["kind"] == "user"
    assert rows[person(2)]["label"] == person(2) and rows[person(2)]["kind"] is None
    assert GATEWAY_OID not in rows  # the gateway's identity is nobody's


def test_the_portable_path_sums_the_same_as_the_database(traffic):
    from aoai_portal.months import month_bounds, month_parse

    begin, end = month_bounds(month_parse(MONTH))
    fast = identity_usage(scope=EVERY_COST_CENTER, begin=begin, end=end, fast_path=True)
    portable = identity_usage(scope=EVERY_COST_CENTER, begin=begin, end=end, fast_path=False)
    assert [(r.object_id, r.measures) for r in fast] == [(r.object_id, r.measures) for r in portable]
    legal = identity_usage(
        scope=EVERY_COST_CENTER,
        begin=begin,
        end=end,
        fast_path=False,
        filters=_filters(cost_center="CC-LEGAL"),
    )
    assert legal and all(r.cost_center == "CC-LEGAL" for r in legal)
    assert (
        sum(r.measures.requests for r in legal)
        == GatewayRequest.objects.filter(apim_subscription_id="sub-legal-review").count()
    )


def _filters(**values):
    from usage.chargeback.selectors.groups import ChargebackFilters

    return ChargebackFilters(**values)


def test_people_and_apps_lists_callers_and_drills_down_to_their_requests(client_for, finance_user, traffic):
    client = client_for(finance_user)
    page = client.get(f"/chargeback/?month={MONTH}&identities=1").content.decode()
    assert "Erin Example" in page and 'data-kind="application"' in page
    assert GATEWAY_OID not in page
    drill = client.get(f"/chargeback/?month={MONTH}&identities=1&person={person(1)}").content.decode()
    theirs = [c for c, (oid, _) in traffic.items() if oid == person(1)]
    assert theirs and all(f'data-correlation-id="{c}"' in drill for c in theirs[:50])
    others = [c for c, (oid, _) in traffic.items() if oid != person(1)]
    assert not any(f'data-correlation-id="{c}"' in drill for c in others)
    # Finance sees no link to the request page (its text is for reviewers, audited there).
    assert f"/requests/{theirs[0]}/" not in drill


@override_settings(PORTAL_GATEWAY_IDENTITIES=[GATEWAY_OID])
def test_a_reviewer_with_finance_gets_links_to_the_audited_request_page(client_for, traffic):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username="fin-rev", password="pw")
    for role in ("finance", "reviewer"):
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    drill = (
        client_for(user).get(f"/chargeback/?month={MONTH}&identities=1&person={person(1)}").content.decode()
    )
    theirs = [c for c, (oid, _) in traffic.items() if oid == person(1)]
    assert f"/requests/{theirs[0]}/" in drill


def test_person_exports_carry_person_columns_and_neutralise_formulas(client_for, finance_user, traffic):
    client = client_for(finance_user)
    response = client.get(f"/chargeback/export.csv?month={MONTH}&by=person")
    assert response.status_code == 200
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_id = {row["group"]: row for row in table if row["line"] == "row"}
    assert by_id[person(1)]["object_id"] == person(1) and by_id[person(1)]["display_name"] == "Erin Example"
    app = by_id["app-client-id-7"]
    assert app["kind"] == "application" and not app["display_name"].startswith("=")
    assert "HYPERLINK" in app["display_name"]
    assert by_id[UNIDENTIFIED]["object_id"] == ""
    total = next(row for row in table if row["line"] == "total")
    assert sum(Decimal(r["cost_exact"]) for r in by_id.values()) == Decimal(total["cost_exact"])
    xlsx = client.get(f"/chargeback/export.xlsx?month={MONTH}&by=person")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
