"""Which cost center a line is charged to: the subscription's own assignment, else its product's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from ...models import CostCenter, CostCenterAssignment, UsageDaily, UsageHourly
from ...rollups.horizon import hourly_horizon, hourly_range_widened
from ..scope import CostCenterScope

UNASSIGNED_LABEL = "Unassigned"


@dataclass(frozen=True)
class CostCenterRef:
    code: str  # "" = unassigned
    name: str

    @property
    def is_unassigned(self) -> bool:
        return self.code == ""


UNASSIGNED = CostCenterRef("", UNASSIGNED_LABEL)
Resolver = Callable[[str, str], CostCenterRef]


def cost_center_resolver() -> Resolver:
    """``resolve(subscription_id, product_id)``: the subscription's own assignment wins over its product's."""
    by_subscription: dict[str, CostCenterRef] = {}
    by_product: dict[str, CostCenterRef] = {}
    for assignment in CostCenterAssignment.objects.select_related("cost_center"):
        ref = CostCenterRef(assignment.cost_center.code, assignment.cost_center.name)
        target = by_subscription if assignment.kind == CostCenterAssignment.Kind.SUBSCRIPTION else by_product
        target[assignment.key] = ref

    def resolve(subscription_id: str, product_id: str) -> CostCenterRef:
        if subscription_id and subscription_id in by_subscription:
            return by_subscription[subscription_id]
        if product_id and product_id in by_product:
            return by_product[product_id]
        return UNASSIGNED

    return resolve


def cost_center_choices(*, scope: CostCenterScope) -> list[CostCenterRef]:
    """The cost centers ``scope`` may pick from (Unassigned last, for the unlimited scope only)."""
    refs = [CostCenterRef(c.code, c.name) for c in CostCenter.objects.order_by("code")] + [UNASSIGNED]
    return [ref for ref in refs if scope.allows(ref.code)]


def _usage_since(since: datetime | None) -> Iterator[dict]:
    """Per-row subscription, product, hour, requests and cost from ``since`` (None: all): the
    hourly rollup from the hourly horizon on, the daily one before it (a day's rows at its midnight;
    a partial first day there is read whole)."""
    columns = ("apim_subscription_id", "product_id", "requests", "cost")
    horizon = hourly_horizon()
    if since is not None:
        since = hourly_range_widened(begin=since, end=since).begin
    if horizon is not None and (since is None or since < horizon):
        daily = UsageDaily.objects.filter(day__lt=horizon.date())
        if since is not None:
            daily = daily.filter(day__gte=since.date())
        for row in daily.values("day", *columns).iterator():
            yield row | {"hour": datetime.combine(row["day"], time.min, tzinfo=UTC)}
        since = horizon
    hourly = UsageHourly.objects.all() if since is None else UsageHourly.objects.filter(hour__gte=since)
    yield from hourly.values("hour", *columns).iterator()


def unassigned_subscriptions(*, since: datetime | None = None) -> list[dict]:
    """Subscriptions whose usage resolves to no cost center: id, products, requests, cost, last hour
    (before the hourly horizon: the midnight of the last day)."""
    resolve = cost_center_resolver()
    found: dict[str, dict] = {}
    for row in _usage_since(since):
        if not resolve(row["apim_subscription_id"], row["product_id"]).is_unassigned:
            continue
        entry = found.setdefault(
            row["apim_subscription_id"],
            {
                "subscription": row["apim_subscription_id"],
                "products": set(),
                "requests": 0,
                "cost": Decimal(0),
            },
        )
        entry["products"].add(row["product_id"])
        entry["requests"] += row["requests"]
        entry["cost"] += row["cost"]
        entry["last_seen"] = max(entry.get("last_seen", row["hour"]), row["hour"])
    for entry in found.values():
        entry["products"] = sorted(p for p in entry["products"] if p)
    return sorted(found.values(), key=lambda e: (-e["cost"], e["subscription"]))
