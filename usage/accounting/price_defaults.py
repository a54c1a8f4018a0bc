"""Default prices: the rows seeded from the pinned ``genai-prices`` package.

* ``genai_price_rows``: the default table, computed offline from ``genai-prices`` (Azure provider;
  ``gpt-35-turbo`` maps to ``gpt-3.5-turbo`` there).
* ``prices_seed``: writes those rows (idempotent); the data migration and ``manage.py prices_seed``
  run it.
"""

import datetime as dt
from decimal import Decimal

from usage.models import DeploymentType, ModelPrice

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
