"""A month's close as the reports read it: whether the month is closed and its close history, and
the snapshot frozen at close (built for the close; read back with the cost centers assigned then).
"""

from __future__ import annotations

from datetime import date

from django.conf import settings

from aoai_portal.months import month_bounds, month_floor

from ...models import MonthClose
from .cost_centers import CostCenterRef, Resolver, cost_center_resolver
from .groups import ChargebackFilters, _group
from .lines import usage_lines


def month_close_active(month: date) -> MonthClose | None:
    return (
        MonthClose.objects.filter(month=month_floor(month), reopened_at__isnull=True)
        .select_related("closed_by")
        .first()
    )


def month_is_closed(month: date) -> bool:
    """True while ``month`` (any day in it) is closed; closed months are never repriced."""
    return MonthClose.objects.filter(month=month_floor(month), reopened_at__isnull=True).exists()


def month_close_history(month: date) -> list[MonthClose]:
    return list(MonthClose.objects.filter(month=month_floor(month)).order_by("-closed_at"))


def _frozen_resolver(snapshot: dict, fallback: Resolver) -> Resolver:
    """The assignments as they were at close; pairs unseen at close resolve as today."""
    frozen = {
        (entry["subscription"], entry["product"]): CostCenterRef(
            entry["cost_center"], entry["cost_center_name"]
        )
        for entry in snapshot.get("assignments", [])
    }

    def resolve(subscription_id: str, product_id: str) -> CostCenterRef:
        ref = frozen.get((subscription_id, product_id))
        return ref if ref is not None else fallback(subscription_id, product_id)

    return resolve


def chargeback_snapshot_build(*, month: date) -> dict:
    """The frozen figures of ``month`` for its close: totals per cost center, subscription, model, and lines."""
    begin, end = month_bounds(month)
    lines = usage_lines(begin=begin, end=end, interval="day")
    resolve = cost_center_resolver()
    everything = ChargebackFilters()
    summaries = {}
    for grouping, name in (
        ("cost_center", "cost_centers"),
        ("subscription", "subscriptions"),
        ("model", "models"),
    ):
        groups, totals = _group(lines, grouping=grouping, resolve=resolve, filters=everything)
        summaries[name] = {
            key: {"label": row.label, **row.measures.as_json()} for key, row in sorted(groups.items())
        }
    pairs = sorted({(line.subscription, line.product) for line in lines})
    assignments = []
    for subscription, product in pairs:
        ref = resolve(subscription, product)
        assignments.append(
            {
                "subscription": subscription,
                "product": product,
                "cost_center": ref.code,
                "cost_center_name": ref.name,
            }
        )
    return {
        "month": month.strftime("%Y-%m"),
        "currency": settings.PORTAL_CURRENCY,
        "totals": totals.as_json(),
        **summaries,
        "assignments": assignments,
        "lines": [line.as_json() for line in lines],
    }
