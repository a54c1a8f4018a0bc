"""Chargeback lines: the rollups summed per time bucket (day or hour) and per APIM subscription,
product, deployment and model, with their measures.

Every chargeback read is computed from these lines: whole days from ``UsageDaily``, partial days
from ``UsageHourly`` (before the hourly horizon, ``usage.rollups.horizon``, their whole days).
Money is ``Decimal`` end to end (never a float).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import F, Sum
from django.db.models.functions import TruncDay

from aoai_portal.params import ParamError

from ...measures import CHARGEBACK_MEASURES
from ...models import UsageDaily, UsageHourly
from ...rollups.horizon import hourly_range_widened

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
        data["cost"] = format(self.cost_exact, "f")  # never "0E-8"
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
    # The caller's id (``GatewayRequest.caller_object_id``) on the lines of ``people.person_lines``;
    # rollup lines do not know it. Never frozen in a snapshot.
    person: str = ""

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
    label = begin  # the one bucket of ``collapse``, as the caller named it
    # Before the hourly horizon usage is kept by day: a partial day there is read whole, and
    # ``interval="hour"`` gets one bucket per such day (its midnight).
    read = hourly_range_widened(begin=begin, end=end)
    begin, end = read.begin, read.end
    lines: dict[tuple, Line] = {}
    hourly_ranges = [(begin, end)]
    first, last = whole_days(begin=begin, end=end)
    if interval == "hour":
        last = min(last, read.horizon) if read.horizon is not None and begin < read.horizon else first
    if first < last:
        _daily_lines_into(
            lines,
            first=first,
            last=last,
            model=model,
            fast_path=fast_path,
            bucket=label if collapse else None,
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
                _line_add(lines, (label, *key[1:]) if collapse else key, line.measures)
    return [lines[key] for key in sorted(lines)]
