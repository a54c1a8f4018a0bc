"""Chargeback reads over the hourly rollup, over half-open UTC windows ``[begin, end)``.

Everything is computed from *lines*: the rollup summed per time bucket (day or hour) and per
APIM subscription, product, deployment and model. A report groups lines by one key after
resolving each line's cost center; each line lands in exactly one group, so the groups always
add up to the grand total. Money is ``Decimal`` end to end (never a float).

Closed months are reported from the snapshot frozen at close; what arrived since is the
difference between the live lines and the snapshot lines, shown as adjustment rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Case, Count, F, OuterRef, Subquery, Sum, When
from django.db.models.functions import TruncDay

from aoai_portal.months import month_bounds, month_floor
from aoai_portal.params import ParamError

from ..measures import CHARGEBACK_MEASURES, TOKEN_MEASURES
from ..models import (
    CostCenter,
    CostCenterAssignment,
    GatewayRequest,
    MonthClose,
    NamedIdentity,
    NativeLog,
    TokenSource,
    UsageDaily,
    UsageHourly,
)

# Empty key of a dimension (no subscription, no deployment, unassigned cost center) in URLs.
EMPTY_PARAM = "(none)"
UNASSIGNED_LABEL = "Unassigned"
# Code of the chart series of a closed month's late usage.
ADJUSTMENT_SERIES = "(adjustment)"
GROUPINGS = ("cost_center", "subscription", "deployment", "model", "deployment_model", "day")
INTERVALS = ("day", "hour")
CENT = Decimal("0.01")
EXACT = Decimal("0.00000001")


class ChargebackInputError(ParamError):
    """A parameter a user gave (window, grouping) is not valid; the message says why.

    A ParamError, as is a bad month (``aoai_portal.months.month_parse``): callers catch ParamError.
    """


# --- measures ----------------------------------------------------------------------------------


@dataclass
class Measures:
    """The chargeback measures of a group; ``cost`` is exact (8 decimal places).

    Its fields are ``usage.measures.CHARGEBACK_MEASURES``, in that order.
    """

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    estimated_tokens: int = 0
    unpriced_tokens: int = 0
    cost: Decimal = field(default_factory=Decimal)

    def add(self, other: Measures) -> None:
        # Spelled out (not a loop over ``fields()``): called once per line and group, thousands
        # of times per chargeback page, where the generic loop was most of the page's time.
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.total_tokens += other.total_tokens
        self.estimated_tokens += other.estimated_tokens
        self.unpriced_tokens += other.unpriced_tokens
        self.cost += other.cost

    def minus(self, other: Measures) -> Measures:
        return Measures(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def is_zero(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))

    @property
    def cost_cents(self) -> Decimal:
        """The cost as shown on pages and in exports: rounded half-up to the cent."""
        return self.cost.quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def cost_exact(self) -> Decimal:
        return self.cost.quantize(EXACT, rounding=ROUND_HALF_UP)

    @property
    def reported_tokens(self) -> int:
        return self.total_tokens - self.estimated_tokens

    def share(self, tokens: int) -> Decimal | None:
        """``tokens`` as a percentage of total tokens (None when there are no tokens)."""
        if not self.total_tokens:
            return None
        return (Decimal(tokens) * 100 / Decimal(self.total_tokens)).quantize(Decimal("0.1"))

    def as_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["cost"] = str(self.cost_exact)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Measures:
        values = {f.name: data.get(f.name, 0) for f in fields(cls)}
        values["cost"] = Decimal(str(data.get("cost", "0")))
        return cls(**values)


_INT_MEASURES = tuple(name for name in CHARGEBACK_MEASURES if name != "cost")


# --- lines -------------------------------------------------------------------------------------


@dataclass
class Line:
    """The rollup summed over one time bucket and one combination of dimensions."""

    bucket: datetime
    subscription: str
    product: str
    deployment: str
    model: str
    measures: Measures

    @property
    def dims(self) -> tuple[str, str, str, str]:
        return (self.subscription, self.product, self.deployment, self.model)

    def as_json(self) -> list:
        m = self.measures
        return [
            self.bucket.isoformat(),
            *self.dims,
            *(getattr(m, name) for name in _INT_MEASURES),
            str(m.cost_exact),
        ]

    @classmethod
    def from_json(cls, data: list) -> Line:
        bucket, subscription, product, deployment, model, *values = data
        measures = Measures(**dict(zip(_INT_MEASURES, values[:-1], strict=True)), cost=Decimal(values[-1]))
        return cls(datetime.fromisoformat(bucket), subscription, product, deployment, model, measures)


_DIMS = ("apim_subscription_id", "product_id", "deployment", "model")


def _bucket_of(hour: datetime, interval: str) -> datetime:
    hour = hour.astimezone(UTC)
    if interval == "day":
        return hour.replace(hour=0, minute=0, second=0, microsecond=0)
    return hour.replace(minute=0, second=0, microsecond=0)


def whole_days(*, begin: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days inside ``[begin, end)`` as ``[first midnight, last midnight)`` (may be empty)."""
    begin, end = begin.astimezone(UTC), end.astimezone(UTC)
    first = begin.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < begin:
        first += timedelta(days=1)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return first, max(first, last)


