"""The quota alerts a reader may see: those of the month's subscriptions on their quota page.

A budget owner's quota page lists only their cost centers' subscriptions (``quota_overview`` with
their scope), so their alerts are those subscriptions' alerts; finance and admin see every one.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from ..models import QuotaAlert


def quota_alerts_of(*, month: date, subscriptions: Collection[str] | None) -> list[QuotaAlert]:
    """The alerts raised for ``month``, newest first; only ``subscriptions``' unless None (all)."""
    alerts = QuotaAlert.objects.filter(month=month)
    if subscriptions is not None:
        alerts = alerts.filter(apim_subscription_id__in=list(subscriptions))
    return list(alerts.order_by("-created_at", "apim_subscription_id", "kind", "threshold"))
