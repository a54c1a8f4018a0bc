"""Matching invoice lines to requests and spreading them over subscriptions, to the cent and exactly."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costs.allocation import month_allocate, shares_split
from costs.matching import accounts_match, month_usage
from costs.models import AccountMapping
from costs.services import cost_file_import
from tests.costs.test_costs_import import APIM, EA, STORAGE, ea_row, write_csv
from tests.support.costs_data import ACCOUNT, cost_line, gateway_request

MARCH = dt.date(2026, 3, 1)
OTHER_ACCOUNT = ACCOUNT.replace("aoai-sweden", "aoai-france")


def test_shares_add_up_exactly_with_the_largest_remainders():
    assert shares_split(amount=Decimal("0.10"), weights={"b": Decimal(1), "a": Decimal(1), "c": Decimal(1)}) == {
        "a": Decimal("0.03333334"),
        "b": Decimal("0.03333333"),
        "c": Decimal("0.03333333"),
    }
    assert shares_split(amount=Decimal("-5"), weights={"a": Decimal(1), "b": Decimal(3)}) == {
        "a": Decimal("-1.25"),
        "b": Decimal("-3.75"),
    }
    with pytest.raises(ValueError, match="8 decimal places"):
        shares_split(amount=Decimal("0.000000001"), weights={"a": Decimal(1)})


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    amount=st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=8),
    weights=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=8).filter(any),
)
def test_shares_always_add_up_to_the_amount(amount, weights):
    split = shares_split(amount=amount, weights={f"s{i}": Decimal(w) for i, w in enumerate(weights)})
    assert sum(split.values(), Decimal(0)) == amount
    assert all(share.as_tuple().exponent >= -8 for share in split.values())


def _known_month():
    """Two subscriptions on aoai-sweden; the invoice is 20% under the list prices (a discount)."""
    # sub-a: 3000 uncached prompt tokens, 0 cached, 100 completion; sub-b: 1000 uncached + 500
    # cached, 200 completion (reasoning included). Computed (list) cost: 1.50 and 0.50.
    gateway_request(subscription="sub-a", prompt=3000, completion=100, cost="1.50")
    gateway_request(subscription="sub-b", prompt=1500, cached=500, completion=200, cost="0.50",
                    native_resource_id=ACCOUNT.upper())  # fmt: skip
    gateway_request(subscription="sub-a", model="gpt-4o-mini", prompt=10, cost="0.01")
    # Outside the month: not counted.
    gateway_request(subscription="sub-c", prompt=10**6, cost="99", time=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    gateway_request(subscription="sub-c", prompt=10**6, cost="99",
                    time=dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC))  # fmt: skip
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("100.00"))
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("0.01"), date=dt.date(2026, 3, 31))
    cost_line(meter_name="gpt 4o 1120 cached Inp glbl Tokens", billed_cost=Decimal("10.00"))
    cost_line(meter_name="gpt 4o 1120 Outp glbl Tokens", billed_cost=Decimal("33.33"),
              effective_cost=Decimal("30.00"))  # fmt: skip
    cost_line(meter_name="Provisioned Managed Global Unit", billed_cost=Decimal("500.00"), unit_of_measure="1 Hour")
    cost_line(meter_name="gpt 4o 1120 Batch Inp glbl Tokens", billed_cost=Decimal("4.00"))
    cost_line(meter_name="gpt 4.1 Inp glbl Tokens", billed_cost=Decimal("2.00"))  # no gpt-4.1 request
    cost_line(meter_name="gpt 4o weirdly-worded glbl Tokens", billed_cost=Decimal("1.00"))
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("20.00"), resource_id=OTHER_ACCOUNT)
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("7.00"), date=dt.date(2026, 4, 1))


def test_a_month_is_spread_by_tokens_of_the_lines_kind_and_by_cost_for_ptu(db):
    _known_month()
    allocation = month_allocate(month=MARCH)
    shares = {(s.meter_name, s.subscription): s.amount for s in allocation.shares}
    assert shares == {
        # input: 100.01 by uncached prompt tokens 3000 : 1000
        ("gpt 4o 1120 Inp glbl Tokens", "sub-a"): Decimal("75.00750000"),
        ("gpt 4o 1120 Inp glbl Tokens", "sub-b"): Decimal("25.00250000"),
        # cached input: only sub-b sent cached tokens
        ("gpt 4o 1120 cached Inp glbl Tokens", "sub-b"): Decimal("10.00"),
        # output: the amortized 30.00 by completion tokens 100 : 200
        ("gpt 4o 1120 Outp glbl Tokens", "sub-a"): Decimal("10.00"),
        ("gpt 4o 1120 Outp glbl Tokens", "sub-b"): Decimal("20.00"),
        # PTU hours by computed cost of the account, every model: 1.51 : 0.50
        ("Provisioned Managed Global Unit", "sub-a"): Decimal("375.62189055"),
        ("Provisioned Managed Global Unit", "sub-b"): Decimal("124.37810945"),
    }
    unallocated = {(u.resource_id, u.meter_name): (u.amount, u.reason) for u in allocation.unallocated}
    assert unallocated == {
        (ACCOUNT, "gpt 4o 1120 Batch Inp glbl Tokens"): (
            Decimal("4.00"), "batch: batch calls are not logged per request"
        ),
        (ACCOUNT, "gpt 4.1 Inp glbl Tokens"): (Decimal("2.00"), "no input tokens of gpt-4.1 went to this account"),
        (ACCOUNT, "gpt 4o weirdly-worded glbl Tokens"): (
            Decimal("1.00"), "meter not read (unknown word 'weirdly'); an admin maps it under Meter mappings"
        ),
        (OTHER_ACCOUNT, "gpt 4o 1120 Inp glbl Tokens"): (
            Decimal("20.00"), "no request went to this account this month"
        ),
    }  # fmt: skip
    assert allocation.total == Decimal("100.01") + 10 + 30 + 500 + 4 + 2 + 1 + 20
    assert sum((s.amount for s in allocation.shares), allocation.unallocated_amount) == allocation.total
    by_subscription = allocation.by_subscription()
    assert by_subscription == {"sub-a": Decimal("460.62939055"), "sub-b": Decimal("179.38060945")}
    # To the cent: what finance sees.
    assert {k: v.quantize(Decimal("0.01")) for k, v in by_subscription.items()} == {
        "sub-a": Decimal("460.63"),
        "sub-b": Decimal("179.38"),
    }


def test_an_admin_mapping_brings_an_account_reached_under_another_host(db):
    gateway_request(subscription="sub-a", prompt=100, host="gateway.contoso.internal")
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("1.00"))
    assert month_allocate(month=MARCH).unallocated[0].reason == "no request went to this account this month"
    AccountMapping.objects.create(resource_id=ACCOUNT.upper(), backend_host="Gateway.Contoso.Internal")
    allocation = month_allocate(month=MARCH)
    assert [(s.subscription, s.amount) for s in allocation.shares] == [("sub-a", Decimal("1.00"))]


def test_requests_match_by_native_resource_id_first_then_by_host(db):
    # Native row of another account: not this account's, whatever the host says.
    gateway_request(subscription="sub-x", prompt=5, native_resource_id=OTHER_ACCOUNT)
    gateway_request(subscription="sub-y", prompt=7, host="AOAI-SWEDEN.openai.azure.com")
    gateway_request(subscription="sub-z", prompt=9, host="aoai-sweden.cognitiveservices.azure.com")
    gateway_request(subscription="sub-w", prompt=11, host="aoai-sweden-2.openai.azure.com")
    usage = month_usage(month=MARCH)
    matched = accounts_match(resource_ids=[ACCOUNT, OTHER_ACCOUNT], usage=usage)
    assert sorted(u.subscription for u in matched[ACCOUNT]) == ["sub-y", "sub-z"]
    assert [u.subscription for u in matched[OTHER_ACCOUNT]] == ["sub-x"]


def test_an_imported_export_with_storage_and_apim_lines_allocates_only_azure_openai(db, tmp_path):
    gateway_request(subscription="sub-a", prompt=300, completion=10, cost="0.75")
    gateway_request(subscription="sub-b", prompt=100, completion=30, cost="0.25")
    rows = [
        ea_row("03/05/2026", "gpt 4o 1120 Inp glbl Tokens", "0.80"),
        ea_row("03/05/2026", "gpt 4o 1120 Outp glbl Tokens", "0.32"),
        ea_row("03/05/2026", "Hot LRS Write Operations", "9.99", resource=STORAGE, category="Storage", sub="Blob"),
        ea_row("03/05/2026", "Developer Unit", "1.60", resource=APIM, category="API Management", sub=""),
    ]
    cost_file_import(path=write_csv(tmp_path / "march.csv", EA, rows))
    allocation = month_allocate(month=MARCH)
    assert allocation.total == Decimal("1.12")
    assert allocation.by_subscription() == {"sub-a": Decimal("0.68"), "sub-b": Decimal("0.44")}
    assert allocation.unallocated == []
