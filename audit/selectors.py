"""Reads for prompt review: cost centers of requests, the queue with its filters, the flags API."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q, QuerySet

from usage.models import CostCenter, CostCenterAssignment, GatewayRequest

from .models import Flag, ReviewItem


@dataclass(frozen=True)
class CostCenterMap:
    """APIM subscription and product -> cost center; a subscription's own assignment wins."""

    by_subscription: dict[str, CostCenter]
    by_product: dict[str, CostCenter]

    def of(self, *, subscription: str, product: str) -> CostCenter | None:
        return self.by_subscription.get(subscription) or self.by_product.get(product)


def cost_center_map_get() -> CostCenterMap:
    by_subscription: dict[str, CostCenter] = {}
    by_product: dict[str, CostCenter] = {}
    for assignment in CostCenterAssignment.objects.select_related("cost_center"):
        target = by_subscription if assignment.kind == CostCenterAssignment.Kind.SUBSCRIPTION else by_product
        target[assignment.key] = assignment.cost_center
    return CostCenterMap(by_subscription=by_subscription, by_product=by_product)


def requests_of_cost_center_q(*, cost_center: CostCenter, prefix: str = "") -> Q:
    """Q over GatewayRequest (``prefix`` e.g. ``request__``) for requests charged to ``cost_center``."""
    assignments = CostCenterAssignment.objects.all()
    own_subs = [a.key for a in assignments if a.kind == "subscription" and a.cost_center_id == cost_center.pk]
    own_products = [a.key for a in assignments if a.kind == "product" and a.cost_center_id == cost_center.pk]
    other_subs = [
        a.key for a in assignments if a.kind == "subscription" and a.cost_center_id != cost_center.pk
    ]
    return Q(**{f"{prefix}apim_subscription_id__in": own_subs}) | (
        Q(**{f"{prefix}product_id__in": own_products})
        & ~Q(**{f"{prefix}apim_subscription_id__in": other_subs})
    )


@dataclass(frozen=True)
class QueueFilters:
    rule: str = ""  # a Flag.source ("rule:3", "detector:email")
    severity: int | None = None  # at least this severity
    status: str = ""
    subscription: str = ""
    cost_center: str = ""  # CostCenter.code
    since: datetime | None = None  # request time, half-open [since, until)
    until: datetime | None = None
    order: str = "severity"  # a key of QUEUE_ORDERS


# "todo" in QueueFilters.status: what is left to do (open, or taken and not decided).
TODO = "todo"

# Each order of the queue as (field, descending) keys, the last one unique: the queue sorts by
# them and the next / previous item of the request page compares against them (keyset), so the
# reviewer walks the queue in the order it is listed. "severity" puts the most severe first and,
# within one severity, the request that has waited longest.
QUEUE_ORDERS: dict[str, tuple[tuple[str, bool], ...]] = {
    "severity": (("severity", True), ("request_time", False), ("id", False)),
    "newest": (("request_time", True), ("id", True)),
    "oldest": (("request_time", False), ("id", False)),
}


def review_items_filter(*, filters: QueueFilters) -> QuerySet[ReviewItem]:
    """The queue, filtered and sorted on ReviewItem's own copies of the request's fields.

    No join to the (partitioned) request table: attach the requests of a page with
    ``review_items_requests_attach``.
    """
    items = ReviewItem.objects.select_related("assignee")
    if filters.status == TODO:
        items = items.filter(status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.IN_REVIEW])
    elif filters.status:
        items = items.filter(status=filters.status)
    if filters.severity:
        items = items.filter(severity__gte=filters.severity)
    if filters.rule:
        items = items.filter(request_id__in=Flag.objects.filter(source=filters.rule).values("request_id"))
    if filters.subscription:
        items = items.filter(apim_subscription_id=filters.subscription)
    if filters.cost_center:
        cost_center = CostCenter.objects.filter(code=filters.cost_center).first()
        if cost_center is None:
            return items.none()
        # ReviewItem's copies carry the same names as GatewayRequest's columns.
        items = items.filter(requests_of_cost_center_q(cost_center=cost_center))
    if filters.since:
        items = items.filter(request_time__gte=filters.since)
    if filters.until:
        items = items.filter(request_time__lt=filters.until)
    keys = QUEUE_ORDERS.get(filters.order, QUEUE_ORDERS["severity"])
    return items.order_by(*(f"-{name}" if descending else name for name, descending in keys))


