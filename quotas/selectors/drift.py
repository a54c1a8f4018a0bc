"""The drift check: usage APIM should have stopped, listed on the quota page and in the API.

Three kinds, each against the tier ``tier_at`` gives: minutes above the tier's tokens per minute
(each minute against the tier in force in that minute), month-to-date tokens past the monthly
quota (both only past ``QUOTA_DRIFT_TOLERANCE_PERCENT`` more), and successful calls to deployments
or models the tier does not allow. ``quota_overview`` (``overview``) attaches the items to its rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings

from ..models import QuotaTier, TierAssignment
from .consumption import PartialDays, busy_minutes, deployments_used, last_hours
from .tiers import tier_at

if TYPE_CHECKING:
    from .overview import QuotaRow


@dataclass
class DriftItem:
    apim_subscription_id: str
    tier: str
    kind: str  # "tpm", "quota", "deployment", "model"
    observed: int
    limit: int | None
    at: datetime | None
    detail: str
    # The tier's id, for the policy download link (finance may not open the admin site).
    tier_id: int | None = None


def _disallowed(tier: QuotaTier | None, used: dict) -> list[tuple[str, str]]:
    """The (kind, name) of ``used``'s deployment and model that ``tier`` does not allow."""
    if tier is None:
        return []
    return [
        (kind, name)
        for kind, allowed, name in (
            ("deployment", tier.deployment_list, used["deployment"]),
            ("model", tier.model_list, used["model"]),
        )
        if allowed and name and name not in allowed
    ]


def _tiers_during(
    *,
    assignments: list[TierAssignment],
    subscription_id: str,
    product_id: str,
    begin: datetime,
    end: datetime,
) -> list[QuotaTier | None]:
    """The tiers ``tier_at`` gives at the rollup hours (whole hours) of ``[begin, end)``.

    ``tier_at`` only changes at an assignment's ``valid_from``/``valid_to`` or its tier's
    ``effective_from``, so the first hour and the first hour at or after each such moment
    inside the window are all there is to look at.
    """
    moments = {begin}
    for assignment in assignments:
        if assignment.key not in (subscription_id, product_id):
            continue
        for moment in (assignment.valid_from, assignment.valid_to, assignment.tier.effective_from):
            if moment is not None and begin < moment < end:
                hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
                moments.add(hour if hour == moment else hour + timedelta(hours=1))
    return [
        tier_at(assignments=assignments, subscription_id=subscription_id, product_id=product_id, at=at)[0]
        for at in sorted(moments)
        if at < end
    ]


def _tolerated(limit: int) -> Decimal:
    return Decimal(limit) * (100 + settings.QUOTA_DRIFT_TOLERANCE_PERCENT) / 100


def _lowest_tolerated(assignments: list[TierAssignment], products: dict[str, str]) -> dict[str, int]:
    """Per subscription that ``tier_at`` can give a tier, the lowest tolerated tokens per minute
    (rounded down) of the tiers it can give: a minute at or below it cannot be drift.

    Only the subscription's own assignments and its product's count, so a low tier assigned to
    one subscription does not make every other subscription's busy hours be read.
    """
    lowest: dict[tuple[str, str], int] = {}
    for a in assignments:
        key = (str(a.kind), a.key)
        lowest[key] = min(lowest.get(key, a.tier.tokens_per_minute), a.tier.tokens_per_minute)
    subscription, product = str(TierAssignment.Kind.SUBSCRIPTION), str(TierAssignment.Kind.PRODUCT)
    subs = {key for kind, key in lowest if kind == subscription}
    subs.update(sub for sub, prod in products.items() if (product, prod) in lowest)
    thresholds = {}
    for sub in subs:
        limits = [lowest.get((subscription, sub)), lowest.get((product, products.get(sub, "")))]
        thresholds[sub] = int(_tolerated(min(limit for limit in limits if limit is not None)))
    return thresholds


def _target(kind: str, used: dict) -> str:
    """Deployment and model together: usage is split by both, so naming only the disallowed one
    would show two rows that read as duplicates."""
    deployment = f"deployment {used['deployment']!r}" if used["deployment"] else "no deployment"
    model = f"model {used['model']!r}" if used["model"] else "unknown model"
    if kind == "model":
        return f"{model} on {deployment}"
    return f"{deployment} ({model})"


