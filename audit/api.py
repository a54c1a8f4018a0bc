"""``GET /api/v1/flags``: flagged requests for reviewers, without any prompt text."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from aoai_portal.api_access import require_role
from aoai_portal.params import MAX_OFFSET, in_range
from aoai_portal.roles import REVIEWER

from .selectors import QueueFilters, flags_by_request, review_items_filter, review_items_requests_attach

router = Router(tags=["audit"])
MAX_LIMIT = 1000
# ``from`` is a Python keyword: the parameter is ``from_`` with the query-string name "from".
# ninja types Query as Annotated[T, ...] for checkers, which makes this (documented) call form untyped.
FROM_PARAM = Query(None, alias="from")  # type: ignore[type-arg]


class FlagItemOut(Schema):
    correlation_id: str
    time: datetime
    subscription: str
    rules: list[str]
    severity: str
    status: str


class FlagListOut(Schema):
    count: int
    items: list[FlagItemOut]


@router.get("/flags", response=FlagListOut, url_name="flags")
def flags_list(
    request: HttpRequest,
    status: str = "",
    rule: str = "",
    from_: datetime | None = FROM_PARAM,
    to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    require_role(request, REVIEWER)
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise HttpError(400, f"limit must be 1..{MAX_LIMIT} and offset 0..{MAX_OFFSET}.")
    for name, moment in (("from", from_), ("to", to)):
        if moment is not None:
            in_range(moment, name=name)
    from .models import ReviewItem

    if status and status not in ReviewItem.Status.values:
        raise HttpError(400, f"status must be one of {', '.join(ReviewItem.Status.values)}.")
    items = review_items_filter(filters=QueueFilters(status=status, since=from_, until=to, order="newest"))
    if rule:
        # A rule or detector name, or its source ("rule:3", "detector:email").
        field = "request__flags__source" if ":" in rule else "request__flags__name"
        items = items.filter(**{field: rule}).distinct()
    count = items.count()
    page = review_items_requests_attach(list(items[offset : offset + limit]))
    flags = flags_by_request(request_ids=[item.request_id for item in page])
    return {
        "count": count,
        "items": [
            {
                "correlation_id": item.request.correlation_id,
                "time": item.request.time,
                "subscription": item.request.apim_subscription_id,
                "rules": [flag.name for flag in flags.get(item.request_id, [])],
                "severity": item.get_severity_display(),
                "status": item.status,
            }
            for item in page
        ],
    }
