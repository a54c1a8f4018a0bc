"""The invoice true-up per person: each subscription's share over its callers (caller_object_id),
exactly; requests without a caller are (unidentified)."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.support.costs_data import gateway_request
from usage.chargeback.invoices import InvoicedMonth
from usage.chargeback.selectors.true_up import person_true_up
from usage.models import NamedIdentity

pytestmark = pytest.mark.django_db


def test_each_subscriptions_share_goes_to_its_callers_by_computed_cost():
    gateway_request(subscription="sub-a", prompt=100, cost="2.00", caller_object_id="oid-ann")
    gateway_request(subscription="sub-a", prompt=100, cost="1.00", caller_object_id="oid-bob")
    gateway_request(subscription="sub-a", prompt=100, cost="1.00", caller_object_id="oid-bob")
    gateway_request(subscription="sub-b", prompt=300, cost="0", caller_object_id="oid-ann")
    gateway_request(subscription="sub-b", prompt=100, cost="0")
    # Another month: not counted.
    gateway_request(subscription="sub-a", prompt=100, cost="50.00", caller_object_id="oid-zed",
                    time=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))  # fmt: skip
    NamedIdentity.objects.create(object_id="oid-ann", display_name="Ann")
    invoiced = InvoicedMonth(
        total=Decimal("110.00000001"),
        by_subscription={"sub-a": Decimal("10.00000001"), "sub-b": Decimal("80"), "sub-gone": Decimal("5")},
        unallocated=Decimal("15"),
    )
    result = person_true_up(month=dt.date(2026, 3, 1), invoiced=invoiced)
    # sub-a by cost 2 : 2 (the odd unit to the first key); sub-b costs nothing: by tokens 300 : 100.
    assert result.by_group == {
        "oid-ann": Decimal("5.00000001") + Decimal("60"),
        "oid-bob": Decimal("5.00000000"),
        "(unidentified)": Decimal("20"),
        "(unallocated)": Decimal("20"),  # 15 unallocated + sub-gone's 5 (no request in the log)
    }
    assert sum(result.by_group.values()) == invoiced.total
    assert result.labels["oid-ann"] == "Ann" and result.labels["oid-bob"] == "oid-bob"
