"""A local stand-in for the Cost Management Query API, for tests and the demo.

``POST {scope}/providers/Microsoft.CostManagement/query?api-version=...`` with a bearer token and a
query definition (``type`` ActualCost / AmortizedCost, ``timeframe`` Custom with ``timePeriod``,
``dataset`` with ``granularity`` Daily or None, ``aggregation`` Sums, ``grouping`` by dimensions,
``filter`` of ``dimensions`` In/Equal combined with ``and`` / ``or``) answers like the service:
``properties.columns`` ([{name, type}]: the aggregated columns, ``UsageDate`` as a ``yyyymmdd``
number, the grouped dimensions, ``Currency``), ``properties.rows`` and, past ``page_size`` rows,
``properties.nextLink`` (the same URL with a ``$skiptoken``; the next page is asked for with the
same body). ``throttle_next`` makes the next queries answer 429 with ``Retry-After`` and the
service's ``x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`` header.

It serves ``CostRecord`` lines (``cost_records_generate`` makes a month of them), and writes the
same lines as a cost details export (``export_write``), so a pull and a file import can be compared;
those three are in ``costs.emulator_records``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aoai_portal.emulators import JsonHandler, LocalHttpServer

from .emulator_records import ACTUAL_COST, AMORTIZED_COST, CostRecord

_PATH = re.compile(r"^(?P<scope>/.+)/providers/Microsoft\.CostManagement/query$", re.IGNORECASE)
_COST_COLUMNS = {"cost", "pretaxcost", "costusd", "pretaxcostusd"}
_MAX_DAILY_DAYS = 31
QPU_RETRY_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"


DIMENSIONS = (
    "ResourceId", "ResourceType", "ResourceGroupName", "SubscriptionId", "ResourceLocation", "ServiceName",
    "Meter", "MeterId", "MeterCategory", "MeterSubcategory", "ChargeType", "PricingModel",
)  # fmt: skip
_DIMENSION_NAMES = {name.lower(): name for name in DIMENSIONS}


class QueryError(Exception):
    """A query definition the service would refuse: answered as HTTP 400."""


@dataclass
class _Throttle:
    retry_after: int | None
    qpu_retry_after: int | None
    pages_only: bool = False  # only requests for a next page ($skiptoken)


@dataclass
class CostManagementEmulator(LocalHttpServer):
    """Holds ``CostRecord`` lines and answers Query API requests over HTTP on 127.0.0.1."""

    records: list[CostRecord] = field(default_factory=list)
    page_size: int = 1000
    host: str = "127.0.0.1"
    port_wanted: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)  # every query received
    _throttles: list[_Throttle] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """What to put in COST_MANAGEMENT_ENDPOINT."""
        return self.base_url

    def http_handler(self) -> type[JsonHandler]:
        return _handler_for(self)

    # --- failures ---------------------------------------------------------------------------
    def throttle_next(
        self,
        *,
        times: int = 1,
        retry_after: int | None = 1,
        qpu_retry_after: int | None = None,
        pages_only: bool = False,
    ) -> None:
        """Answer the next ``times`` queries (or only requests for a next page) 429, with these
        retry headers (seconds; None: not sent)."""
        with self._lock:
            self._throttles.extend(_Throttle(retry_after, qpu_retry_after, pages_only) for _ in range(times))

    # --- answering --------------------------------------------------------------------------
    def answer(self, *, url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body) for one POST to ``url`` (path and query string)."""
        parts = urlsplit(url)
        found = _PATH.match(parts.path)
        if found is None:
            return 404, {}, _error("NotFound", f"The resource path {parts.path!r} was not found.")
        query = parse_qs(parts.query)
        if not query.get("api-version"):
            return (
                400,
                {},
                _error("MissingApiVersionParameter", "The api-version query parameter is required."),
            )
        skiptoken = (query.get("$skiptoken") or [""])[0]
        with self._lock:
            self.requests.append({"scope": found["scope"], "skiptoken": skiptoken, "body": body})
            throttle = next((t for t in self._throttles if skiptoken or not t.pages_only), None)
            if throttle is not None:
                self._throttles.remove(throttle)
        if throttle is not None:
            headers = {}
            if throttle.retry_after is not None:
                headers["Retry-After"] = str(throttle.retry_after)
            if throttle.qpu_retry_after is not None:
                headers[QPU_RETRY_HEADER] = str(throttle.qpu_retry_after)
            return 429, headers, _error("429", "Too many requests. Please retry.")
        try:
            columns, rows = self._table(scope=found["scope"], body=body)
            offset = _skiptoken_read(skiptoken, body) if skiptoken else 0
        except QueryError as exc:
            return 400, {}, _error("BadRequest", f"Invalid query definition: {exc}")
        page = rows[offset : offset + self.page_size]
        next_link = None
        if offset + len(page) < len(rows):
            token = _skiptoken_make(offset + len(page), body)
            next_link = (
                f"{self.endpoint}{parts.path}?api-version={query['api-version'][0]}&$skiptoken={token}"
            )
        name = str(uuid.uuid4())
        payload = {
            "id": f"{found['scope']}/providers/Microsoft.CostManagement/query/{name}",
            "name": name,
            "type": "Microsoft.CostManagement/query",
            "location": None,
            "sku": None,
            "eTag": None,
            "properties": {"nextLink": next_link, "columns": columns, "rows": page},
        }
        return 200, {"x-ms-ratelimit-microsoft.costmanagement-qpu-remaining": "QueryResource=9;"}, payload

    def _table(self, *, scope: str, body: dict[str, Any]) -> tuple[list[dict[str, str]], list[list[Any]]]:
        query_type = body.get("type")
        if query_type not in (ACTUAL_COST, AMORTIZED_COST, "Usage"):
            raise QueryError(f"type {query_type!r} is not supported")
        first, last = _time_period(body)
        dataset = body.get("dataset") or {}
        granularity = dataset.get("granularity") or "None"
        if granularity not in ("Daily", "None"):
            raise QueryError(f"granularity {granularity!r} is not supported")
        if granularity == "Daily" and (last - first).days + 1 > _MAX_DAILY_DAYS:
            raise QueryError(f"daily granularity covers at most {_MAX_DAILY_DAYS} days")
        aggregations = _aggregations(dataset.get("aggregation") or {})
        grouping = _grouping(dataset.get("grouping") or [])
        scope_prefix = scope.lower().rstrip("/") + "/"
        kept = [
            r
            for r in self.records
            if first <= r.date <= last
            and r.cost(query_type) is not None
            and (
                r.resource_id.lower().startswith(scope_prefix)
                or "/providers/microsoft.billing/" in scope_prefix
            )
            and _filter_matches(dataset.get("filter"), r)
        ]
        sums: dict[tuple[Any, ...], list[Decimal]] = {}
        for record in kept:
            key = (
                *((int(record.date.strftime("%Y%m%d")),) if granularity == "Daily" else ()),
                *(record.dimension(name) for name in grouping),
                record.currency,
            )
            totals = sums.setdefault(key, [Decimal(0)] * len(aggregations))
            for index, column in enumerate(aggregations):
                totals[index] += (
                    record.quantity if column == "UsageQuantity" else (record.cost(query_type) or 0)
                )
        columns = [{"name": column, "type": "Number"} for column in aggregations]
        if granularity == "Daily":
            columns.append({"name": "UsageDate", "type": "Number"})
        columns += [{"name": name, "type": "String"} for name in grouping]
        columns.append({"name": "Currency", "type": "String"})
        rows = [
            [*(float(v) for v in totals), *key] for key, totals in sorted(sums.items(), key=lambda i: i[0])
        ]
        return columns, rows