def _line_add(lines: dict[tuple, Line], key: tuple, measures: Measures) -> None:
    line = lines.get(key)
    if line is None:
        # The first measures of a key become the line's own (callers pass fresh objects).
        lines[key] = Line(key[0], *key[1:], measures=measures)
    else:
        line.measures.add(measures)


def _daily_lines_into(
    lines: dict[tuple, Line],
    *,
    first: datetime,
    last: datetime,
    model: str | None,
    fast_path: bool,
    bucket: datetime | None = None,
    subscription: str | None = None,
) -> None:
    """Add the daily rollup of the whole days ``[first, last)`` to ``lines`` (day buckets).

    With ``bucket`` every row lands in that one bucket: the days are summed per dimensions
    (on PostgreSQL by the database, so a month is ~one row per dimensions instead of per day).
    """
    rows = UsageDaily.objects.filter(day__gte=first.date(), day__lt=last.date())
    if model is not None:
        rows = rows.filter(model=model)
    if subscription is not None:
        rows = rows.filter(apim_subscription_id=subscription)
    if fast_path and bucket is not None:
        grouped = (
            rows.values(*_DIMS)
            .annotate(**{f"sum_{name}": Sum(name) for name in CHARGEBACK_MEASURES})
            .order_by()
        )
        for row in grouped:
            measures = Measures(*(row[f"sum_{name}"] or 0 for name in CHARGEBACK_MEASURES))
            measures.cost = Decimal(measures.cost)
            _line_add(lines, (bucket, *(row[d] for d in _DIMS)), measures)
        return
    if fast_path:
        # One row per day and dimensions already: the database's NUMERIC cost is exact.
        values = rows.values_list("day", *_DIMS, *CHARGEBACK_MEASURES).order_by()
    else:
        values = rows.values_list("day", *_DIMS, *CHARGEBACK_MEASURES).iterator(chunk_size=5000)
    buckets: dict[date, datetime] = {}
    for row in values:
        day = row[0]
        if bucket is None:
            day_bucket = buckets.get(day)
            if day_bucket is None:
                day_bucket = buckets[day] = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        else:
            day_bucket = bucket
        # row = day, the 4 dimensions, then the measures in ``CHARGEBACK_MEASURES`` order (cost last).
        measures = Measures(*row[5:-1], Decimal(row[-1]))
        _line_add(lines, (day_bucket, *row[1:5]), measures)


