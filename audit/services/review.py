"""The review workflow: reviewers take, dismiss, confirm and escalate review items; admins release.

Every step writes a ``ReviewEvent`` (who, from which status to which, the note).
"""

from collections.abc import Collection

from django.db import transaction
from django.utils import timezone

from aoai_portal.roles import ADMIN, user_has_role

from ..models import ReviewEvent, ReviewItem


class ReviewError(Exception):
    """A workflow step that is not allowed; the message is shown to the reviewer."""


S = ReviewItem.Status


def _event(item: ReviewItem, *, user, action: str, from_status: str, note: str = "") -> ReviewEvent:
    return ReviewEvent(
        item=item,
        user=user,
        username=user.get_username() if user else "system",
        action=action,
        from_status=from_status,
        to_status=item.status,
        note=note,
    )


def review_take(*, item_id: int, user) -> ReviewItem:
    """Assign an open item to ``user``; of two reviewers taking it at once, exactly one wins."""
    with transaction.atomic():
        taken = ReviewItem.objects.filter(pk=item_id, status=S.OPEN, assignee__isnull=True).update(
            status=S.IN_REVIEW, assignee=user, updated_at=timezone.now()
        )
        item = ReviewItem.objects.select_related("assignee").get(pk=item_id)
        if not taken:
            who = f" by {item.assignee.get_username()}" if item.assignee else ""
            raise ReviewError(f"This item is already {item.get_status_display().lower()}{who}.")
        _event(item, user=user, action="take", from_status=S.OPEN).save()
    return item


def _transition(
    *, item_id: int, user, action: str, allowed_from: set[str], to: str, note: str, note_required: bool
) -> ReviewItem:
    note = (note or "").strip()
    if note_required and not note:
        raise ReviewError(f"A note is required to {action} an item.")
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().get(pk=item_id)
        if item.status not in allowed_from:
            raise ReviewError(f"Cannot {action} an item that is {item.get_status_display().lower()}.")
        if (
            item.status != S.OPEN
            and item.assignee_id not in (None, user.pk)
            and not user_has_role(user, [ADMIN])
        ):
            raise ReviewError("This item is assigned to another reviewer.")
        from_status = item.status
        item.status = to
        if item.assignee_id is None:
            item.assignee = user
        if note:
            item.note = note
        item.save(update_fields=["status", "assignee", "note", "updated_at"])
        _event(item, user=user, action=action, from_status=from_status, note=note).save()
    return item


def review_dismiss(*, item_id: int, user, note: str = "") -> ReviewItem:
    """A false positive."""
    return _transition(
        item_id=item_id,
        user=user,
        action="dismiss",
        allowed_from={S.OPEN, S.IN_REVIEW},
        to=S.DISMISSED,
        note=note,
        note_required=False,
    )


def review_confirm(*, item_id: int, user, note: str) -> ReviewItem:
    return _transition(
        item_id=item_id,
        user=user,
        action="confirm",
        allowed_from={S.IN_REVIEW},
        to=S.CONFIRMED,
        note=note,
        note_required=True,
    )


def review_escalate(*, item_id: int, user, note: str) -> ReviewItem:
    return _transition(
        item_id=item_id,
        user=user,
        action="escalate",
        allowed_from={S.CONFIRMED},
        to=S.ESCALATED,
        note=note,
        note_required=True,
    )


def review_bulk_dismiss(*, item_ids: Collection[int], user, note: str) -> int:
    """Dismiss the open items among ``item_ids`` (and those in review by ``user``) with one note."""
    note = (note or "").strip()
    if not note:
        raise ReviewError("A note is required to dismiss several items at once.")
    dismissed = 0
    with transaction.atomic():
        items = ReviewItem.objects.select_for_update().filter(pk__in=list(item_ids))
        events = []
        for item in items:
            mine = item.status == S.IN_REVIEW and item.assignee_id == user.pk
            if item.status != S.OPEN and not mine:
                continue
            from_status = item.status
            item.status, item.note = S.DISMISSED, note
            if item.assignee_id is None:
                item.assignee = user
            item.save(update_fields=["status", "note", "assignee", "updated_at"])
            events.append(_event(item, user=user, action="bulk_dismiss", from_status=from_status, note=note))
            dismissed += 1
        ReviewEvent.objects.bulk_create(events)
    return dismissed


def review_release(*, item_id: int, user, note: str = "") -> ReviewItem:
    """Admin: let retention purge a confirmed / escalated item's text like any flagged item."""
    if not user_has_role(user, [ADMIN]):
        raise ReviewError("Only an admin can release an item for retention.")
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().get(pk=item_id)
        if item.status not in (S.CONFIRMED, S.ESCALATED):
            raise ReviewError("Only confirmed or escalated items are held back from retention.")
        if item.released_at is None:
            item.released_at, item.released_by = timezone.now(), user
            item.save(update_fields=["released_at", "released_by", "updated_at"])
            _event(item, user=user, action="release", from_status=item.status, note=note).save()
    return item
