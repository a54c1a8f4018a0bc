"""Usage as a time series: the measures per day or hour, optionally split by one grouping (live
figures: usage, not the closed chargeback)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..scope import CostCenterScope
from .cost_centers import cost_center_resolver
from .groups import group_key
from .lines import ChargebackInputError, Measures, usage_lines


@dataclass
class SeriesRow:
    time: datetime
    group: str
    label: str
    measures: Measures


def usage_series(
    *, begin: datetime, end: datetime, interval: str, scope: CostCenterScope, group_by: str | None = None
) -> tuple[list[SeriesRow], Measures]:
    """The measures per ``interval`` bucket in ``[begin, end)``, optionally split by ``group_by``.

    Only lines charged to a cost center in ``scope`` count.

    Live figures (no month-close snapshot): this is usage, not the closed chargeback.
    """
    if group_by is not None and group_by not in ("cost_center", "subscription", "deployment", "model"):
        raise ChargebackInputError(
            f"group_by must be one of cost_center, subscription, deployment, model, not {group_by!r}."
        )
    resolve = cost_center_resolver()
    lines = scope.lines_keep(usage_lines(begin=begin, end=end, interval=interval), resolve=resolve)
    rows: dict[tuple[datetime, str], SeriesRow] = {}
    totals = Measures()
    for line in lines:
        if group_by is None:
            key, label = "", "All"
        else:
            key, label = group_key(group_by, line, resolve(line.subscription, line.product))
        row = rows.get((line.bucket, key))
        if row is None:
            row = rows[(line.bucket, key)] = SeriesRow(line.bucket, key, label, Measures())
        row.measures.add(line.measures)
    # Summed from the (far fewer) rows, not per line: exact decimals, so the same total.
    for row in rows.values():
        totals.add(row.measures)
    return sorted(rows.values(), key=lambda r: (r.time, r.group)), totals
