"""Chargeback writes: closing a month (freezing its figures) and reopening it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from aoai_portal.access_audit import access_audit_record
from aoai_portal.months import month_bounds, month_floor
from aoai_portal.roles import ADMIN, FINANCE, user_has_role, user_roles

from ..models import MonthClose
from .invoices import month_invoiced
from .selectors.close_checks import CloseWarning, month_close_warnings
from .selectors.closes import chargeback_snapshot_build
from .selectors.true_up import invoiced_as_json


class MonthCloseError(Exception):
    """A close or reopen that cannot be done; the message is meant for the user."""


class MonthCloseUnconfirmed(MonthCloseError):
    """The month has close warnings nobody confirmed; ``warnings`` lists them."""

    def __init__(self, warnings: list[CloseWarning]):
        self.warnings = warnings
        super().__init__("Closing needs confirmation: " + " ".join(warning.message for warning in warnings))


def chargeback_month_close(*, month: date, user, warnings_confirmed: bool = False) -> MonthClose:
    """Freeze the figures of ``month``: who closed it, when, and the totals at that moment.

    With close warnings (``month_close_warnings``: no usage, unpriced tokens, rows waiting for their
    join partner, ingestion behind) it closes only when the caller confirmed them."""
    if not user_has_role(user, (FINANCE,)):
        raise PermissionDenied("Only finance or admin can close a month.")
    month = month_floor(month)
    _begin, end = month_bounds(month)
    now = datetime.now(UTC)
    if end > now:
        raise MonthCloseError(
            f"{month:%B %Y} is not over yet: it can be closed from {end:%Y-%m-%d %H:%M} UTC."
        )
    if not warnings_confirmed:
        warnings = month_close_warnings(month=month)
        if warnings:
            raise MonthCloseUnconfirmed(warnings)
    from usage.accounting.ptu import ptu_allocate

    ptu_allocate(month=month)  # provisioned (PTU) deployments: exact token shares before freezing
    snapshot = chargeback_snapshot_build(month=month)
    # The invoice as known now is frozen with the usage; a later export is an adjustment.
    snapshot["invoice"] = invoiced_as_json(month_invoiced(month=month))
    try:
        with transaction.atomic():
            return MonthClose.objects.create(
                month=month,
                closed_by=user,
                closed_by_name=user.get_username(),
                closed_at=now,
                currency=settings.PORTAL_CURRENCY,
                snapshot=snapshot,
            )
    except IntegrityError:
        raise MonthCloseError(f"{month:%B %Y} is already closed.") from None


def chargeback_month_reopen(
    *, month: date, user, reason: str, request: HttpRequest | None = None
) -> MonthClose:
    """Reopen a closed month (admin only, with a reason); recorded on the close and in the access audit."""
    if ADMIN not in user_roles(user):
        raise PermissionDenied("Only an admin can reopen a closed month.")
    reason = (reason or "").strip()
    if not reason:
        raise MonthCloseError("A reason is required to reopen a month.")
    month = month_floor(month)
    with transaction.atomic():
        close = MonthClose.objects.select_for_update().filter(month=month, reopened_at__isnull=True).first()
        if close is None:
            raise MonthCloseError(f"{month:%B %Y} is not closed.")
        close.reopened_by = user
        close.reopened_by_name = user.get_username()
        close.reopened_at = datetime.now(UTC)
        close.reopen_reason = reason
        close.save(update_fields=["reopened_by", "reopened_by_name", "reopened_at", "reopen_reason"])
        access_audit_record(
            request=request,
            user=user,
            action="reopen_month",
            reason=reason,
            detail={
                "month": f"{month:%Y-%m}",
                "month_close_id": close.pk,
                "closed_at": close.closed_at.isoformat(),
            },
        )
    return close
