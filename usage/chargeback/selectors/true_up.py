"""A month's invoice spread over the rows of a chargeback report (the true-up).

The invoice comes per APIM subscription (``usage.chargeback.invoices``). A subscription's share goes
to the report's rows in proportion to the computed cost of its lines in each row (by tokens when
its lines cost nothing), exactly: largest remainder at 8 places. So cost centers get the sum of
their subscriptions' shares, and deployments and models the part their traffic computed. A share
whose subscription has no line in the report goes to the subscription's own row (group_by
subscription), to its cost center (group_by cost_center), else to ``(unallocated)``, as does the
part of the invoice no subscription was allocated. Rows plus ``(unallocated)`` add up exactly to
the month's invoice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from ..invoices import InvoicedMonth, shares_split
from ..scope import CostCenterScope
from .reports import Report, group_key

UNALLOCATED_GROUP = "(unallocated)"
UNALLOCATED_LABEL = "Unallocated (invoice lines no request explains)"


@dataclass
class TrueUp:
    total: Decimal
    by_group: dict[str, Decimal] = field(default_factory=dict)
    # Groups that got an invoiced share but have no row in the report: group -> label.
    new_groups: dict[str, str] = field(default_factory=dict)

    def invoiced(self, group: str) -> Decimal:
        return self.by_group.get(group, Decimal(0))


def report_true_up(*, report: Report, invoiced: InvoicedMonth) -> TrueUp:
    """``invoiced`` spread over ``report``'s groups; ``by_group`` always has ``(unallocated)``."""
    resolve = report.resolve
    assert resolve is not None, "report_true_up needs a report from chargeback_report"
    invoiced = invoiced_in_scope(invoiced, report=report, scope=report.scope)
    costs: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    tokens: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    labels: dict[str, str] = {}
    for line in report.lines:
        ref = resolve(line.subscription, line.product)
        if not report.filters.matches(line, ref):
            continue
        key, label = group_key(report.group_by, line, ref)
        labels.setdefault(key, label)
        costs[line.subscription][key] += line.measures.cost_exact
        tokens[line.subscription][key] += line.measures.total_tokens
    result = TrueUp(total=invoiced.total)
    by_group: dict[str, Decimal] = defaultdict(Decimal)
    by_group[UNALLOCATED_GROUP] += invoiced.unallocated
    for subscription, amount in sorted(invoiced.by_subscription.items()):
        weights = costs.get(subscription, {})
        if not any(w > 0 for w in weights.values()):
            weights = tokens.get(subscription, {})
        if any(w > 0 for w in weights.values()):
            for key, share in shares_split(amount=amount, weights=dict(weights)).items():
                by_group[key] += share
            continue
        key, label = _fallback(report, subscription)
        by_group[key] += amount
        if key not in labels and key != UNALLOCATED_GROUP:
            labels[key] = result.new_groups[key] = label
    result.by_group = dict(by_group)
    return result


def invoiced_in_scope(invoiced: InvoicedMonth, *, report: Report, scope: CostCenterScope) -> InvoicedMonth:
    """The part of the invoice a limited scope may see: its subscriptions' shares, no unallocated.

    A subscription is in scope when one of the (already scoped) report's lines is its own, or when
    its own assignment charges it to a cost center in scope.
    """
    if scope.is_everything:
        return invoiced
    resolve = report.resolve
    assert resolve is not None
    seen = {line.subscription for line in report.lines}
    kept = {
        subscription: amount
        for subscription, amount in invoiced.by_subscription.items()
        if subscription in seen or scope.allows(resolve(subscription, "").code)
    }
    return InvoicedMonth(total=sum(kept.values(), Decimal(0)), by_subscription=kept)


def _fallback(report: Report, subscription: str) -> tuple[str, str]:
    """Where a subscription's share goes when none of the report's lines is its own."""
    if report.group_by == "subscription":
        return subscription, subscription or "(no subscription)"
    if report.group_by == "cost_center" and report.resolve is not None:
        ref = report.resolve(subscription, "")
        return ref.code, ref.name
    return UNALLOCATED_GROUP, UNALLOCATED_LABEL