def _time_period(body: dict[str, Any]) -> tuple[dt.date, dt.date]:
    if body.get("timeframe") != "Custom":
        raise QueryError("only the Custom timeframe is served here")
    period = body.get("timePeriod") or {}
    try:
        first = dt.datetime.fromisoformat(str(period["from"]).replace("Z", "+00:00")).date()
        last = dt.datetime.fromisoformat(str(period["to"]).replace("Z", "+00:00")).date()
    except (KeyError, ValueError) as exc:
        raise QueryError(f"timePeriod: {exc}") from None
    if last < first:
        raise QueryError("timePeriod: 'to' is before 'from'")
    return first, last


def _aggregations(aggregation: dict[str, Any]) -> list[str]:
    columns = []
    for alias, spec in aggregation.items():
        name = str((spec or {}).get("name", ""))
        if (spec or {}).get("function") != "Sum":
            raise QueryError(f"aggregation {alias!r}: only Sum is supported")
        if name.lower() not in _COST_COLUMNS and name != "UsageQuantity":
            raise QueryError(f"aggregation {alias!r}: unknown column {name!r}")
        columns.append(name)
    return columns


def _grouping(grouping: list[dict[str, Any]]) -> list[str]:
    names = []
    for group in grouping:
        name = str(group.get("name", ""))
        if group.get("type") != "Dimension" or name.lower() not in _DIMENSION_NAMES:
            raise QueryError(f"grouping: {group.get('type')} {name!r} is not a valid dimension")
        names.append(name)
    return names


def _filter_matches(expression: dict[str, Any] | None, record: CostRecord) -> bool:
    if not expression:
        return True
    if "and" in expression:
        return all(_filter_matches(e, record) for e in expression["and"])
    if "or" in expression:
        return any(_filter_matches(e, record) for e in expression["or"])
    if "dimensions" in expression:
        comparison = expression["dimensions"]
        name = str(comparison.get("name", ""))
        if name.lower() not in _DIMENSION_NAMES:
            raise QueryError(f"filter: {name!r} is not a valid dimension")
        if comparison.get("operator") not in ("In", "Equal"):
            raise QueryError(f"filter: operator {comparison.get('operator')!r} is not supported")
        wanted = {str(v).lower() for v in comparison.get("values") or []}
        return record.dimension(name).lower() in wanted
    raise QueryError(f"filter: unsupported expression {sorted(expression)}")


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _skiptoken_make(offset: int, body: dict[str, Any]) -> str:
    raw = json.dumps({"offset": offset, "query": _digest(body)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _skiptoken_read(token: str, body: dict[str, Any]) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise QueryError("$skiptoken is not valid") from None
    if data.get("query") != _digest(body):
        raise QueryError("$skiptoken belongs to another query")
    return int(data["offset"])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _handler_for(emulator: CostManagementEmulator) -> type[JsonHandler]:
    class Handler(JsonHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            raw = self.body_read()
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                self.json_send(401, _error("AuthenticationFailed", "Authentication failed."))
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.json_send(400, _error("BadRequest", "The request body is not JSON."))
                return
            status, headers, payload = emulator.answer(url=self.path, body=body)
            self.json_send(status, payload, headers)

    return Handler
