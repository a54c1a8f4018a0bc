"""Every row of some rollup tables, comparable across a rebuild (ids left out, floats rounded)."""

import json

from django.db import models

from usage.models import (
    LatencyDaily,
    LatencyDailySpan,
    LatencyHourOfDay,
    LatencyOperationDaily,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    TokensPerMinuteHourly,
    UsageDaily,
    UsageHourly,
)

# What ingestion keeps from the requests it stores, hour by hour and day by day.
ROLLUP_TABLES = (
    UsageHourly,
    UsageDaily,
    TokensPerMinuteHourly,
    LatencyDaily,
    LatencyHourOfDay,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
    LatencyDailySpan,
    LatencyOperationDaily,
)


def _value(value):
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float):
        return round(value, 6)  # sums of floats in another order
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)  # SQLite keeps JSON keys in the order written
    return value


def rollup_snapshot(tables: tuple[type[models.Model], ...]) -> dict[str, list[tuple]]:
    return {
        model.__name__: sorted(
            tuple(str(_value(v)) for v in row)
            for row in model.objects.values_list(*[f.name for f in model._meta.fields if f.name != "id"])
        )
        for model in tables
    }