def _hourly_lines_into(
    lines: dict[tuple, Line],
    *,
    begin: datetime,
    end: datetime,
    interval: str,
    model: str | None,
    fast_path: bool,
    subscription: str | None = None,
) -> None:
    """Add the hourly rollup of ``[begin, end)`` to ``lines`` per ``interval`` bucket."""
    rows = UsageHourly.objects.filter(hour__gte=begin, hour__lt=end)
    if model is not None:
        rows = rows.filter(model=model)
    if subscription is not None:
        rows = rows.filter(apim_subscription_id=subscription)
    if fast_path:
        bucket = TruncDay("hour", tzinfo=UTC) if interval == "day" else F("hour")
        grouped = (
            rows.annotate(bucket=bucket)
            .values("bucket", *_DIMS)
            .annotate(**{f"sum_{name}": Sum(name) for name in CHARGEBACK_MEASURES})
            .order_by()
        )
        for row in grouped:
            measures = Measures(**{name: row[f"sum_{name}"] or 0 for name in CHARGEBACK_MEASURES})
            measures.cost = Decimal(measures.cost)
            _line_add(lines, (_bucket_of(row["bucket"], interval), *(row[d] for d in _DIMS)), measures)
    else:
        for row in rows.values("hour", *_DIMS, *CHARGEBACK_MEASURES).iterator(chunk_size=5000):
            key = (_bucket_of(row["hour"], interval), *(row[d] for d in _DIMS))
            _line_add(lines, key, Measures(**{name: row[name] for name in CHARGEBACK_MEASURES}))


def usage_lines(
    *,
    begin: datetime,
    end: datetime,
    interval: str = "day",
    model: str | None = None,
    fast_path: bool | None = None,
    collapse: bool = False,
    subscription: str | None = None,
) -> list[Line]:
    """Rollup lines in ``[begin, end)`` per ``interval`` bucket and subscription/product/deployment/model.

    The portable path sums in Python from exact decimals (SQLite stores decimals as floats and
    would sum them as floats); on PostgreSQL the database sums NUMERIC exactly (``fast_path``).
    ``model``/``subscription`` keep only that model/subscription (``""`` = the empty one).
    With ``collapse`` the whole window is one bucket (``begin``): for reports that group by
    anything but time, which then read ~one row per dimensions instead of one per day.
    """
    if interval not in INTERVALS:
        raise ChargebackInputError(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}.")
    if fast_path is None:
        fast_path = connection.vendor == "postgresql"
    lines: dict[tuple, Line] = {}
    hourly_ranges = [(begin, end)]
    if interval == "day":
        first, last = whole_days(begin=begin, end=end)
        if first < last:
            _daily_lines_into(
                lines,
                first=first,
                last=last,
                model=model,
                fast_path=fast_path,
                bucket=begin if collapse else None,
                subscription=subscription,
            )
            hourly_ranges = [(begin, first), (last, end)]
    for start, stop in hourly_ranges:
        if start < stop:
            partial: dict[tuple, Line] = {}
            _hourly_lines_into(
                partial,
                begin=start,
                end=stop,
                interval=interval,
                model=model,
                fast_path=fast_path,
                subscription=subscription,
            )
            for key, line in partial.items():
                _line_add(lines, (begin, *key[1:]) if collapse else key, line.measures)
    return [lines[key] for key in sorted(lines)]


# --- cost centers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostCenterRef:
    code: str  # "" = unassigned
    name: str

    @property
    def is_unassigned(self) -> bool:
        return self.code == ""


UNASSIGNED = CostCenterRef("", UNASSIGNED_LABEL)
Resolver = Callable[[str, str], CostCenterRef]


def cost_center_resolver() -> Resolver:
    """``resolve(subscription_id, product_id)``: the subscription's own assignment wins over its product's."""
    by_subscription: dict[str, CostCenterRef] = {}
    by_product: dict[str, CostCenterRef] = {}
    for assignment in CostCenterAssignment.objects.select_related("cost_center"):
        ref = CostCenterRef(assignment.cost_center.code, assignment.cost_center.name)
        target = by_subscription if assignment.kind == CostCenterAssignment.Kind.SUBSCRIPTION else by_product
        target[assignment.key] = ref

    def resolve(subscription_id: str, product_id: str) -> CostCenterRef:
        if subscription_id and subscription_id in by_subscription:
            return by_subscription[subscription_id]
        if product_id and product_id in by_product:
            return by_product[product_id]
        return UNASSIGNED

    return resolve


def _frozen_resolver(snapshot: dict, fallback: Resolver) -> Resolver:
    """The assignments as they were at close; pairs unseen at close resolve as today."""
    frozen = {
        (entry["subscription"], entry["product"]): CostCenterRef(
            entry["cost_center"], entry["cost_center_name"]
        )
        for entry in snapshot.get("assignments", [])
    }

    def resolve(subscription_id: str, product_id: str) -> CostCenterRef:
        ref = frozen.get((subscription_id, product_id))
        return ref if ref is not None else fallback(subscription_id, product_id)

    return resolve


