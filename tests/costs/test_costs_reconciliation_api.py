"""GET /api/v1/reconciliation: invoice vs computed per account, model and token kind, to the cent,
the variance explained, rows adding up to the totals; finance only; bad months are 400."""

import datetime as dt
from decimal import Decimal

import pytest

from costs.reconciliation import EXPLANATIONS
from tests.support.costs_data import ACCOUNT, cost_line, gateway_request, reconciliation_month

URL = "/api/v1/reconciliation?month=2026-03"
FRANCE = ACCOUNT.replace("aoai-sweden", "aoai-france")


def _rows(data: dict) -> dict[tuple[str, str, str], dict]:
    return {(row["account_name"], row["model"], row["kind"]): row for row in data["rows"]}


def test_it_reconciles_each_account_model_and_kind_to_the_cent(client_for, finance_user):
    reconciliation_month()
    data = client_for(finance_user).get(URL).json()
    assert (data["month"], data["currency"], data["status"], data["covered_through"]) == (
        "2026-03", "USD", "complete", "2026-03-31",
    )  # fmt: skip
    rows = _rows(data)
    # Input: 550k billed for 1.10 (2.00 per 1M); 500k logged at list 1.25. At the invoice's price
    # 500k cost 1.00 (-0.25: the discount); 50k of the gap is within the 100k estimated (+0.10).
    assert rows[("aoai-sweden", "gpt-4o", "input")] == {
        "account": ACCOUNT,
        "account_name": "aoai-sweden",
        "on_invoice": True,
        "model": "gpt-4o",
        "kind": "input",
        "computed_tokens": 500_000,
        "estimated_tokens": 100_000,
        "unpriced_tokens": 0,
        "invoiced_quantity": "550.00000000",
        "unit": "1K",
        "invoiced_tokens": 550_000,
        "computed_cost": "1.25000000",
        "invoiced_cost": "1.10000000",
        "variance": "-0.15000000",
        "explained": {
            "price": "-0.25000000",
            "estimated_tokens": "0.10000000",
            "quantity_gap": "0.00000000",
            "unpriced": "0.00000000",
            "unallocated": "0.00000000",
        },
    }
    # Output, two lines: 250k for 2.00 (8 per 1M); 150k logged (50k estimated) at list 1.50:
    # gap 100k = 50k estimated (0.40) + 50k logs missing (0.40); price -0.30.
    output = rows[("aoai-sweden", "gpt-4o", "output")]
    assert (output["invoiced_tokens"], output["computed_tokens"], output["variance"]) == (
        250_000,
        150_000,
        "0.50000000",
    )
    assert output["explained"] == {
        "price": "-0.30000000",
        "estimated_tokens": "0.40000000",
        "quantity_gap": "0.40000000",
        "unpriced": "0.00000000",
        "unallocated": "0.00000000",
    }
    assert rows[("aoai-sweden", "gpt-4o", "cached_input")]["explained"]["price"] == "-0.02500000"
    # No price for gpt-4o-mini: computed 0, the tokens are worth 0.00015 at the invoice's price.
    mini = rows[("aoai-sweden", "gpt-4o-mini", "input")]
    assert (mini["unpriced_tokens"], mini["computed_cost"]) == (1000, "0.00000000")
    assert mini["explained"]["unpriced"] == "0.00015000"
    assert mini["explained"]["price"] == "0.00000000"
    # PTU: hours against the configured commitment's share: all price.
    ptu = rows[("aoai-sweden", "", "provisioned_hours")]
    assert (ptu["computed_cost"], ptu["invoiced_cost"], ptu["invoiced_tokens"], ptu["unit"]) == (
        "5.00000000", "720.00000000", None, "1 Hour",
    )  # fmt: skip
    assert ptu["explained"]["price"] == "715.00000000"
    # Lines the allocation could not spread.
    assert rows[("aoai-france", "gpt-4o", "input")]["explained"]["unallocated"] == "20.00000000"
    assert rows[("aoai-sweden", "gpt-4o", "batch_input")]["explained"]["unallocated"] == "4.00000000"
    assert rows[("aoai-sweden", "gpt-4o", "unknown")]["explained"]["unallocated"] == "1.00000000"
    # Used, never invoiced: the logs are "extra".
    us = rows[("aoai-us", "gpt-4o", "input")]
    assert (us["on_invoice"], us["account"], us["invoiced_cost"]) == (
        False,
        "aoai-us.openai.azure.com",
        "0.00000000",
    )
    assert us["explained"]["quantity_gap"] == "-0.02500000"
    assert data["totals"] == {
        "computed_tokens": 762_000,
        "computed_cost": "7.90000000",
        "invoiced_cost": "748.20015000",
        "variance": "740.30015000",
        "explained": {
            "price": "714.42500000",
            "estimated_tokens": "0.50000000",
            "quantity_gap": "0.37500000",
            "unpriced": "0.00015000",
            "unallocated": "25.00000000",
        },
    }
    reasons = {(line["account"], line["meter_name"]): line["reason"] for line in data["unallocated"]}
    assert reasons == {
        (FRANCE, "gpt 4o 1120 Inp glbl Tokens"): "no request went to this account this month",
        (ACCOUNT, "gpt 4o 1120 Batch Inp glbl Tokens"): "batch: batch calls are not logged per request",
        (
            ACCOUNT,
            "gpt 4o weirdly-worded glbl Tokens",
        ): "meter not read (unknown word 'weirdly'); an admin maps it under Meter mappings",
    }


