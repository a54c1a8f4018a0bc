"""The chargeback page's "People and apps": usage per caller (``GatewayRequest.caller_object_id``,
found by ``usage.identity``), named by the People table (``NamedIdentity``), and a caller's
latest requests for the drill-down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ...models import GatewayRequest
from ..scope import CostCenterScope
from .cost_centers import cost_center_resolver
from .groups import ChargebackFilters
from .lines import Measures
from .people import UNIDENTIFIED, people_named, person_key, person_lines

# Requests listed when drilling down to one caller.
DRILL_DOWN_LIMIT = 50


@dataclass
class IdentityRow:
    object_id: str  # UNIDENTIFIED = no source names the caller
    label: str
    cost_center: str | None  # None: the caller's requests span several cost centers
    measures: Measures
    kind: str = ""  # "user" or "application" when the People table knows the id
    email: str = ""


def identity_usage(
    *,
    begin: datetime,
    end: datetime,
    scope: CostCenterScope,
    filters: ChargebackFilters | None = None,
    fast_path: bool | None = None,
) -> list[IdentityRow]:
    """Usage per caller in ``[begin, end)``, biggest cost first; live figures. Requests without a
    caller form the ``(unidentified)`` row, so the rows add up to the total."""
    filters = filters or ChargebackFilters()
    lines = person_lines(
        begin=begin, end=end, model=filters.model, subscription=filters.subscription, fast_path=fast_path
    )
    resolve = cost_center_resolver()
    rows: dict[str, IdentityRow] = {}
    for line in lines:
        ref = resolve(line.subscription, line.product)
        if not filters.matches(line, ref) or not scope.allows(ref.code):
            continue
        key, label = person_key(line)
        row = rows.get(key)
        if row is None:
            row = rows[key] = IdentityRow(key, label, ref.code, Measures())
        elif row.cost_center != ref.code:
            row.cost_center = None
        row.measures.add(line.measures)
    for object_id, person in people_named(list(rows)).items():
        row = rows[object_id]
        row.label, row.kind, row.email = person.display_name, person.kind, person.email
    return sorted(rows.values(), key=lambda r: (-r.measures.cost, r.object_id))


def identity_requests(
    *,
    object_id: str,
    begin: datetime,
    end: datetime,
    scope: CostCenterScope,
    filters: ChargebackFilters | None = None,
    limit: int = DRILL_DOWN_LIMIT,
) -> list[GatewayRequest]:
    """The caller's latest requests in ``[begin, end)`` (no text: bodies are not loaded)."""
    filters = filters or ChargebackFilters()
    requests = GatewayRequest.objects.filter(
        time__gte=begin, time__lt=end, caller_object_id="" if object_id == UNIDENTIFIED else object_id
    )
    for name, column in (
        ("subscription", "apim_subscription_id"),
        ("deployment", "deployment"),
        ("model", "model"),
    ):
        value = getattr(filters, name)
        if value is not None:
            requests = requests.filter(**{column: value})
    fields = (
        "correlation_id",
        "time",
        "apim_subscription_id",
        "product_id",
        "deployment",
        "model",
        "response_code",
        "total_tokens",
        "cost",
        "caller_source",
    )
    if filters.cost_center is None and scope.is_everything:
        return list(requests.order_by("-time").only(*fields)[:limit])
    # The cost center follows from subscription and product: filtered here, newest first.
    resolve = cost_center_resolver()
    rows = []
    for row in requests.order_by("-time").only(*fields).iterator(chunk_size=500):
        code = resolve(row.apim_subscription_id, row.product_id).code
        if (filters.cost_center is None or code == filters.cost_center) and scope.allows(code):
            rows.append(row)
            if len(rows) == limit:
                break
    return rows
