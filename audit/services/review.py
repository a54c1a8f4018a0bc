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


_TRANSITIONS: dict[str, dict] = {
    # A false positive.
    "dismiss": {
        "action": "dismiss",
        "allowed_from": {S.OPEN, S.IN_REVIEW},
        "to": S.DISMISSED,
        "note_required": False,
    },
    "confirm": {"action": "confirm", "allowed_from": {S.IN_REVIEW}, "to": S.CONFIRMED, "note_required": True},
    "escalate": {
        "action": "escalate",
        "allowed_from": {S.CONFIRMED},
        "to": S.ESCALATED,
        "note_required": True,
    },
}


def review_dismiss(*, item_id: int, user, note: str = "") -> ReviewItem:
    """A false positive."""
    return _transition(item_id=item_id, user=user, note=note, **_TRANSITIONS["dismiss"])


def review_confirm(*, item_id: int, user, note: str) -> ReviewItem:
    return _transition(item_id=item_id, user=user, note=note, **_TRANSITIONS["confirm"])


def review_escalate(*, item_id: int, user, note: str) -> ReviewItem:
    return _transition(item_id=item_id, user=user, note=note, **_TRANSITIONS["escalate"])


# The steps each action takes from each status, so that a reviewer acts once per item: confirming
# an open item takes it first, escalating one not yet confirmed confirms it first. Every step is
# its own ReviewEvent; a status not listed gets the action alone (and its refusal).
_STEPS: dict[str, dict[str, tuple[str, ...]]] = {
    "take": {},
    "dismiss": {},
    "confirm": {S.OPEN: ("take", "confirm")},
    "escalate": {S.OPEN: ("take", "confirm", "escalate"), S.IN_REVIEW: ("confirm", "escalate")},
}
REVIEW_ACTIONS = tuple(_STEPS)
_NOTE_REQUIRED = {"confirm", "escalate"}


def review_item_act(*, item_id: int, user, action: str, note: str = "") -> ReviewItem:
    """``action`` (take, dismiss, confirm, escalate) on one item, with the steps it needs; all or none."""
    if action not in _STEPS:
        raise ReviewError("Unknown action.")
    note = (note or "").strip()
    if action in _NOTE_REQUIRED and not note:
        raise ReviewError(f"A note is required to {action} an item.")
    with transaction.atomic():
        status = ReviewItem.objects.filter(pk=item_id).values_list("status", flat=True).first()
        if status is None:
            raise ReviewError("This item no longer exists.")
        item = None
        for step in _STEPS[action].get(status, (action,)):
            if step == "take":
                item = review_take(item_id=item_id, user=user)
            else:
                item = _transition(item_id=item_id, user=user, note=note, **_TRANSITIONS[step])
    assert item is not None
    return item


def review_bulk_act(*, item_ids: Collection[int], user, action: str, note: str) -> tuple[int, int]:
    """``action`` on each of ``item_ids`` (each its own events); returns (done, skipped).

    A note is required for every bulk action but *take*: several items decided at once should say why.
    An item the action does not apply to (already decided, taken by someone else) is skipped.
    """
    note = (note or "").strip()
    if action not in _STEPS:
        raise ReviewError("Unknown action.")
    if action != "take" and not note:
        raise ReviewError(f"A note is required to {action} several items at once.")
    done = 0
    for item_id in item_ids:
        try:
            review_item_act(item_id=item_id, user=user, action=action, note=note)
        except ReviewError:
            continue
        done += 1
    return done, len(item_ids) - done


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