def cost_center_choices() -> list[CostCenterRef]:
    return [CostCenterRef(c.code, c.name) for c in CostCenter.objects.order_by("code")] + [UNASSIGNED]


def unassigned_subscriptions(*, since: datetime | None = None) -> list[dict]:
    """Subscriptions whose usage resolves to no cost center: id, products, requests, cost, last hour."""
    resolve = cost_center_resolver()
    rows = UsageHourly.objects.all()
    if since is not None:
        rows = rows.filter(hour__gte=since)
    found: dict[str, dict] = {}
    for row in rows.values("apim_subscription_id", "product_id", "hour", "requests", "cost").iterator():
        if not resolve(row["apim_subscription_id"], row["product_id"]).is_unassigned:
            continue
        entry = found.setdefault(
            row["apim_subscription_id"],
            {
                "subscription": row["apim_subscription_id"],
                "products": set(),
                "requests": 0,
                "cost": Decimal(0),
            },
        )
        entry["products"].add(row["product_id"])
        entry["requests"] += row["requests"]
        entry["cost"] += row["cost"]
        entry["last_seen"] = max(entry.get("last_seen", row["hour"]), row["hour"])
    for entry in found.values():
        entry["products"] = sorted(p for p in entry["products"] if p)
    return sorted(found.values(), key=lambda e: (-e["cost"], e["subscription"]))


# --- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargebackFilters:
    """Optional filters of a report; ``None`` = not filtered, ``""`` = the empty value."""

    cost_center: str | None = None
    subscription: str | None = None
    deployment: str | None = None
    model: str | None = None

    def matches(self, line: Line, ref: CostCenterRef) -> bool:
        return (
            (self.cost_center is None or ref.code == self.cost_center)
            and (self.subscription is None or line.subscription == self.subscription)
            and (self.deployment is None or line.deployment == self.deployment)
            and (self.model is None or line.model == self.model)
        )


@dataclass
class ReportRow:
    group: str
    label: str
    measures: Measures
    cost_center: str | None = None  # subscription rows: the subscription's cost center code
    cost_center_name: str | None = None
    subscription_ids: list[str] | None = None  # cost center rows: the subscriptions charged to it
    deployment: str | None = None
    model: str | None = None


def _group_key(grouping: str, line: Line, ref: CostCenterRef) -> tuple[str, str]:
    if grouping == "cost_center":
        return ref.code, ref.name
    if grouping == "subscription":
        return line.subscription, line.subscription or "(no subscription)"
    if grouping == "deployment":
        return line.deployment, line.deployment or "(no deployment)"
    if grouping == "model":
        return line.model, line.model or "(unknown model)"
    if grouping == "deployment_model":
        return (
            f"{line.deployment}/{line.model}",
            f"{line.deployment or '(no deployment)'} · {line.model or '(unknown model)'}",
        )
    if grouping == "day":
        return line.bucket.date().isoformat(), line.bucket.strftime("%a %d %b %Y")
    raise ChargebackInputError(f"group_by must be one of {', '.join(GROUPINGS)}, not {grouping!r}.")


def _group(
    lines: Iterable[Line], *, grouping: str, resolve: Resolver, filters: ChargebackFilters
) -> tuple[dict[str, ReportRow], Measures]:
    groups: dict[str, ReportRow] = {}
    totals = Measures()
    for line in lines:
        ref = resolve(line.subscription, line.product)
        if not filters.matches(line, ref):
            continue
        key, label = _group_key(grouping, line, ref)
        row = groups.get(key)
        if row is None:
            row = groups[key] = ReportRow(group=key, label=label, measures=Measures())
            if grouping == "cost_center":
                row.subscription_ids = []
            if grouping == "subscription":
                row.cost_center, row.cost_center_name = ref.code, ref.name
            if grouping == "deployment_model":
                row.deployment, row.model = line.deployment, line.model
        if grouping == "cost_center" and line.subscription not in row.subscription_ids:
            row.subscription_ids.append(line.subscription)
        row.measures.add(line.measures)
        totals.add(line.measures)
    for row in groups.values():
        if row.subscription_ids is not None:
            row.subscription_ids.sort()
    return groups, totals


