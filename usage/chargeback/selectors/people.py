"""Chargeback lines per caller: the request log summed per subscription, product, deployment,
model and caller (``GatewayRequest.caller_object_id``, found by ``usage.identity``).

The rollups do not know the caller, so grouping by person reads the requests themselves: live
figures, also for a closed month (its snapshot has no person). The lines carry ``person`` and
otherwise look like rollup lines, so reports group, filter and true-up them the same way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import BigIntegerField, Case, Count, Sum, When

from ...measures import TOKEN_MEASURES
from ...models import GatewayRequest, NamedIdentity, TokenSource
from .lines import Line, Measures

# The group of the requests no source names a caller of.
UNIDENTIFIED = "(unidentified)"
_SUMMED = (*TOKEN_MEASURES, "cost")
_KEYS = ("apim_subscription_id", "product_id", "deployment", "model", "caller_object_id")


def person_lines(
    *,
    begin: datetime,
    end: datetime,
    model: str | None = None,
    subscription: str | None = None,
    fast_path: bool | None = None,
) -> list[Line]:
    """One line per dimensions and caller over ``[begin, end)`` (one bucket: ``begin``).

    On PostgreSQL the database sums (NUMERIC cost is exact); elsewhere Python sums the exact
    decimals (SQLite would sum them as floats).
    """
    requests = GatewayRequest.objects.filter(time__gte=begin, time__lt=end)
    if model is not None:
        requests = requests.filter(model=model)
    if subscription is not None:
        requests = requests.filter(apim_subscription_id=subscription)
    if fast_path is None:
        fast_path = connection.vendor == "postgresql"
    lines: dict[tuple, Line] = {}
    if fast_path:
        grouped = requests.values(*_KEYS).annotate(
            requests_n=Count("id"),
            **{f"sum_{n}": Sum(n) for n in _SUMMED},
            estimated=Sum(
                Case(
                    When(token_source=TokenSource.ESTIMATED, then="total_tokens"),
                    default=0,
                    output_field=BigIntegerField(),
                )
            ),
            unpriced=Sum(
                Case(When(is_priced=False, then="total_tokens"), default=0, output_field=BigIntegerField())
            ),
        )
        for row in grouped.order_by():
            measures = Measures(
                requests=row["requests_n"],
                **{n: row[f"sum_{n}"] or 0 for n in TOKEN_MEASURES},
                estimated_tokens=row["estimated"] or 0,
                unpriced_tokens=row["unpriced"] or 0,
                cost=Decimal(row["sum_cost"] or 0),
            )
            _add(lines, begin, tuple(row[k] for k in _KEYS), measures)
    else:
        for row in requests.values_list(*_KEYS, *_SUMMED, "token_source", "is_priced").iterator():
            *keys, prompt, cached, completion, reasoning, total, cost, source, priced = row
            measures = Measures(
                requests=1,
                prompt_tokens=prompt,
                cached_tokens=cached,
                completion_tokens=completion,
                reasoning_tokens=reasoning,
                total_tokens=total,
                estimated_tokens=total if source == TokenSource.ESTIMATED else 0,
                unpriced_tokens=0 if priced else total,
                cost=Decimal(cost),
            )
            _add(lines, begin, tuple(keys), measures)
    return [lines[key] for key in sorted(lines)]


def _add(lines: dict[tuple, Line], bucket: datetime, keys: tuple, measures: Measures) -> None:
    line = lines.get(keys)
    if line is None:
        subscription, product, deployment, model, person = keys
        lines[keys] = Line(bucket, subscription, product, deployment, model, measures, person=person)
    else:
        line.measures.add(measures)


def person_key(line: Line) -> tuple[str, str]:
    """The group of a person line and its label before naming (``people_named``)."""
    return (line.person, line.person) if line.person else (UNIDENTIFIED, UNIDENTIFIED)


def people_named(object_ids: list[str]) -> dict[str, NamedIdentity]:
    """The People table's rows of these ids."""
    ids = [i for i in object_ids if i and i != UNIDENTIFIED]
    return {p.object_id: p for p in NamedIdentity.objects.filter(object_id__in=ids)}