def review_item_neighbour(
    *, filters: QueueFilters, item: ReviewItem, previous: bool = False
) -> ReviewItem | None:
    """The item after ``item`` in the queue of ``filters`` (before it with ``previous``).

    Compared on the order's keys, so ``item`` itself need not match the filters any more (an item
    just taken or dismissed has left a "to do" queue; the next one is still the one after it).
    """
    keys = QUEUE_ORDERS.get(filters.order, QUEUE_ORDERS["severity"])
    after = Q(pk__in=[])
    for index, (name, descending) in enumerate(keys):
        lookup = "lt" if descending != previous else "gt"
        term = Q(**{f"{name}__{lookup}": getattr(item, name)})
        for earlier, _ in keys[:index]:
            term &= Q(**{earlier: getattr(item, earlier)})
        after |= term
    items = review_items_filter(filters=filters).filter(after)
    return (items.reverse() if previous else items).first()


def review_items_requests_attach(items: list[ReviewItem]) -> list[ReviewItem]:
    """Load the requests of ``items`` (a page) in one query and set ``item.request``.

    Looked up by (id, time) so PostgreSQL only probes the partitions of those months; an item
    whose request is gone (no database constraint) is left out, as the old inner join did.
    """
    if not items:
        return items
    requests = GatewayRequest.objects.filter(
        pk__in=[item.request_id for item in items], time__in={item.request_time for item in items}
    )
    by_id = {request.pk: request for request in requests}
    missing = [item.request_id for item in items if item.request_id not in by_id]
    if missing:  # a copied time out of step: fall back to the id alone
        by_id.update((request.pk, request) for request in GatewayRequest.objects.filter(pk__in=missing))
    kept = []
    for item in items:
        request = by_id.get(item.request_id)
        if request is not None:
            item.request = request
            kept.append(item)
    return kept


def review_status_counts() -> dict[str, int]:
    counts = dict.fromkeys(ReviewItem.Status.values, 0)
    # COUNT(*), not of a column: PostgreSQL then counts the status index alone.
    for row in ReviewItem.objects.values("status").annotate(n=Count("*")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def review_queue_count(*, filters: QueueFilters, status_counts: dict[str, int]) -> int | None:
    """The number of items in the queue of ``filters`` when ``status_counts`` already says it (a
    queue filtered by status alone, the default one included), else None: counted by the page."""
    if any((filters.rule, filters.severity, filters.subscription, filters.cost_center)):
        return None
    if filters.since or filters.until:
        return None
    if filters.status == TODO:
        return status_counts[ReviewItem.Status.OPEN] + status_counts[ReviewItem.Status.IN_REVIEW]
    if filters.status:
        return status_counts.get(filters.status, 0)
    return sum(status_counts.values())


def review_oldest_open_time() -> datetime | None:
    """The request time of the oldest open item (how long it has waited, not since ingestion)."""
    oldest: datetime | None = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).aggregate(
        t=Min("request_time")
    )["t"]
    return oldest


def flag_sources_list() -> list[tuple[str, str]]:
    """(source, label) of every built-in detector and admin rule, for the queue's filter menu."""
    from .detectors import DETECTOR_LABELS
    from .models import FlagRule

    detectors = [(f"detector:{name}", label) for name, label in DETECTOR_LABELS.items()]
    rules = [(f"rule:{pk}", f"Rule: {name}") for pk, name in FlagRule.objects.values_list("pk", "name")]
    return detectors + rules


def flags_by_request(*, request_ids: list[int]) -> dict[int, list[Flag]]:
    result: dict[int, list[Flag]] = {}
    for flag in Flag.objects.filter(request_id__in=request_ids).order_by("-severity", "name"):
        result.setdefault(flag.request_id, []).append(flag)
    return result


def request_get(*, correlation_id: str) -> GatewayRequest | None:
    return GatewayRequest.objects.filter(correlation_id=correlation_id).first()


def reevaluation_requests(*, since: datetime, until: datetime) -> QuerySet[GatewayRequest]:
    """The requests of ``[since, until)`` whose text is still kept (re-evaluation reads them), by time."""
    return GatewayRequest.objects.filter(
        time__gte=since, time__lt=until, bodies_purged_at__isnull=True
    ).order_by("time")