def _ordered(rows: Iterable[ReportRow], grouping: str) -> list[ReportRow]:
    if grouping == "day":
        return sorted(rows, key=lambda r: r.group)
    # Biggest spend first; Unassigned is never hidden at the bottom of a tie.
    return sorted(rows, key=lambda r: (-r.measures.cost, -r.measures.total_tokens, r.group))


@dataclass
class ChartSeries:
    code: str
    name: str
    values: list[Decimal]


@dataclass
class Report:
    """One chargeback table: rows, their total, and for closed months the adjustments since close."""

    month: date
    begin: datetime
    end: datetime
    group_by: str
    filters: ChargebackFilters
    currency: str
    rows: list[ReportRow]
    totals: Measures
    close: MonthClose | None = None
    adjustments: list[ReportRow] = field(default_factory=list)
    adjustment_totals: Measures = field(default_factory=Measures)
    days: list[date] = field(default_factory=list)
    chart: list[ChartSeries] = field(default_factory=list)

    @property
    def is_closed(self) -> bool:
        return self.close is not None

    @property
    def effective_totals(self) -> Measures:
        """Closed figures plus adjustments: everything known today."""
        effective = Measures()
        effective.add(self.totals)
        effective.add(self.adjustment_totals)
        return effective


def month_close_active(month: date) -> MonthClose | None:
    return (
        MonthClose.objects.filter(month=month_floor(month), reopened_at__isnull=True)
        .select_related("closed_by")
        .first()
    )


def month_is_closed(month: date) -> bool:
    """True while ``month`` (any day in it) is closed; closed months are never repriced."""
    return MonthClose.objects.filter(month=month_floor(month), reopened_at__isnull=True).exists()


def month_close_history(month: date) -> list[MonthClose]:
    return list(MonthClose.objects.filter(month=month_floor(month)).order_by("-closed_at"))


def _chart(
    lines: list[Line], *, days: list[date], resolve: Resolver, filters: ChargebackFilters
) -> list[ChartSeries]:
    index = {day: i for i, day in enumerate(days)}
    series: dict[str, ChartSeries] = {}
    for line in lines:
        ref = resolve(line.subscription, line.product)
        if not filters.matches(line, ref):
            continue
        entry = series.get(ref.code)
        if entry is None:
            entry = series[ref.code] = ChartSeries(ref.code, ref.name, [Decimal(0)] * len(days))
        entry.values[index[line.bucket.date()]] += line.measures.cost
    return sorted(series.values(), key=lambda s: (-sum(s.values), s.code))


