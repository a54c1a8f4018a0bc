"""The chargeback API's invoice true-up: invoiced figures per row, to the cent, adding up to the invoice."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.support.costs_data import cost_line, gateway_request
from tests.support.true_up_data import march_build
from usage.models import GatewayRequest
from usage.rollups.hourly import rollup_refresh_hours

pytestmark = pytest.mark.django_db
URL = "/api/v1/chargeback?month=2026-03&group_by="


def _get(client, group_by: str) -> dict:
    response = client.get(URL + group_by)
    assert response.status_code == 200, response.content
    return response.json()


def _invoiced(data: dict) -> dict[str, Decimal]:
    return {row["group"]: Decimal(row["invoiced_cost"]) for row in data["rows"]}


def _adds_up(data: dict) -> None:
    assert sum(Decimal(row["invoiced_cost"]) for row in data["rows"]) == Decimal(
        data["totals"]["invoiced_cost"]
    )
    assert sum(Decimal(row["true_up"]) for row in data["rows"]) == Decimal(data["totals"]["true_up"])
    for row in [*data["rows"], data["totals"]]:
        assert Decimal(row["true_up"]) == Decimal(row["invoiced_cost"]) - Decimal(row["cost"])


def test_rows_get_their_subscriptions_share_to_the_cent(client_for, finance_user):
    march_build()
    client = client_for(finance_user)
    data = _get(client, "subscription")
    # input 100.00 by 4000 : 1000, output 30.00 by 100 : 200; batch and aoai-france unallocated.
    assert _invoiced(data) == {
        "sub-a": Decimal("90.00"),
        "sub-b": Decimal("40.00"),
        "(unallocated)": Decimal("24.00"),
    }
    assert data["totals"]["invoiced_cost"] == "154.00000000"
    assert data["totals"]["true_up"] == "151.50000000"  # 154.00 - 2.50 computed
    rows = {row["group"]: row for row in data["rows"]}
    assert rows["sub-a"]["true_up"] == "88.00000000"
    assert rows["(unallocated)"]["cost"] == "0.00000000" and rows["(unallocated)"]["requests"] == 0
    _adds_up(data)

    data = _get(client, "cost_center")
    assert _invoiced(data) == {
        "RND": Decimal("90.00"),
        "FIN": Decimal("40.00"),
        "(unallocated)": Decimal("24.00"),
    }
    _adds_up(data)

    # sub-a's 90.00 by its computed cost per deployment (1.50 : 0.50), sub-b's 40.00 all on chat.
    data = _get(client, "deployment")
    assert _invoiced(data) == {
        "chat": Decimal("107.50"),
        "chat2": Decimal("22.50"),
        "(unallocated)": Decimal("24.00"),
    }
    _adds_up(data)

    data = _get(client, "model")
    assert _invoiced(data) == {"gpt-4o": Decimal("130.00"), "(unallocated)": Decimal("24.00")}
    _adds_up(data)


def test_uneven_shares_add_up_exactly_with_the_largest_remainder(client_for, finance_user):
    for deployment in ("d1", "d2", "d3"):
        gateway_request(subscription="sub-a", deployment=deployment, prompt=1000, cost="1.00")
    rollup_refresh_hours(hours={r.time for r in GatewayRequest.objects.all()})
    cost_line(billed_cost=Decimal("0.10"))
    data = _get(client_for(finance_user), "deployment")
    assert _invoiced(data) == {
        "d1": Decimal("0.03333334"),
        "d2": Decimal("0.03333333"),
        "d3": Decimal("0.03333333"),
        "(unallocated)": Decimal(0),
    }
    _adds_up(data)


def test_invoiced_is_null_before_any_export_covers_the_month(client_for, finance_user):
    gateway_request(subscription="sub-a", prompt=1000, cost="1.00")
    rollup_refresh_hours(hours={r.time for r in GatewayRequest.objects.all()})
    cost_line(billed_cost=Decimal("9.00"), date=dt.date(2026, 4, 1), billing_period=dt.date(2026, 4, 1))
    data = _get(client_for(finance_user), "subscription")
    assert data["totals"]["invoiced_cost"] is None and data["totals"]["true_up"] is None
    assert [(row["group"], row["invoiced_cost"], row["true_up"]) for row in data["rows"]] == [
        ("sub-a", None, None)
    ]


def test_a_subscription_billed_without_rows_in_the_report_keeps_its_share(client_for, finance_user):
    # The request is in the logs but not in the rollups the chargeback reads (not yet refreshed).
    gateway_request(subscription="sub-z", prompt=1000, cost="1.00")
    cost_line(billed_cost=Decimal("5.00"))
    client = client_for(finance_user)
    assert _invoiced(_get(client, "subscription")) == {"sub-z": Decimal("5.00"), "(unallocated)": Decimal(0)}
    assert _invoiced(_get(client, "cost_center")) == {"": Decimal("5.00"), "(unallocated)": Decimal(0)}
    assert _invoiced(_get(client, "model")) == {"(unallocated)": Decimal("5.00")}
