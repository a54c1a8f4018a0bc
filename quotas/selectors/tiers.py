"""Which tier applies at a moment: the subscription's own assignment in force then, else its product's."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q

from ..models import QuotaTier, TierAssignment


def assignments_overlapping(*, start: datetime, end: datetime) -> list[TierAssignment]:
    return list(
        TierAssignment.objects.filter(valid_from__lt=end)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
        .select_related("tier")
    )


def assignment_in_force(assignment: TierAssignment, at: datetime) -> bool:
    return (
        assignment.valid_from <= at
        and (assignment.valid_to is None or at < assignment.valid_to)
        and assignment.tier.effective_from <= at
    )


def tier_at(
    *, assignments: list[TierAssignment], subscription_id: str, product_id: str, at: datetime
) -> tuple[QuotaTier | None, str]:
    """The tier in force at ``at`` and its source; a subscription's own assignment wins over its product's."""
    for kind, key in (
        (TierAssignment.Kind.SUBSCRIPTION, subscription_id),
        (TierAssignment.Kind.PRODUCT, product_id),
    ):
        if not key:
            continue
        for assignment in assignments:
            if assignment.kind == kind and assignment.key == key and assignment_in_force(assignment, at):
                return assignment.tier, str(kind)
    return None, ""


def tier_for_subscription(*, subscription_id: str, product_id: str, at: datetime) -> QuotaTier | None:
    """The tier a subscription was on at ``at`` (for other apps; the page uses ``tier_at``)."""
    assignments = assignments_overlapping(start=at, end=at + timedelta(microseconds=1))
    tier, _ = tier_at(assignments=assignments, subscription_id=subscription_id, product_id=product_id, at=at)
    return tier