def chargeback_report(
    *, month: date, group_by: str, filters: ChargebackFilters | None = None, with_chart: bool = False
) -> Report:
    """The chargeback of ``month`` grouped by ``group_by``; closed months from their snapshot."""
    if group_by not in GROUPINGS:
        raise ChargebackInputError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}.")
    filters = filters or ChargebackFilters()
    month = month_floor(month)
    begin, end = month_bounds(month)
    # Only the "day" grouping and the daily chart need days; other reports read month sums.
    collapse = group_by != "day" and not with_chart
    live_lines = usage_lines(
        begin=begin,
        end=end,
        interval="day",
        model=filters.model,
        subscription=filters.subscription,
        collapse=collapse,
    )
    current = cost_center_resolver()
    close = month_close_active(month)
    report = Report(
        month=month,
        begin=begin,
        end=end,
        group_by=group_by,
        filters=filters,
        currency=settings.PORTAL_CURRENCY,
        rows=[],
        totals=Measures(),
        close=close,
    )
    days = [begin.date() + timedelta(days=i) for i in range((end - begin).days)]
    if close is None:
        groups, report.totals = _group(live_lines, grouping=group_by, resolve=current, filters=filters)
        report.rows = _ordered(groups.values(), group_by)
        if with_chart:
            report.days = days
            report.chart = _chart(live_lines, days=days, resolve=current, filters=filters)
        return report

    resolve = _frozen_resolver(close.snapshot, current)
    frozen_lines = [Line.from_json(data) for data in close.snapshot.get("lines", [])]
    frozen, report.totals = _group(frozen_lines, grouping=group_by, resolve=resolve, filters=filters)
    live, live_totals = _group(live_lines, grouping=group_by, resolve=resolve, filters=filters)
    report.rows = _ordered(frozen.values(), group_by)
    adjustments = []
    for key in sorted(set(frozen) | set(live)):
        reference = live.get(key) or frozen[key]
        before = frozen[key].measures if key in frozen else Measures()
        after = live[key].measures if key in live else Measures()
        difference = after.minus(before)
        if not difference.is_zero():
            adjustments.append(replace(reference, measures=difference))
    if group_by == "cost_center":
        # List only the subscriptions whose figures changed since the close.
        frozen_subs, _ = _group(frozen_lines, grouping="subscription", resolve=resolve, filters=filters)
        live_subs, _ = _group(live_lines, grouping="subscription", resolve=resolve, filters=filters)
        changed = {
            key
            for key in set(frozen_subs) | set(live_subs)
            if (live_subs[key].measures if key in live_subs else Measures())
            != (frozen_subs[key].measures if key in frozen_subs else Measures())
        }
        for row in adjustments:
            row.subscription_ids = [s for s in row.subscription_ids or [] if s in changed]
    report.adjustments = _ordered(adjustments, group_by)
    report.adjustment_totals = live_totals.minus(report.totals)
    if with_chart:
        report.days = days
        report.chart = _chart(frozen_lines, days=days, resolve=resolve, filters=filters)
        adjustment = ChartSeries(ADJUSTMENT_SERIES, "Adjustments after close", [Decimal(0)] * len(days))
        live_by_day = _chart(live_lines, days=days, resolve=resolve, filters=filters)
        for s in live_by_day:
            adjustment.values = [a + v for a, v in zip(adjustment.values, s.values, strict=True)]
        for s in report.chart:
            adjustment.values = [a - v for a, v in zip(adjustment.values, s.values, strict=True)]
        if any(adjustment.values):
            report.chart.append(adjustment)
    return report


def chargeback_snapshot_build(*, month: date) -> dict:
    """The frozen figures of ``month`` for its close: totals per cost center, subscription, model, and lines."""
    begin, end = month_bounds(month)
    lines = usage_lines(begin=begin, end=end, interval="day")
    resolve = cost_center_resolver()
    everything = ChargebackFilters()
    summaries = {}
    for grouping, name in (
        ("cost_center", "cost_centers"),
        ("subscription", "subscriptions"),
        ("model", "models"),
    ):
        groups, totals = _group(lines, grouping=grouping, resolve=resolve, filters=everything)
        summaries[name] = {
            key: {"label": row.label, **row.measures.as_json()} for key, row in sorted(groups.items())
        }
    pairs = sorted({(line.subscription, line.product) for line in lines})
    assignments = []
    for subscription, product in pairs:
        ref = resolve(subscription, product)
        assignments.append(
            {
                "subscription": subscription,
                "product": product,
                "cost_center": ref.code,
                "cost_center_name": ref.name,
            }
        )
    return {
        "month": month.strftime("%Y-%m"),
        "currency": settings.PORTAL_CURRENCY,
        "totals": totals.as_json(),
        **summaries,
        "assignments": assignments,
        "lines": [line.as_json() for line in lines],
    }


# --- time series -------------------------------------------------------------------------------


@dataclass
class SeriesRow:
    time: datetime
    group: str
    label: str
    measures: Measures


