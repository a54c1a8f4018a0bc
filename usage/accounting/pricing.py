"""Prices and cost: which price applies to a request, what it costs, defaults, previews, PTU.

* ``genai_price_rows`` / ``prices_seed``: the default table, from the pinned ``genai-prices``
  package (offline, Azure provider; ``gpt-35-turbo`` maps to ``gpt-3.5-turbo`` there).
* ``PriceBook``: every price row loaded once; ``PriceBook.find`` picks the row in effect for a
  request (most specific deployment / deployment type first, admin before default, latest
  ``effective_from`` not after the request time).
* ``cost_compute``: money for tokens, cached tokens, images and audio minutes under one row.
* ``month_is_closed`` / ``months_closed``: a closed month is never repriced.
* Previews and applying a new admin price: ``usage.accounting.price_changes``.
* ``ptu_allocate``: provisioned deployments share their monthly commitment out by tokens.
"""

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from aoai_portal.months import month_bounds, month_floor
from usage.db.bulk import rows_update
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

GENAI_PRICES_VERSION = "0.2.3"
# Before any dated price of genai-prices: the default rows apply from here on.
DEFAULT_EFFECTIVE_FROM = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
# Azure OpenAI model names (as the service reports them) that get a default price.
AZURE_MODELS = (
    "gpt-35-turbo",
    "gpt-35-turbo-16k",
    "gpt-35-turbo-instruct",
    "gpt-4",
    "gpt-4-32k",
    "gpt-4-turbo",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4.5-preview",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5-chat",
    "o1",
    "o1-mini",
    "o1-preview",
    "o3",
    "o3-mini",
    "o4-mini",
    "codex-mini",
    "gpt-image-1",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
)
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
    """Same rule as the chargeback pages (``usage.chargeback.selectors.reports.month_is_closed``)."""
    from usage.chargeback.selectors.reports import month_is_closed as chargeback_month_is_closed

    return chargeback_month_is_closed(month)


# --- defaults from genai-prices -----------------------------------------------------------------


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    base = getattr(value, "base", value)  # TieredPrices: the base rate
    return Decimal(str(base))


def genai_price_rows() -> list[dict]:
    """The default price rows, computed from the installed (pinned) genai-prices data."""
    import genai_prices
    from genai_prices import data_snapshot
    from genai_prices.types import ModelPrice as GenaiModelPrice
    from genai_prices.types import StartDateConstraint

    snapshot = data_snapshot.get_snapshot()
    rows = []
    for model in AZURE_MODELS:
        try:
            _provider, info = snapshot.find_provider_model(model, None, "azure", None)
        except LookupError:
            continue
        periods: list[tuple[dt.datetime, GenaiModelPrice]] = []
        if isinstance(info.prices, GenaiModelPrice):
            periods.append((DEFAULT_EFFECTIVE_FROM, info.prices))
        else:
            for conditional in info.prices:
                constraint = conditional.constraint
                if constraint is None:
                    start = DEFAULT_EFFECTIVE_FROM
                elif isinstance(constraint, StartDateConstraint):
                    day = constraint.start_date
                    start = max(
                        DEFAULT_EFFECTIVE_FROM, dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
                    )
                else:
                    continue  # time-of-day discounts do not exist on Azure
                periods.append((start, conditional.prices))
        for start, price in periods:
            values = price.__dict__
            rows.append(
                {
                    "model": model,
                    "deployment": "",
                    "deployment_type": DeploymentType.GLOBAL,
                    "currency": "USD",
                    "effective_from": start,
                    "source": ModelPrice.Source.GENAI_PRICES,
                    "input_per_1m": _decimal(values.get("input_mtok")) or Decimal(0),
                    "cached_input_per_1m": _decimal(values.get("cache_read_mtok")),
                    "output_per_1m": _decimal(values.get("output_mtok")) or Decimal(0),
                    "source_version": genai_prices.__version__,
                    "note": f"genai-prices model {info.id}",
                }
            )
    return rows


def prices_seed(*, price_model: type = ModelPrice) -> int:
    """Write the default prices as rows (idempotent); returns how many rows were created.

    ``price_model`` lets the data migration pass its historical model.
    """
    keys = ("model", "deployment", "deployment_type", "currency", "effective_from", "source")
    rows = genai_price_rows()
    if not price_model.objects.exists():
        # An empty table (a new database; a test database emptied between tests): one insert, the
        # last row of a key winning as below.
        by_key = {tuple(row[k] for k in keys): row for row in rows}
        price_model.objects.bulk_create(price_model(**row) for row in by_key.values())
        return len(by_key)
    created = 0
    for row in rows:
        key = {k: row[k] for k in keys}
        defaults = {k: v for k, v in row.items() if k not in key}
        _obj, was_created = price_model.objects.update_or_create(**key, defaults=defaults)
        created += int(was_created)
    return created


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


# --- PTU ----------------------------------------------------------------------------------------


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


# --- price change: preview and apply ------------------------------------------------------------
