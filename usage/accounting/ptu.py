"""PTU: provisioned deployments share their monthly commitment out by tokens.

* ``ptu_rates``: money per token for each (provisioned deployment, month) with a commitment.
* ``ptu_allocate``: re-applies the month's rate to every request of the month (closed months are
  left alone).
"""

import datetime as dt
from collections.abc import Callable, Collection
from decimal import Decimal

from django.db.models import Sum

from aoai_portal.months import month_bounds, month_floor
from usage.db.bulk import rows_update
from usage.models import DeploymentType, GatewayRequest, ProvisionedCommitment

from .pricing import PriceBook, month_is_closed, stored_request_cost


def ptu_rates(
    *,
    book: PriceBook,
    pairs: Collection[tuple[str, dt.date]],
    month_tokens: Callable[[str, dt.date], int] | None = None,
) -> dict[tuple[str, dt.date], tuple[Decimal, ProvisionedCommitment]]:
    """Money per token for each (provisioned deployment, month) with a commitment.

    The rate is the commitment over the month's tokens stored so far, so it is exact once the
    month is complete; ``ptu_allocate`` re-applies it to every request of the month.
    ``month_tokens(deployment, month)`` gives those tokens when the caller knows them without
    summing the month's requests (ingestion: ``usage.rollups.delta.month_tokens_stored``).
    """
    rates = {}
    for deployment, month in pairs:
        commitment = book.commitments.get((deployment, month))
        if commitment is None:
            continue
        if month_tokens is not None:
            tokens = month_tokens(deployment, month)
        else:
            start, end = month_bounds(month)
            tokens = (
                GatewayRequest.objects.filter(deployment=deployment, time__gte=start, time__lt=end)
                .aggregate(t=Sum("total_tokens"))
                .get("t")
                or 0
            )
        rates[(deployment, month)] = (Decimal(commitment.amount) / Decimal(max(tokens, 1)), commitment)
    return rates


def ptu_allocate(*, month: dt.date) -> int:
    """Share out every PTU commitment of ``month`` over its requests by tokens.

    Returns the number of requests updated. Closed months are left alone. Run it when a month
    ends (before closing it) or after changing a commitment; rollups of touched hours refresh.
    """
    from usage.rollups.hourly import rollup_refresh_hours

    month = month_floor(month)
    if month_is_closed(month):
        return 0
    book = PriceBook.load()
    provisioned = [d for d, kind in book.deployment_types.items() if kind == DeploymentType.PROVISIONED]
    updated = 0
    hours: set[dt.datetime] = set()
    start, end = month_bounds(month)
    for deployment in provisioned:
        rates = ptu_rates(book=book, pairs=[(deployment, month)])
        rows = list(GatewayRequest.objects.filter(deployment=deployment, time__gte=start, time__lt=end))
        for row in rows:
            cost = stored_request_cost(
                book=book,
                row=row,
                is_error=(row.response_code or 0) >= 400,
                ptu_rates=rates,
            )
            row.cost, row.currency, row.is_priced, row.price_version = (
                cost.cost,
                cost.currency,
                cost.is_priced,
                cost.price_version,
            )
            hours.add(row.time)
        rows_update(rows=rows, fields=["cost", "currency", "is_priced", "price_version"])
        updated += len(rows)
    rollup_refresh_hours(hours=hours)
    return updated