def usage_series(
    *, begin: datetime, end: datetime, interval: str, group_by: str | None = None
) -> tuple[list[SeriesRow], Measures]:
    """The measures per ``interval`` bucket in ``[begin, end)``, optionally split by ``group_by``.

    Live figures (no month-close snapshot): this is usage, not the closed chargeback.
    """
    if group_by is not None and group_by not in ("cost_center", "subscription", "deployment", "model"):
        raise ChargebackInputError(
            f"group_by must be one of cost_center, subscription, deployment, model, not {group_by!r}."
        )
    lines = usage_lines(begin=begin, end=end, interval=interval)
    resolve = cost_center_resolver()
    rows: dict[tuple[datetime, str], SeriesRow] = {}
    totals = Measures()
    for line in lines:
        if group_by is None:
            key, label = "", "All"
        else:
            key, label = _group_key(group_by, line, resolve(line.subscription, line.product))
        row = rows.get((line.bucket, key))
        if row is None:
            row = rows[(line.bucket, key)] = SeriesRow(line.bucket, key, label, Measures())
        row.measures.add(line.measures)
    # Summed from the (far fewer) rows, not per line: exact decimals, so the same total.
    for row in rows.values():
        totals.add(row.measures)
    return sorted(rows.values(), key=lambda r: (r.time, r.group)), totals


# --- people and apps -----------------------------------------------------------------------------


@dataclass
class IdentityRow:
    object_id: str  # "" = no native log joined (so no Entra identity known)
    label: str
    cost_center: str | None
    measures: Measures


def identity_usage(
    *, begin: datetime, end: datetime, filters: ChargebackFilters | None = None, fast_path: bool | None = None
) -> list[IdentityRow]:
    """Usage per Entra object id (native log ``objectId``), named by ``NamedIdentity``; live figures.

    Requests are joined to their native log on ``apim_request_id == NativeLog.correlation_id``;
    requests without a joined native log form the ``""`` row, so the rows add up to the total.
    """
    filters = filters or ChargebackFilters()
    requests = GatewayRequest.objects.filter(time__gte=begin, time__lt=end)
    for name, column in (
        ("subscription", "apim_subscription_id"),
        ("deployment", "deployment"),
        ("model", "model"),
    ):
        value = getattr(filters, name)
        if value is not None:
            requests = requests.filter(**{column: value})
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id")).exclude(correlation_id="")
    requests = requests.annotate(object_id=Subquery(native.values("object_id")[:1]))
    keys = ("apim_subscription_id", "product_id", "object_id")
    if fast_path is None:
        fast_path = connection.vendor == "postgresql"
    sums: dict[tuple, Measures] = {}
    if fast_path:
        grouped = requests.values(*keys).annotate(
            requests_n=Count("id"),
            **{f"sum_{n}": Sum(n) for n in _REQUEST_MEASURES},
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
            sums[tuple(row[k] or "" for k in keys)] = Measures(
                requests=row["requests_n"],
                **{n: row[f"sum_{n}"] or 0 for n in _REQUEST_MEASURES},
                estimated_tokens=row["estimated"] or 0,
                unpriced_tokens=row["unpriced"] or 0,
            )
    else:
        for row in requests.values(*keys, *_REQUEST_MEASURES, "token_source", "is_priced").iterator():
            measures = sums.setdefault(tuple(row[k] or "" for k in keys), Measures())
            measures.add(
                Measures(
                    requests=1,
                    **{n: row[n] for n in _REQUEST_MEASURES},
                    estimated_tokens=row["total_tokens"]
                    if row["token_source"] == TokenSource.ESTIMATED
                    else 0,
                    unpriced_tokens=0 if row["is_priced"] else row["total_tokens"],
                )
            )
    resolve = cost_center_resolver()
    names = dict(NamedIdentity.objects.values_list("object_id", "display_name"))
    rows: dict[str, IdentityRow] = {}
    for (subscription, product, object_id), measures in sums.items():
        ref = resolve(subscription, product)
        if filters.cost_center is not None and ref.code != filters.cost_center:
            continue
        row = rows.get(object_id)
        if row is None:
            label = names.get(object_id) or (object_id if object_id else "(no native log joined)")
            row = rows[object_id] = IdentityRow(object_id, label, ref.code, Measures())
        elif row.cost_center != ref.code:
            row.cost_center = None  # spans several cost centers
        row.measures.add(measures)
    return sorted(rows.values(), key=lambda r: (-r.measures.cost, r.object_id))


_REQUEST_MEASURES = (*TOKEN_MEASURES, "cost")
