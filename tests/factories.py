"""Test data made with the project's own models: gateway requests, quota tiers, the real rollup.

Every builder takes keyword arguments with defaults. One counter numbers the generated
correlation ids, so requests of different builders never collide within a test process.
"""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from django.contrib.auth.models import Group, User

from aoai_portal.roles import BUDGET_OWNER
from quotas.models import QuotaTier
from tests.support.review_data import T0, chat_bodies
from usage.models import CostCenter, CostCenterOwner, GatewayRequest
from usage.rollups.hourly import rollup_refresh_hours

_ids = count(1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def gateway_request(**fields) -> GatewayRequest:
    """An unsaved GatewayRequest with sensible defaults; ``fields`` override them."""
    n = next(_ids)
    values = {
        "correlation_id": f"corr-{n:08d}",
        "apim_request_id": f"apim-{n:08d}",
        "time": datetime.fromisoformat("2026-03-02T10:15:00+00:00"),
        "apim_subscription_id": "sub-a",
        "product_id": "prod-a",
        "deployment": "gpt-4o",
        "model": "gpt-4o",
        "backend_region": "swedencentral",
        "apim_region": "West Europe",
        "response_code": 200,
        "operation": "chat",
        "total_time_ms": 500.0,
        "backend_time_ms": 450.0,
        "completion_tokens": 100,
        "prompt_tokens": 50,
        "total_tokens": 150,
    }
    values.update(fields)
    return GatewayRequest(**values)


def gateway_request_create(*, correlation_id: str = "", time: datetime = T0, **fields) -> GatewayRequest:
    """A stored GatewayRequest of only the given fields (the model's defaults for the others)."""
    return GatewayRequest.objects.create(
        correlation_id=correlation_id or f"corr-{next(_ids):08d}", time=time, **fields
    )


def chat_request_create(
    correlation_id: str,
    *,
    prompt: str = "Hello there",
    completion: str = "Hi, how can I help?",
    system: str = "You are a helpful assistant.",
    time: datetime = T0,
    subscription: str = "sub-team-a",
    product: str = "",
    content_filter: dict | None = None,
    stream: bool = False,
) -> GatewayRequest:
    """A stored chat call with its request and response bodies (what prompt review reads)."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    request_body, response_body = chat_bodies(messages, completion, stream=stream)
    return gateway_request_create(
        correlation_id=correlation_id,
        time=time,
        apim_subscription_id=subscription,
        product_id=product,
        request_body=request_body,
        response_body=response_body,
        response_code=200,
        content_filter=content_filter or {},
        prompt_tokens=12,
        completion_tokens=7,
        total_tokens=19,
    )


def priced_request_create(
    *,
    sub: str,
    at: datetime,
    tokens: int,
    cost: str | Decimal = "0",
    product: str = "prod-a",
    code: int = 200,
    deployment: str = "gpt-4o",
    model: str = "gpt-4o",
) -> GatewayRequest:
    """A stored, priced request of ``tokens`` tokens (what quotas and their rollups count)."""
    return gateway_request_create(
        time=at,
        apim_subscription_id=sub,
        product_id=product,
        deployment=deployment,
        model=model,
        total_tokens=tokens,
        prompt_tokens=tokens,
        cost=Decimal(cost),
        response_code=code,
        is_priced=True,
    )


def rollups_refresh() -> None:
    rollup_refresh_hours(hours=set(GatewayRequest.objects.values_list("time", flat=True)))


def tier_add(
    name: str,
    *,
    tpm: int = 10_000,
    quota: int = 1_000_000,
    budget: str | None = None,
    deployments: str = "",
    models: str = "",
    effective_from: datetime = LONG_AGO,
    **extra,
) -> QuotaTier:
    return QuotaTier.objects.create(
        name=name,
        tokens_per_minute=tpm,
        monthly_token_quota=quota,
        monthly_cost_budget=Decimal(budget) if budget is not None else None,
        allowed_deployments=deployments,
        allowed_models=models,
        effective_from=effective_from,
        **extra,
    )


def budget_owner_create(username: str, *, owns: tuple[str, ...] = (), email: str = "") -> User:
    """A user with the budget_owner role who owns the cost centers ``owns`` (codes) by username."""
    user = User.objects.create_user(username=username, password=None, email=email)
    user.groups.add(Group.objects.get_or_create(name=BUDGET_OWNER)[0])
    for code in owns:
        center = CostCenter.objects.get(code=code)
        CostCenterOwner.objects.create(cost_center=center, kind=CostCenterOwner.Kind.USER, value=username)
    return user