def drift_items(
    *,
    start: datetime,
    end: datetime,
    assignments: list[TierAssignment],
    products: dict[str, str],
    current: dict[str, QuotaRow],
    partial_days: PartialDays,
) -> list[DriftItem]:
    """The drift of ``[start, end)``: minutes over the tier's tokens per minute, tokens over the
    monthly quota, then calls to deployments or models the tier does not allow."""
    items: list[DriftItem] = []
    tiers = {a.tier_id: a.tier for a in assignments}
    if not tiers:
        return items
    tier_ids = {tier.name: tier.pk for tier in tiers.values()}

    # Tokens per minute above the tier in force in that minute.
    worst: dict[str, tuple[int, datetime, QuotaTier]] = {}
    over_minutes: dict[str, int] = defaultdict(int)
    for m in busy_minutes(start=start, end=end, above=_lowest_tolerated(assignments, products)):
        sub = m["apim_subscription_id"]
        tier, _ = tier_at(
            assignments=assignments, subscription_id=sub, product_id=products.get(sub, ""), at=m["minute"]
        )
        if tier is None or m["tokens"] <= _tolerated(tier.tokens_per_minute):
            continue
        over_minutes[sub] += 1
        if sub not in worst or m["tokens"] > worst[sub][0]:
            worst[sub] = (int(m["tokens"]), m["minute"], tier)
    for sub, (tokens, minute, tier) in sorted(worst.items()):
        items.append(
            DriftItem(
                apim_subscription_id=sub,
                tier=tier.name,
                tier_id=tier.pk,
                kind="tpm",
                observed=tokens,
                limit=tier.tokens_per_minute,
                at=minute,
                detail=(
                    f"{over_minutes[sub]} minute(s) above {tier.tokens_per_minute:,} tokens/min; "
                    f"worst {tokens:,} at {minute:%Y-%m-%d %H:%M} UTC"
                ),
            )
        )

    # Month-to-date tokens past the monthly quota (APIM should have answered 403).
    for sub, row in sorted(current.items()):
        if row.token_quota is not None and row.tokens > _tolerated(row.token_quota):
            items.append(
                DriftItem(
                    apim_subscription_id=sub,
                    tier=row.tier or "",
                    tier_id=tier_ids.get(row.tier or ""),
                    kind="quota",
                    observed=row.tokens,
                    limit=row.token_quota,
                    at=None,
                    detail=f"{row.tokens:,} tokens this month against a quota of {row.token_quota:,}",
                )
            )

    # Successful calls to deployments or models the tier does not allow, against the tier in force
    # in the last hour of such calls. An entry that only knows its last day needs that hour only
    # if some tier in force during the day would flag it (the hour is then shown).
    used_all = deployments_used(start=start, end=end, partial_days=partial_days)
    used_all = [
        u
        for u in used_all
        if u["last_hour"] is not None
        or any(
            _disallowed(tier, u)
            for tier in _tiers_during(
                assignments=assignments,
                subscription_id=u["apim_subscription_id"],
                product_id=products.get(u["apim_subscription_id"], ""),
                begin=u["last_day"],
                end=u["last_day"] + timedelta(days=1),
            )
        )
    ]
    last_hours(used_all)
    for used in sorted(used_all, key=lambda u: (u["apim_subscription_id"], u["deployment"], u["model"])):
        sub = used["apim_subscription_id"]
        tier, _ = tier_at(
            assignments=assignments,
            subscription_id=sub,
            product_id=products.get(sub, ""),
            at=used["last_hour"],
        )
        for kind, _name in _disallowed(tier, used):
            items.append(
                DriftItem(
                    apim_subscription_id=sub,
                    tier=tier.name,
                    tier_id=tier.pk,
                    kind=kind,
                    observed=int(used["n_requests"]),
                    limit=None,
                    at=used["last_hour"],
                    detail=f"{used['n_requests']:,} successful request(s) to {_target(kind, used)}, "
                    f"which tier {tier.name} does not allow",
                )
            )
    return items
