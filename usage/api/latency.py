"""GET /api/v1/latency: latency percentiles, throttling and tokens/second per group."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from aoai_portal.api_access import require_role
from aoai_portal.roles import FINANCE, REVIEWER

from ..latency.filters import LatencyFilterError, latency_filters_parse
from ..latency.groups import latency_rows

router = Router(tags=["latency"])

API_GROUPINGS = ("region", "deployment", "model", "hour_of_day", "apim_region", "day")


class LatencyParams(Schema):
    from_: str | None = Field(None, alias="from", description="Start, a date or ISO 8601 date-time (UTC).")
    to: str | None = Field(None, description="End (exclusive; a date includes that whole day).")
    group_by: str = Field("region", description="region, deployment, model, hour_of_day, apim_region or day.")
    deployment: str | None = None
    model: str | None = None
    streaming: str | None = Field(
        None,
        description="true, false, empty for both (as separate rows), or combined (both together: all requests).",
    )
    subscription: str | None = Field(None, description="APIM subscription id.")


class LatencyRowOut(Schema):
    group: str | int
    label: str = Field(
        description=(
            "The group as pages show it: a region's display and region names ('East US 2 (eastus2)'), "
            "'APIM gateway (not sent to a backend)'."
        )
    )
    streaming: bool | None = Field(description="None with streaming=combined: all requests together.")
    requests: int
    total_p50_ms: float | None
    total_p95_ms: float | None
    total_p99_ms: float | None
    backend_p50_ms: float | None
    backend_p95_ms: float | None
    backend_p99_ms: float | None
    native_p50_ms: float | None
    native_p95_ms: float | None
    native_p99_ms: float | None
    overhead_p50_ms: float | None
    overhead_p95_ms: float | None
    overhead_p99_ms: float | None
    throttled_share: float
    error_share: float
    tokens_per_second: float | None
    last_seen_at: datetime | None
    ratelimit_remaining_requests: int | None
    ratelimit_remaining_tokens: int | None


class LatencyOut(Schema):
    rows: list[LatencyRowOut]
    note: str = Field(
        "",
        description="Set when the range starts before the hourly horizon and was widened to whole days "
        "(usage before it is kept by day); empty otherwise.",
    )


@router.get("/latency", response=LatencyOut, summary="Latency per region, deployment, model or hour of day")
def latency(request: HttpRequest, params: Query[LatencyParams]) -> dict[str, Any]:
    """One row per group and streaming kind (with ``streaming=combined``, one row per group).

    Percentiles (ms) come from merged hourly histograms: within one bucket width (~6%) of exact.
    """
    require_role(request, FINANCE, REVIEWER)
    if params.group_by not in API_GROUPINGS:
        raise HttpError(400, f"group_by must be one of: {', '.join(API_GROUPINGS)}.")
    query = {
        "from": params.from_,
        "to": params.to,
        "deployment": params.deployment,
        "model": params.model,
        "streaming": params.streaming,
        "subscription": params.subscription,
    }
    try:
        filters = latency_filters_parse(params={k: v for k, v in query.items() if v})
    except LatencyFilterError as error:
        raise HttpError(400, str(error)) from None
    return {"rows": latency_rows(filters=filters, group_by=params.group_by), "note": filters.note}
