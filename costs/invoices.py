"""The costs app's answer to the chargeback's question "what did Azure invoice this month, per
subscription?" (``usage.chargeback.invoices``), registered at ready (``costs.apps``)."""

import datetime as dt

from aoai_portal.months import month_bounds, month_floor
from usage.chargeback.invoices import InvoicedMonth

from .allocation import month_allocate
from .models import CostLine


def month_covered(*, month: dt.date) -> bool:
    """True once an export (or a pull) brought an invoice line dated in ``month``."""
    begin, end = month_bounds(month_floor(month))
    return CostLine.objects.filter(date__gte=begin.date(), date__lt=end.date()).exists()


def month_invoiced_provide(*, month: dt.date) -> InvoicedMonth | None:
    """The month's invoice spread over subscriptions (``costs.allocation``); None before any export."""
    if not month_covered(month=month):
        return None
    allocation = month_allocate(month=month)
    return InvoicedMonth(
        total=allocation.total,
        by_subscription=allocation.by_subscription(),
        unallocated=allocation.unallocated_amount,
    )
