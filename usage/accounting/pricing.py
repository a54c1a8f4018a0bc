"""Prices and cost: which price applies to a request, what it costs, closed months.

* Default prices (``genai_price_rows`` / ``prices_seed``): ``usage.accounting.price_defaults``.
* ``PriceBook``: every price row loaded once; ``PriceBook.find`` picks the row in effect for a
  request (most specific deployment / deployment type first, admin before default, latest
  ``effective_from`` not after the request time).
* ``cost_compute``: money for tokens, cached tokens, images and audio minutes under one row.
* ``month_is_closed`` / ``months_closed``: a closed month is never repriced.
* Previews and applying a new admin price: ``usage.accounting.price_changes``.
* PTU (``ptu_rates``, ``ptu_allocate``): ``usage.accounting.ptu``; ``request_cost`` prices a
  provisioned deployment's request with the rates it is given.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from aoai_portal.months import month_floor
from usage.models import (
    Deployment,
    DeploymentType,
    GatewayRequest,
    ModelPrice,
    MonthClose,
    ProvisionedCommitment,
    TokenSource,
)

from .parse.readers import model_split

_EIGHT_PLACES = Decimal("0.00000001")
_MILLION = Decimal(1_000_000)
# Requests whose numbers are known to cost nothing are "priced" at 0 (errors).
NO_CHARGE_VERSION = "no-charge"


# --- closed months ------------------------------------------------------------------------------


def months_closed(*, months: Iterable[dt.date]) -> set[dt.date]:
    """Which of ``months`` are closed by finance (an active ``MonthClose``), in one query."""
    wanted = {month_floor(m) for m in months}
    if not wanted:
        return set()
    rows = MonthClose.objects.filter(month__in=wanted, reopened_at__isnull=True)
    return {month_floor(m) for m in rows.values_list("month", flat=True)}


def month_is_closed(month: dt.date) -> bool:
    """Same rule as the chargeback pages (``usage.chargeback.selectors.closes.month_is_closed``)."""
    from usage.chargeback.selectors.closes import month_is_closed as chargeback_month_is_closed

    return chargeback_month_is_closed(month)


# --- the price book -----------------------------------------------------------------------------


@dataclass
class PriceBook:
    """All price rows and deployment kinds, loaded once per batch (no per-request queries)."""

    by_model: dict[str, list[ModelPrice]] = field(default_factory=dict)
    deployment_types: dict[str, str] = field(default_factory=dict)
    deployment_models: dict[str, str] = field(default_factory=dict)
    deployment_regions: dict[str, str] = field(default_factory=dict)
    commitments: dict[tuple[str, dt.date], ProvisionedCommitment] = field(default_factory=dict)

    @classmethod
    def load(cls, *, extra: Iterable[ModelPrice] = ()) -> "PriceBook":
        book = cls()
        for price in [*ModelPrice.objects.all(), *extra]:
            book.by_model.setdefault(price.model.lower(), []).append(price)
        deployments = list(Deployment.objects.values_list("name", "deployment_type", "model", "region"))
        book.deployment_types = {name: kind for name, kind, _model, _region in deployments}
        book.deployment_models = {name: model for name, _kind, model, _region in deployments if model}
        book.deployment_regions = {name: region for name, _kind, _model, region in deployments if region}
        book.commitments = {(c.deployment, c.month): c for c in ProvisionedCommitment.objects.all()}
        return book

    def deployment_type(self, deployment: str) -> str:
        return self.deployment_types.get(deployment, DeploymentType.GLOBAL)

    def deployment_model(self, deployment: str) -> str:
        """The model ``deployment`` serves, for a request whose logs name none: the one set in
        Admin → Deployments, else the deployment's own name when it is a priced model's name
        (deployments are often named after their model); "" when neither says."""
        configured = self.deployment_models.get(deployment)
        if configured:
            return model_split(configured)[0]
        base, _version = model_split(deployment)
        return base if base in self.by_model else ""

    def find(self, *, model: str, deployment: str, at: dt.datetime) -> ModelPrice | None:
        """The row in effect for ``model`` on ``deployment`` at ``at``, or None (unpriced)."""
        candidates = self.by_model.get((model or "").lower())
        if not candidates:
            base, _version = model_split(model)
            candidates = self.by_model.get(base)
        if not candidates:
            return None
        wanted_type = self.deployment_type(deployment)
        region = self.deployment_regions.get(deployment, "")
        version = model_split(model)[1]
        portal_currency = getattr(settings, "PORTAL_CURRENCY", "USD")
        best = None
        best_rank = None
        for price in candidates:
            if price.effective_from > at:
                continue
            if price.deployment and price.deployment != deployment:
                continue
            if price.deployment_type != wanted_type and price.deployment_type != DeploymentType.GLOBAL:
                continue
            # Regional prices differ per region; Global and Data Zone ones hardly do, so a listing
            # of another region (or a deployment whose region is not set) still applies to them.
            if price.region and price.region != region and price.deployment_type == DeploymentType.REGIONAL:
                continue
            if price.model_version and not _version_matches(price.model_version, version):
                continue
            rank = (
                bool(price.deployment),
                price.deployment_type == wanted_type,
                price.currency == portal_currency,
                _SOURCE_RANK.get(price.source, 0),
                price.region == region,
                bool(price.model_version),
                price.effective_from,
                price.pk or 0,
            )
            if best_rank is None or rank > best_rank:
                best, best_rank = price, rank
        return best


# Admin overrides win, then Azure's own list prices, then the genai-prices defaults (the fallback).
_SOURCE_RANK = {ModelPrice.Source.ADMIN: 2, ModelPrice.Source.AZURE_RETAIL: 1}


def _version_matches(meter_version: str, version: str) -> bool:
    """A meter's version (``1120``, ``0806``) names the model version ``2024-11-20`` by month and
    day; a request whose model has no version takes any."""
    if not version:
        return True
    digits = version.replace("-", "")
    return digits == meter_version or (len(meter_version) == 4 and digits.endswith(meter_version))


def cost_compute(
    *,
    price: ModelPrice,
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    images: int = 0,
    audio_seconds: float = 0.0,
) -> Decimal:
    """Cost under ``price``: uncached and cached input, output, images, audio minutes."""
    cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
    uncached = max(prompt_tokens, 0) - cached
    cached_rate = price.cached_input_per_1m if price.cached_input_per_1m is not None else price.input_per_1m
    cost = (
        Decimal(uncached) * Decimal(price.input_per_1m)
        + Decimal(cached) * Decimal(cached_rate)
        + Decimal(max(completion_tokens, 0)) * Decimal(price.output_per_1m)
    ) / _MILLION
    if images and price.per_image is not None:
        cost += Decimal(images) * Decimal(price.per_image)
    if audio_seconds and price.per_audio_minute is not None:
        cost += Decimal(str(audio_seconds)) / Decimal(60) * Decimal(price.per_audio_minute)
    return cost.quantize(_EIGHT_PLACES)


def _can_price(price: ModelPrice, *, tokens: int, images: int, audio_seconds: float) -> bool:
    if images and not tokens and price.per_image is None:
        return False
    if audio_seconds and not tokens and price.per_audio_minute is None:
        return False
    return True


@dataclass(frozen=True)
class Cost:
    cost: Decimal
    currency: str
    is_priced: bool
    price_version: str


def request_cost(
    *,
    book: PriceBook,
    time: dt.datetime,
    model: str,
    deployment: str,
    token_source: str,
    prompt_tokens: int,
    cached_tokens: int,
    completion_tokens: int,
    images: int,
    audio_seconds: float,
    is_error: bool,
    ptu_rates: dict[tuple[str, dt.date], tuple[Decimal, ProvisionedCommitment]] | None = None,
) -> Cost:
    """The cost of one request under the price book (provisioned deployments: PTU share)."""
    currency = getattr(settings, "PORTAL_CURRENCY", "USD")
    tokens = prompt_tokens + completion_tokens
    if is_error:
        return Cost(Decimal(0), currency, True, NO_CHARGE_VERSION)
    if book.deployment_type(deployment) == DeploymentType.PROVISIONED:
        rate = (ptu_rates or {}).get((deployment, month_floor(time)))
        if rate is None:
            return Cost(Decimal(0), currency, False, "")
        per_token, commitment = rate
        return Cost(
            (Decimal(tokens) * per_token).quantize(_EIGHT_PLACES),
            commitment.currency,
            True,
            f"ptu#{commitment.pk}",
        )
    if token_source == TokenSource.UNKNOWN and not tokens and not images and not audio_seconds:
        return Cost(Decimal(0), currency, False, "")
    price = book.find(model=model, deployment=deployment, at=time)
    if price is None or not _can_price(price, tokens=tokens, images=images, audio_seconds=audio_seconds):
        return Cost(Decimal(0), currency, False, "")
    value = cost_compute(
        price=price,
        prompt_tokens=prompt_tokens,
        cached_tokens=cached_tokens,
        completion_tokens=completion_tokens,
        images=images,
        audio_seconds=audio_seconds,
    )
    return Cost(value, price.currency, True, price.version)


def stored_request_cost(
    *,
    book: PriceBook,
    row: GatewayRequest,
    is_error: bool,
    ptu_rates: dict[tuple[str, dt.date], tuple[Decimal, ProvisionedCommitment]] | None = None,
) -> Cost:
    """``request_cost`` of a stored request, from the usage fields already on its row."""
    return request_cost(
        book=book,
        time=row.time,
        model=row.model,
        deployment=row.deployment,
        token_source=row.token_source,
        prompt_tokens=row.prompt_tokens,
        cached_tokens=row.cached_tokens,
        completion_tokens=row.completion_tokens,
        images=row.images,
        audio_seconds=row.audio_seconds,
        is_error=is_error,
        ptu_rates=ptu_rates,
    )


# --- price change: preview and apply ------------------------------------------------------------
