"""Budget owners see their own cost centers: who owns what (``cost_center_scope``) and what the
reads then return (chargeback, closed months, the invoice true-up, usage, people, FOCUS, quotas).

March 2026 (``march_build``): sub-a is charged to RND, sub-b to FIN; the invoice gives sub-a 90.00,
sub-b 40.00 and leaves 24.00 unallocated.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User

from aoai_portal.auth.models import EntraIdentity
from aoai_portal.roles import BUDGET_OWNER, FINANCE, REVIEWER
from costs.focus import month_focus_rows
from tests.factories import budget_owner_create, tier_add
from tests.support.true_up_data import march_build
from usage.chargeback.scope import EVERY_COST_CENTER, NO_COST_CENTER, CostCenterScope, cost_center_scope
from usage.chargeback.selectors.groups import ChargebackFilters
from usage.chargeback.selectors.reports import chargeback_report
from usage.chargeback.services import chargeback_month_close
from usage.models import CostCenter, CostCenterOwner

pytestmark = pytest.mark.django_db
FIN_ONLY = CostCenterScope(codes=frozenset({"FIN"}))
MARCH = datetime(2026, 3, 1, tzinfo=UTC).date()
GROUP_ID = "3f2a8c1e-0000-4000-8000-00000000f1a0"


def _user(username: str, *roles: str, email: str = "") -> User:
    user = User.objects.create_user(username=username, password=None, email=email)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return User.objects.get(pk=user.pk)


def _own(code: str, kind: str, value: str) -> None:
    CostCenterOwner.objects.create(cost_center=CostCenter.objects.get(code=code), kind=kind, value=value)


# --- Who owns what ------------------------------------------------------------------------------


def test_finance_and_admin_see_every_cost_center_and_others_none(admin_user):
    march_build(invoice=False)
    assert cost_center_scope(user=_user("f", FINANCE)) == EVERY_COST_CENTER
    assert cost_center_scope(user=admin_user) == EVERY_COST_CENTER
    assert cost_center_scope(user=_user("r", REVIEWER)) == NO_COST_CENTER
    assert cost_center_scope(user=_user("nobody")) == NO_COST_CENTER
    # Finance who also owns a cost center still sees everything.
    both = _user("fb", FINANCE, BUDGET_OWNER)
    _own("FIN", "user", "fb")
    assert cost_center_scope(user=both).is_everything


def test_a_budget_owner_is_matched_by_username_email_object_id_or_group():
    march_build(invoice=False)
    CostCenter.objects.create(code="OPS", name="Operations")
    by_name = _user("Bea", BUDGET_OWNER)
    _own("FIN", "user", " BEA ")  # kept lower-case and trimmed
    assert cost_center_scope(user=by_name).codes == {"FIN"}

    by_mail = _user("carl", BUDGET_OWNER, email="Carl@Contoso.example")
    _own("RND", "user", "carl@contoso.example")
    assert cost_center_scope(user=by_mail).codes == {"RND"}

    by_entra = _user("dana", BUDGET_OWNER)
    EntraIdentity.objects.create(
        user=by_entra, tenant_id="t", object_id="AAAA-OID", last_groups_claim=[GROUP_ID.upper()]
    )
    _own("FIN", "user", "aaaa-oid")
    _own("OPS", "group", GROUP_ID)
    assert cost_center_scope(user=by_entra).codes == {"FIN", "OPS"}

    # The role without an owner row sees nothing; an owner row without the role opens nothing.
    assert cost_center_scope(user=_user("eve", BUDGET_OWNER)).codes == frozenset()
    _own("FIN", "user", "frank")
    assert cost_center_scope(user=_user("frank")) == NO_COST_CENTER


# --- What the reads return -------------------------------------------------------------------


def test_the_report_keeps_only_the_scope_s_lines_open_and_closed(finance_user):
    march_build()
    for closing in (True, False):
        report = chargeback_report(month=MARCH, group_by="subscription", scope=FIN_ONLY)
        assert [row.group for row in report.rows] == ["sub-b"]
        assert report.totals.cost == Decimal("0.50")
        # Another cost center asked by name is empty, not shown.
        other = chargeback_report(
            month=MARCH, group_by="subscription", scope=FIN_ONLY, filters=ChargebackFilters(cost_center="RND")
        )
        assert other.rows == [] and other.totals.cost == 0
        unassigned = chargeback_report(
            month=MARCH, group_by="cost_center", scope=FIN_ONLY, filters=ChargebackFilters(cost_center="")
        )
        assert unassigned.rows == []
        if closing:  # the second pass reads the frozen snapshot
            chargeback_month_close(month=MARCH, user=finance_user, warnings_confirmed=True)
    assert chargeback_report(month=MARCH, group_by="cost_center", scope=FIN_ONLY).is_closed


def test_the_focus_rows_of_a_budget_owner_are_their_subscriptions_with_their_invoice_share():
    march_build()
    rows = month_focus_rows(month=MARCH, scope=FIN_ONLY)
    assert {row["x_ApimSubscriptionId"] for row in rows} == {"sub-b"}
    assert {row["x_CostCenter"] for row in rows} == {"FIN"}
    assert sum(row["BilledCost"] for row in rows) == Decimal("40.00")
    everything = month_focus_rows(month=MARCH, scope=EVERY_COST_CENTER)
    assert sum(row["BilledCost"] for row in everything) == Decimal("154.00")


def test_the_api_answers_a_budget_owner_with_their_cost_center_and_its_invoice_share(client):
    march_build()
    owner = budget_owner_create("bea", owns=("FIN",))
    client.force_login(owner)
    for group_by in ("cost_center", "subscription", "deployment", "model"):
        response = client.get(f"/api/v1/chargeback?month=2026-03&group_by={group_by}")
        assert response.status_code == 200
        data = response.json()
        assert "sub-a" not in response.content.decode() and "RND" not in response.content.decode()
        assert data["totals"]["cost"] == "0.50000000"
        assert data["totals"]["invoiced_cost"] == "40.00000000"
        rows = {row["group"]: row for row in data["rows"]}
        assert rows["(unallocated)"]["invoiced_cost"] == "0.00000000"
        assert sum(Decimal(row["invoiced_cost"]) for row in data["rows"]) == Decimal("40.00")
    data = client.get("/api/v1/chargeback?month=2026-03&group_by=cost_center").json()
    assert [row["group"] for row in data["rows"]] == ["FIN", "(unallocated)"]

    usage = client.get("/api/v1/usage?from=2026-03-01&to=2026-04-01&group_by=subscription").json()
    assert {row["group"] for row in usage["rows"]} == {"sub-b"}
    assert usage["totals"]["cost"] == "0.50000000"


def test_quotas_show_a_budget_owner_their_subscriptions_only(client):
    march_build(invoice=False)
    tier_add("Gold")
    owner = budget_owner_create("bea", owns=("FIN",))
    client.force_login(owner)
    data = client.get("/api/v1/quotas?month=2026-03").json()
    assert [row["apim_subscription_id"] for row in data["rows"]] == ["sub-b"]
    page = client.get("/quotas/?month=2026-03").content.decode()
    assert "sub-b" in page and "sub-a" not in page
