"""Usage per person or app: per Entra object id of the native log, named by ``NamedIdentity``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BigIntegerField, Case, Count, OuterRef, Subquery, Sum, When

from ...measures import TOKEN_MEASURES
from ...models import GatewayRequest, NamedIdentity, NativeLog, TokenSource
from ..scope import CostCenterScope
from .cost_centers import cost_center_resolver
from .lines import Measures
from .reports import ChargebackFilters

_REQUEST_MEASURES = (*TOKEN_MEASURES, "cost")


@dataclass
class IdentityRow:
    object_id: str  # "" = no native log joined (so no Entra identity known)
    label: str
    cost_center: str | None
    measures: Measures


def identity_usage(
    *,
    begin: datetime,
    end: datetime,
    scope: CostCenterScope,
    filters: ChargebackFilters | None = None,
    fast_path: bool | None = None,
) -> list[IdentityRow]:
    """Usage per Entra object id (native log ``objectId``), named by ``NamedIdentity``; live figures.

    Requests are joined to their native log on ``apim_request_id == NativeLog.correlation_id``;
    requests without a joined native log form the ``""`` row, so the rows add up to the total.
    """
    filters = filters or ChargebackFilters()
    requests = GatewayRequest.objects.filter(time__gte=begin, time__lt=end)
    for name, column in (
        ("subscription", "apim_subscription_id"),
        ("deployment", "deployment"),
        ("model", "model"),
    ):
        value = getattr(filters, name)
        if value is not None:
            requests = requests.filter(**{column: value})
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id")).exclude(correlation_id="")
    requests = requests.annotate(object_id=Subquery(native.values("object_id")[:1]))
    keys = ("apim_subscription_id", "product_id", "object_id")
    if fast_path is None:
        fast_path = connection.vendor == "postgresql"
    sums: dict[tuple, Measures] = {}
    if fast_path:
        grouped = requests.values(*keys).annotate(
            requests_n=Count("id"),
            **{f"sum_{n}": Sum(n) for n in _REQUEST_MEASURES},
            estimated=Sum(
                Case(
                    When(token_source=TokenSource.ESTIMATED, then="total_tokens"),
                    default=0,
                    output_field=BigIntegerField(),
                )
            ),
            unpriced=Sum(
                Case(When(is_priced=False, then="total_tokens"), default=0, output_field=BigIntegerField())
            ),
        )
        for row in grouped.order_by():
            sums[tuple(row[k] or "" for k in keys)] = Measures(
                requests=row["requests_n"],
                **{n: row[f"sum_{n}"] or 0 for n in _REQUEST_MEASURES},
                estimated_tokens=row["estimated"] or 0,
                unpriced_tokens=row["unpriced"] or 0,
            )
    else:
        for row in requests.values(*keys, *_REQUEST_MEASURES, "token_source", "is_priced").iterator():
            measures = sums.setdefault(tuple(row[k] or "" for k in keys), Measures())
            measures.add(
                Measures(
                    requests=1,
                    **{n: row[n] for n in _REQUEST_MEASURES},
                    estimated_tokens=row["total_tokens"]
                    if row["token_source"] == TokenSource.ESTIMATED
                    else 0,
                    unpriced_tokens=0 if row["is_priced"] else row["total_tokens"],
                )
            )
    resolve = cost_center_resolver()
    names = dict(NamedIdentity.objects.values_list("object_id", "display_name"))
    rows: dict[str, IdentityRow] = {}
    for (subscription, product, object_id), measures in sums.items():
        ref = resolve(subscription, product)
        if filters.cost_center is not None and ref.code != filters.cost_center:
            continue
        if not scope.allows(ref.code):
            continue
        row = rows.get(object_id)
        if row is None:
            label = names.get(object_id) or (object_id if object_id else "(no native log joined)")
            row = rows[object_id] = IdentityRow(object_id, label, ref.code, Measures())
        elif row.cost_center != ref.code:
            row.cost_center = None  # spans several cost centers
        row.measures.add(measures)
    return sorted(rows.values(), key=lambda r: (-r.measures.cost, r.object_id))
