"""Changing a price: what a proposed admin price would change (old vs new totals per cost center)
and applying it to the open months; the monthly token-quality report beside the price admin.

A closed month is never repriced (``month_is_closed`` in ``usage.accounting.pricing``).
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncMonth

from aoai_portal.months import month_bounds, month_floor
from usage.db.bulk import rows_update
from usage.models import (
    CostCenter,
    CostCenterAssignment,
    DeploymentType,
    GatewayRequest,
    ModelPrice,
    TokenSource,
)

from .parse.readers import model_split
from .pricing import Cost, PriceBook, months_closed, stored_request_cost


@dataclass
class CostCenterDelta:
    cost_center: str
    name: str
    requests: int = 0
    old_cost: Decimal = Decimal(0)
    new_cost: Decimal = Decimal(0)

    @property
    def difference(self) -> Decimal:
        return self.new_cost - self.old_cost


@dataclass
class PricePreview:
    months: list[dt.date]
    closed_months: list[dt.date]
    rows: list[CostCenterDelta]

    @property
    def old_total(self) -> Decimal:
        return sum((r.old_cost for r in self.rows), Decimal(0))

    @property
    def new_total(self) -> Decimal:
        return sum((r.new_cost for r in self.rows), Decimal(0))

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.rows)


UNASSIGNED = "(unassigned)"


def _cost_center_resolver() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(subscription -> code, product -> code, code -> name); a subscription wins over its product."""
    by_subscription: dict[str, str] = {}
    by_product: dict[str, str] = {}
    for kind, key, code in CostCenterAssignment.objects.values_list("kind", "key", "cost_center__code"):
        if kind == CostCenterAssignment.Kind.SUBSCRIPTION:
            by_subscription[key] = code
        else:
            by_product[key] = code
    names = dict(CostCenter.objects.values_list("code", "name"))
    return by_subscription, by_product, names


def _affected_requests(proposal: ModelPrice) -> QuerySet[GatewayRequest]:
    base, _version = model_split(proposal.model)
    rows = GatewayRequest.objects.filter(time__gte=proposal.effective_from, model__iexact=base)
    if proposal.deployment:
        rows = rows.filter(deployment=proposal.deployment)
    return rows


def _open_months_since(start: dt.datetime) -> tuple[list[dt.date], list[dt.date]]:
    now = dt.datetime.now(dt.UTC)
    months = []
    month = month_floor(start)
    while month <= month_floor(now):
        months.append(month)
        month = month_floor(month_bounds(month)[1])
    closed = months_closed(months=months)
    return [m for m in months if m not in closed], sorted(closed)


def _reprice(rows: Iterable[GatewayRequest], book: PriceBook) -> list[tuple[GatewayRequest, Cost]]:
    out = []
    for row in rows:
        cost = stored_request_cost(
            book=book,
            row=row,
            is_error=(row.response_code or 0) >= 400,
            ptu_rates=None,
        )
        out.append((row, cost))
    return out


_REPRICE_FIELDS = (
    "correlation_id",
    "time",
    "model",
    "deployment",
    "token_source",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "images",
    "audio_seconds",
    "response_code",
    "cost",
    "currency",
    "is_priced",
    "price_version",
    "apim_subscription_id",
    "product_id",
)


def price_change_preview(*, proposal: ModelPrice) -> PricePreview:
    """Old vs new cost per cost center of the open months a new price row would reprice."""
    open_months, closed = _open_months_since(proposal.effective_from)
    book = PriceBook.load(extra=[proposal])
    by_subscription, by_product, names = _cost_center_resolver()
    deltas: dict[str, CostCenterDelta] = {}
    for month in open_months:
        start, end = month_bounds(month)
        rows = _affected_requests(proposal).filter(time__gte=start, time__lt=end).only(*_REPRICE_FIELDS)
        for row, cost in _reprice(rows.iterator(chunk_size=2000), book):
            if book.deployment_type(row.deployment) == DeploymentType.PROVISIONED:
                continue
            code = (
                by_subscription.get(row.apim_subscription_id) or by_product.get(row.product_id) or UNASSIGNED
            )
            delta = deltas.setdefault(code, CostCenterDelta(cost_center=code, name=names.get(code, "")))
            delta.requests += 1
            delta.old_cost += row.cost
            delta.new_cost += cost.cost
    return PricePreview(
        months=open_months, closed_months=closed, rows=sorted(deltas.values(), key=lambda d: d.cost_center)
    )


def price_apply(*, proposal: ModelPrice, set_by: str = "") -> int:
    """Save a new admin price row and reprice the open months it covers; returns rows repriced."""
    from usage.rollups.hourly import rollup_refresh_hours

    proposal.source = ModelPrice.Source.ADMIN
    proposal.source_version = proposal.source_version or set_by[:64]
    open_months, _closed = _open_months_since(proposal.effective_from)
    with transaction.atomic():
        proposal.save()
        book = PriceBook.load()
        hours: set[dt.datetime] = set()
        changed: list[GatewayRequest] = []
        for month in open_months:
            start, end = month_bounds(month)
            rows = _affected_requests(proposal).filter(time__gte=start, time__lt=end).only(*_REPRICE_FIELDS)
            for row, cost in _reprice(rows.iterator(chunk_size=2000), book):
                if book.deployment_type(row.deployment) == DeploymentType.PROVISIONED:
                    continue
                row.cost, row.currency, row.is_priced, row.price_version = (
                    cost.cost,
                    cost.currency,
                    cost.is_priced,
                    cost.price_version,
                )
                changed.append(row)
                hours.add(row.time)
        rows_update(rows=changed, fields=["cost", "currency", "is_priced", "price_version"])
        rollup_refresh_hours(hours=hours)
    return len(changed)


def token_quality_by_month(*, start: dt.datetime, end: dt.datetime) -> dict[dt.date, dict[str, int]]:
    """Requests per UTC month and token source (reported / llm_log / estimated / none / unknown).

    Finance reads it to judge how much of a month's numbers are measured vs estimated.
    """
    rows = (
        GatewayRequest.objects.filter(time__gte=start, time__lt=end)
        .annotate(month=TruncMonth("time", tzinfo=dt.UTC))
        .values("month", "token_source")
        .annotate(n=Count("id"))
    )
    out: dict[dt.date, dict[str, int]] = {}
    for row in rows:
        counts = out.setdefault(month_floor(row["month"]), {s: 0 for s in TokenSource.values})
        counts[row["token_source"]] = counts.get(row["token_source"], 0) + row["n"]
    return dict(sorted(out.items()))
