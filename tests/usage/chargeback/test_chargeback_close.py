"""Month close: frozen figures, late usage as adjustments, reopen by an admin with a reason."""

import csv
import io
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from aoai_portal.months import month_current
from audit.models import AccessAuditEntry
from tests.support.chargeback_data import (
    BEGIN,
    END,
    MICRO,
    MONTH,
    cents,
    expected_texts,
    page_table,
    request_row,
    requests_store,
    world_build,
)
from usage.chargeback.scope import EVERY_COST_CENTER
from usage.chargeback.selectors.closes import month_is_closed
from usage.chargeback.services import MonthCloseError, chargeback_month_close, chargeback_month_reopen
from usage.models import CostCenter, CostCenterAssignment, MonthClose

pytestmark = pytest.mark.django_db


def late_rows() -> list[dict]:
    rng = random.Random(99)
    return [
        request_row(rng, END - MICRO, 900_001, apim_subscription_id="sub-delta", product_id="prod-ops",
                    response_code=200, is_priced=True, cost=Decimal("12.34567891")),
        request_row(rng, BEGIN + timedelta(days=3), 900_002, apim_subscription_id="sub-golf", product_id="",
                    response_code=200, is_priced=True, cost=Decimal("0.00000009")),
    ]  # fmt: skip


def test_closing_freezes_the_month_and_late_usage_shows_as_adjustments(client_for, finance_user):
    world = world_build()
    client = client_for(finance_user)
    confirm = client.get("/chargeback/close/?month=2026-10")
    assert confirm.status_code == 200 and "Closing freezes these figures" in confirm.content.decode()
    assert not month_is_closed(MONTH)
    response = client.post("/chargeback/close/", {"month": "2026-10", "confirm": "yes"})
    assert response.status_code == 302
    assert month_is_closed(MONTH) and month_is_closed(MONTH + timedelta(days=17))
    close = MonthClose.objects.get()
    assert close.closed_by == finance_user and close.closed_by_name == "fiona"
    assert Decimal(close.snapshot["totals"]["cost"]) == world.total()["cost"]
    assert (
        Decimal(close.snapshot["cost_centers"][""]["cost"])
        == world.expected(lambda r: r["apim_subscription_id"] in ("sub-foxtrot", "sub-golf"))[True]["cost"]
    )

    late = late_rows()
    requests_store(late)
    html = client.get("/chargeback/?month=2026-10").content.decode()
    frozen = page_table(html, "chargeback-rows")
    assert frozen["(total)"] == expected_texts(world.total())  # not silently added
    adjustments = page_table(html, "chargeback-adjustments")
    assert set(adjustments) == {"OPS", "", "(total)"}
    assert adjustments["OPS"]["cost"] == "12.35" and adjustments["OPS"]["requests"] == "1"
    assert adjustments[""]["cost"] == "0.00" and adjustments[""]["requests"] == "1"
    everything = world.total()["cost"] + sum(r["cost"] for r in late)
    assert f"USD {cents(everything):,.2f}" in html

    data = client.get("/api/v1/chargeback?month=2026-10").json()
    assert data["closed"]["closed_by"] == "fiona"
    assert Decimal(data["totals"]["cost"]) == world.total()["cost"]
    assert {row["group"]: Decimal(row["cost"]) for row in data["adjustments"]} == {
        "OPS": Decimal("12.34567891"),
        "": Decimal("0.00000009"),
    }
    assert Decimal(data["adjustment_totals"]["cost"]) == Decimal("12.34567900")
    assert {row["group"]: row["subscription_ids"] for row in data["adjustments"]} == {
        "OPS": ["sub-delta"],
        "": ["sub-golf"],
    }

    exported = list(
        csv.DictReader(io.StringIO(client.get("/chargeback/export.csv?month=2026-10").content.decode()))
    )
    lines = {(row["line"], row["group"]): row for row in exported}
    assert Decimal(lines[("total", "")]["cost_exact"]) == world.total()["cost"]
    assert Decimal(lines[("adjustment", "OPS")]["cost_exact"]) == Decimal("12.34567891")
    effective = lines[("total including adjustments", "")]
    assert (
        Decimal(effective["cost"]) == cents(everything)
        and int(effective["requests"]) == world.total()["requests"] + 2
    )


def test_reassigning_a_subscription_after_close_does_not_change_the_frozen_figures(admin_user):
    world_build()
    chargeback_month_close(month=MONTH, user=admin_user, warnings_confirmed=True)
    CostCenterAssignment.objects.create(
        kind="subscription", key="sub-foxtrot", cost_center=CostCenter.objects.get(code="OPS")
    )
    from usage.chargeback.selectors.reports import chargeback_report

    closed = chargeback_report(scope=EVERY_COST_CENTER, month=MONTH, group_by="cost_center")
    assert "sub-foxtrot" in next(r for r in closed.rows if r.group == "").subscription_ids
    assert closed.adjustments == []


def test_a_month_can_be_closed_only_once_and_only_when_it_is_over(finance_user):
    world_build()
    chargeback_month_close(month=MONTH, user=finance_user, warnings_confirmed=True)
    with pytest.raises(MonthCloseError, match="already closed"):
        chargeback_month_close(month=MONTH, user=finance_user, warnings_confirmed=True)
    with pytest.raises(MonthCloseError, match="not over yet"):
        chargeback_month_close(month=month_current(), user=finance_user, warnings_confirmed=True)


def test_only_an_admin_can_reopen_and_only_with_a_reason(client_for, finance_user, admin_user):
    world = world_build()
    chargeback_month_close(month=MONTH, user=finance_user, warnings_confirmed=True)
    finance = client_for(finance_user)
    assert finance.post("/chargeback/reopen/?month=2026-10", {"reason": "please"}).status_code == 403
    with pytest.raises(PermissionDenied):
        chargeback_month_reopen(month=MONTH, user=finance_user, reason="please")
    assert month_is_closed(MONTH)

    admin = client_for(admin_user)
    response = admin.post("/chargeback/reopen/?month=2026-10", {"reason": "   "})
    assert response.status_code == 400
    assert "A reason is required" in response.content.decode()
    assert month_is_closed(MONTH)
    assert not AccessAuditEntry.objects.filter(action="reopen_month").exists()

    response = admin.post("/chargeback/reopen/?month=2026-10", {"reason": "Late invoices from October"})
    assert response.status_code == 302
    assert not month_is_closed(MONTH)
    close = MonthClose.objects.get()
    assert close.reopened_by == admin_user and close.reopen_reason == "Late invoices from October"
    entry = AccessAuditEntry.objects.get(action="reopen_month")
    assert entry.user == admin_user and entry.reason == "Late invoices from October"
    assert entry.detail["month"] == "2026-10"

    # Reopened: late usage counts straight away, no adjustment; closing again keeps the history.
    late = late_rows()
    requests_store(late)
    html = admin.get("/chargeback/?month=2026-10").content.decode()
    assert 'id="chargeback-adjustments"' not in html
    total = world.total()["cost"] + sum(r["cost"] for r in late)
    assert page_table(html, "chargeback-rows")["(total)"]["cost"] == f"{cents(total):,.2f}"
    chargeback_month_close(month=MONTH, user=admin_user, warnings_confirmed=True)
    assert MonthClose.objects.filter(month=MONTH).count() == 2
    assert month_is_closed(MONTH)
    assert "Late invoices from October" in admin.get("/chargeback/?month=2026-10").content.decode()


def test_reopening_an_open_month_is_refused(admin_user):
    with pytest.raises(MonthCloseError, match="not closed"):
        chargeback_month_reopen(month=MONTH, user=admin_user, reason="why not")
