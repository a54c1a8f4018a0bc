"""How a chargeback report groups its lines: the filters, the groupings and the key of a line in
each, the row of a group, and the grouping itself (each line in exactly one group, so the groups
add up to the total). ``reports`` builds a month's report from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .cost_centers import CostCenterRef, Resolver
from .lines import ChargebackInputError, Line, Measures
from .people import person_key

# Empty key of a dimension (no subscription, no deployment, unassigned cost center) in URLs.
EMPTY_PARAM = "(none)"
GROUPINGS = ("cost_center", "subscription", "deployment", "model", "deployment_model", "day", "person")


@dataclass(frozen=True)
class ChargebackFilters:
    """Optional filters of a report; ``None`` = not filtered, ``""`` = the empty value."""

    cost_center: str | None = None
    subscription: str | None = None
    deployment: str | None = None
    model: str | None = None

    def matches(self, line: Line, ref: CostCenterRef) -> bool:
        return (
            (self.cost_center is None or ref.code == self.cost_center)
            and (self.subscription is None or line.subscription == self.subscription)
            and (self.deployment is None or line.deployment == self.deployment)
            and (self.model is None or line.model == self.model)
        )


@dataclass
class ReportRow:
    group: str
    label: str
    measures: Measures
    cost_center: str | None = None  # subscription rows: the subscription's cost center code
    cost_center_name: str | None = None
    subscription_ids: list[str] | None = None  # cost center rows: the subscriptions charged to it
    deployment: str | None = None
    model: str | None = None
    kind: str | None = None  # person rows: "user" or "application" when the People table knows the id


def group_key(grouping: str, line: Line, ref: CostCenterRef) -> tuple[str, str]:
    if grouping == "cost_center":
        return ref.code, ref.name
    if grouping == "subscription":
        return line.subscription, line.subscription or "(no subscription)"
    if grouping == "deployment":
        return line.deployment, line.deployment or "(no deployment)"
    if grouping == "model":
        return line.model, line.model or "(unknown model)"
    if grouping == "deployment_model":
        return (
            f"{line.deployment}/{line.model}",
            f"{line.deployment or '(no deployment)'} · {line.model or '(unknown model)'}",
        )
    if grouping == "day":
        return line.bucket.date().isoformat(), line.bucket.strftime("%a %d %b %Y")
    if grouping == "person":
        return person_key(line)
    raise ChargebackInputError(f"group_by must be one of {', '.join(GROUPINGS)}, not {grouping!r}.")


def _group(
    lines: Iterable[Line], *, grouping: str, resolve: Resolver, filters: ChargebackFilters
) -> tuple[dict[str, ReportRow], Measures]:
    groups: dict[str, ReportRow] = {}
    totals = Measures()
    for line in lines:
        ref = resolve(line.subscription, line.product)
        if not filters.matches(line, ref):
            continue
        key, label = group_key(grouping, line, ref)
        row = groups.get(key)
        if row is None:
            row = groups[key] = ReportRow(group=key, label=label, measures=Measures())
            if grouping == "cost_center":
                row.subscription_ids = []
            if grouping == "subscription":
                row.cost_center, row.cost_center_name = ref.code, ref.name
            if grouping == "deployment_model":
                row.deployment, row.model = line.deployment, line.model
        if grouping == "cost_center" and line.subscription not in row.subscription_ids:
            row.subscription_ids.append(line.subscription)
        row.measures.add(line.measures)
        totals.add(line.measures)
    for row in groups.values():
        if row.subscription_ids is not None:
            row.subscription_ids.sort()
    return groups, totals


def group_totals(lines: Iterable[Line], *, resolve: Resolver, filters: ChargebackFilters) -> Measures:
    """The total of the lines ``filters`` keep (what every grouping of them adds up to)."""
    totals = Measures()
    for line in lines:
        if filters.matches(line, resolve(line.subscription, line.product)):
            totals.add(line.measures)
    return totals


def _ordered(rows: Iterable[ReportRow], grouping: str) -> list[ReportRow]:
    if grouping == "day":
        return sorted(rows, key=lambda r: r.group)
    # Biggest spend first; Unassigned is never hidden at the bottom of a tie.
    return sorted(rows, key=lambda r: (-r.measures.cost, -r.measures.total_tokens, r.group))
