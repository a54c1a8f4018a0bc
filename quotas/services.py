"""Writes: putting a product or subscription on a tier, and sending quota/budget alerts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aoai_portal.alerting import alert_channels_configured, alert_deliver
from aoai_portal.months import month_floor
from usage.chargeback.scope import EVERY_COST_CENTER

from .models import QuotaAlert, QuotaTier, TierAssignment
from .selectors.overview import OVER_PERCENT, WARNING_PERCENT, QuotaRow, quota_overview

log = logging.getLogger(__name__)


# --- tier assignments ---------------------------------------------------------------------


@transaction.atomic
def tier_assign(
    *, kind: str, key: str, tier: QuotaTier, valid_from: datetime | None = None, note: str = ""
) -> TierAssignment:
    """Put a product or subscription on ``tier`` from ``valid_from`` on, keeping the history.

    The assignment in force at ``valid_from`` is closed there (``valid_to = valid_from``); one that
    starts later is an error (change history explicitly in the admin instead).
    """
    valid_from = valid_from or timezone.now()
    key = key.strip()
    open_rows = TierAssignment.objects.select_for_update().filter(kind=kind, key=key, valid_to__isnull=True)
    for current in open_rows:
        if current.valid_from < valid_from:
            current.valid_to = valid_from
            current.save(update_fields=["valid_to"])
    assignment = TierAssignment(kind=kind, key=key, tier=tier, valid_from=valid_from, note=note)
    assignment.full_clean()
    assignment.save()
    return assignment


# --- alerts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Crossing:
    row: QuotaRow
    kind: str
    threshold: int
    used: Decimal
    limit: Decimal


def _crossings(row: QuotaRow) -> list[_Crossing]:
    found = []
    for kind, used, limit in (
        (QuotaAlert.Kind.QUOTA, Decimal(row.tokens), row.token_quota),
        (QuotaAlert.Kind.BUDGET, row.cost, row.cost_budget),
    ):
        if limit is None or limit <= 0:
            continue
        for threshold in (WARNING_PERCENT, OVER_PERCENT):
            if used * 100 >= Decimal(limit) * threshold:
                found.append(_Crossing(row, str(kind), threshold, used, Decimal(limit)))
    return found


def _alert_text(crossing: _Crossing, month: str) -> tuple[str, str]:
    row = crossing.row
    if crossing.kind == QuotaAlert.Kind.QUOTA:
        what = f"{int(crossing.used):,} of {int(crossing.limit):,} tokens"
        label = "token quota"
    else:
        what = f"{crossing.used:,.2f} of {crossing.limit:,.2f} {settings.PORTAL_CURRENCY}"
        label = "cost budget"
    verb = "has used up" if crossing.threshold >= OVER_PERCENT else f"has reached {crossing.threshold}% of"
    subject = f"[AOAI Portal] {row.apim_subscription_id} {verb} its {label} for {month}"
    body = (
        f"APIM subscription {row.apim_subscription_id} (product {row.product_id or '-'}, tier {row.tier}) "
        f"{verb} its monthly {label}: {what} in {month} (UTC).\n"
        f"Projected by the end of the month: {row.projected_tokens:,} tokens, "
        f"{row.projected_cost:,.2f} {settings.PORTAL_CURRENCY}.\n"
    )
    return subject, body


def _deliver(crossing: _Crossing, month: str) -> tuple[list[str], list[str]]:
    """Send by every configured channel; returns (channels that took it, errors)."""
    subject, body = _alert_text(crossing, month)
    details = {
        "apim_subscription_id": crossing.row.apim_subscription_id,
        "product_id": crossing.row.product_id,
        "tier": crossing.row.tier,
        "month": month,
        "kind": crossing.kind,
        "threshold": crossing.threshold,
        "used": str(crossing.used),
        "limit": str(crossing.limit),
    }
    return alert_deliver(subject=subject, body=body, details=details)


def quota_alerts_send(*, now: datetime | None = None) -> list[QuotaAlert]:
    """Alert on every subscription that crossed 80% or 100% of its quota or budget this month.

    Once per subscription, month, kind and threshold: the QuotaAlert row is claimed under a row
    lock before sending, so concurrent runs do not double-send; a row no channel took (all failed)
    is retried by the next run. When a run sees both 80% and 100% crossed, only the 100% message
    goes out and the 80% row is recorded as "suppressed". Returns the alerts sent by this run.
    """
    now = now or timezone.now()
    month = month_floor(now)
    month_label = f"{month:%Y-%m}"
    overview = quota_overview(month=month, now=now, scope=EVERY_COST_CENTER, per_minute=False)
    sent: list[QuotaAlert] = []
    for row in overview.rows:
        crossings = _crossings(row)
        top = {c.kind: max(x.threshold for x in crossings if x.kind == c.kind) for c in crossings}
        for crossing in crossings:
            with transaction.atomic():
                alert, _ = QuotaAlert.objects.select_for_update().get_or_create(
                    apim_subscription_id=row.apim_subscription_id,
                    month=month,
                    kind=crossing.kind,
                    threshold=crossing.threshold,
                    defaults={"tier_name": row.tier or "", "used": crossing.used, "limit": crossing.limit},
                )
                if alert.sent_at is not None:
                    continue
                alert.used, alert.limit, alert.tier_name = crossing.used, crossing.limit, row.tier or ""
                if crossing.threshold < top[crossing.kind]:
                    alert.channel, alert.error, alert.sent_at = "suppressed", "", now
                else:
                    channels, errors = _deliver(crossing, month_label)
                    configured = alert_channels_configured()
                    alert.channel = "+".join(channels) if channels else ("none" if not configured else "")
                    alert.error = "\n".join(errors)
                    if channels or not configured:
                        alert.sent_at = now
                        sent.append(alert)
                alert.save()
    return sent