def test_rows_add_up_to_the_totals_and_each_variance_is_explained_exactly(client_for, finance_user):
    reconciliation_month()
    data = client_for(finance_user).get(URL).json()
    totals = data["totals"]
    for name in ("computed_cost", "invoiced_cost", "variance"):
        assert sum(Decimal(row[name]) for row in data["rows"]) == Decimal(totals[name])
    for name in EXPLANATIONS:
        assert sum(Decimal(row["explained"][name]) for row in data["rows"]) == Decimal(
            totals["explained"][name]
        )
    for row in [*data["rows"], totals]:
        assert sum(Decimal(v) for v in row["explained"].values()) == Decimal(row["variance"])
        assert Decimal(row["invoiced_cost"]) - Decimal(row["computed_cost"]) == Decimal(row["variance"])
    assert sum(Decimal(line["amount"]) for line in data["unallocated"]) == Decimal(
        totals["explained"]["unallocated"]
    )


def test_the_status_says_how_far_the_exports_cover_the_month(client_for, finance_user):
    client = client_for(finance_user)
    gateway_request(subscription="sub-a", prompt=10, cost="0.01")
    data = client.get(URL).json()
    assert (data["status"], data["covered_through"], data["totals"]["invoiced_cost"]) == (
        "none",
        None,
        "0.00000000",
    )
    assert data["totals"]["computed_cost"] == "0.01000000"
    cost_line(date=dt.date(2026, 3, 14), quantity=Decimal(1), billed_cost=Decimal("0.02"))
    assert (client.get(URL).json()["status"], client.get(URL).json()["covered_through"]) == (
        "partial",
        "2026-03-14",
    )
    cost_line(date=dt.date(2026, 4, 2), billed_cost=Decimal("9"))  # a later export: March is over
    data = client.get(URL).json()
    assert (data["status"], data["covered_through"], data["totals"]["invoiced_cost"]) == (
        "complete", "2026-04-02", "0.02000000",
    )  # fmt: skip
    assert client.get("/api/v1/reconciliation?month=2026-02").json()["status"] == "none"


@pytest.mark.parametrize("query", ["", "?month=", "?month=2026-13", "?month=March", "?month=1999-12"])
def test_a_bad_month_is_a_400_with_the_reason(client_for, finance_user, query):
    response = client_for(finance_user).get("/api/v1/reconciliation" + query)
    assert response.status_code == 400
    assert "month" in response.json()["detail"]


def test_only_finance_and_admin_read_it(
    client, client_for, norole_user, reviewer_user, finance_user, admin_user
):
    assert client.get(URL).status_code == 401
    assert client_for(norole_user).get(URL).status_code == 403
    assert client_for(reviewer_user).get(URL).status_code == 403
    assert client_for(finance_user).get(URL).status_code == 200
    assert client_for(admin_user).get(URL).status_code == 200
