"""Demo tiers sized from the demo's own usage, so the quota page shows every state.

Call ``quota_demo_seed(now=...)`` after the demo data is ingested and rolled up. Idempotent: tiers
are found by name and nothing is assigned twice.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from aoai_portal.months import month_floor
from usage.chargeback.scope import EVERY_COST_CENTER

from .models import QuotaTier, TierAssignment
from .selectors.consumption import peak_tokens_per_minute
from .selectors.overview import quota_overview
from .services import tier_assign


def _tier(name: str, **limits: Any) -> QuotaTier:
    tier, _ = QuotaTier.objects.get_or_create(name=name, defaults=limits)
    return tier


@transaction.atomic
def quota_demo_seed(*, now: datetime) -> list[TierAssignment]:
    """Product tiers with room to spare, one subscription near its quota, one over, one on a low TPM."""
    if TierAssignment.objects.exists():
        return []
    month = month_floor(now)
    rows = quota_overview(month=month, now=now, scope=EVERY_COST_CENTER, per_minute=False).rows
    if not rows:
        return []
    start = datetime(month.year, month.month, 1, tzinfo=now.tzinfo) - timedelta(days=31)
    biggest = max(r.tokens for r in rows) or 1
    peaks = peak_tokens_per_minute(start=now - timedelta(days=31), end=now)
    standard = _tier(
        "Standard",
        tokens_per_minute=max(peaks.values(), default=1_000) * 2,
        monthly_token_quota=biggest * 4,
        monthly_cost_budget=(max(r.cost for r in rows) * 4).quantize(Decimal("1.00")) or None,
        effective_from=start,
    )
    made = [
        tier_assign(kind="product", key=product, tier=standard, valid_from=start, note="demo")
        for product in sorted({r.product_id for r in rows if r.product_id})
    ]
    by_size = sorted(rows, key=lambda r: r.tokens, reverse=True)
    if len(by_size) >= 3:
        near, over, bursty = by_size[1], by_size[2], by_size[-1]
        pilot = _tier(
            "Pilot",
            tokens_per_minute=standard.tokens_per_minute,
            monthly_token_quota=max(int(near.tokens / 0.85), 1),
            effective_from=start,
        )
        capped = _tier(
            "Capped (mini only)",
            tokens_per_minute=max(peaks.get(bursty.apim_subscription_id, 2) // 2, 1),
            monthly_token_quota=max(int(over.tokens / 1.2), 1),
            allowed_deployments="gpt-4o-mini",
            effective_from=start,
        )
        made.append(
            tier_assign(kind="subscription", key=near.apim_subscription_id, tier=pilot, valid_from=start)
        )
        made.append(
            tier_assign(kind="subscription", key=over.apim_subscription_id, tier=capped, valid_from=start)
        )
        if bursty.apim_subscription_id != over.apim_subscription_id:
            made.append(
                tier_assign(
                    kind="subscription", key=bursty.apim_subscription_id, tier=capped, valid_from=start
                )
            )
    return made
