"""Usage and tiers made by the project's own code paths: GatewayRequest rows + the real rollup."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from quotas.models import QuotaTier
from usage.models import GatewayRequest
from usage.rollups import rollup_refresh_hours

_ids = count(1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def request_add(
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
    return GatewayRequest.objects.create(
        correlation_id=f"corr-{next(_ids):08d}",
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
