"""Pull invoice lines from the Cost Management Query API (task ``costs.pull``, ``manage.py pull_costs``).

For each scope of ``COST_MANAGEMENT_SCOPE``, each dataset (actual: ``ActualCost``; amortized:
``AmortizedCost``) and each calendar month of the span (the API serves at most 31 days at daily
granularity), one query: daily, grouped by ResourceId, Meter, MeterCategory, MeterSubcategory,
ChargeType and PricingModel, filtered to Cognitive Services accounts, summing Cost and
UsageQuantity. All pages of a query (``nextLink``) are read as one export and stored by
``costs.services`` under the same keys as an imported file: a pull and an import of the same lines
do not count them twice, and pulling again changes nothing unless Azure restated a figure. A query
that fails stores nothing of itself; the other queries of the run go on.

Throttling (429), 5xx and connection errors are retried up to ``INGEST_RETRIES`` times, waiting
the longest of ``Retry-After`` and the ``x-ms-ratelimit-microsoft.costmanagement-*-retry-after``
headers (else an exponential backoff); the SDK's own retries are off. A run holds the lock
``costs:pull`` (Redis, or a database lease), so a beat run and a manual backfill never store at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from usage.ingestion.locks import lock_heartbeat, lock_hold, lock_holder

from .readers import ExportError, query_export
from .services import ACTUAL, AMORTIZED, CostImportResult, cost_export_import, cost_import_failed

logger = logging.getLogger(__name__)

LOCK_NAME = "costs:pull"
FORMAT = "query.api"  # the CostImport.file_format of a query (readers.QUERY shape, "api" container)
QUERY_TYPES = {ACTUAL: "ActualCost", AMORTIZED: "AmortizedCost"}
GROUPING = ("ResourceId", "Meter", "MeterCategory", "MeterSubcategory", "ChargeType", "PricingModel")
RESOURCE_TYPE = "microsoft.cognitiveservices/accounts"
# The longest wait a throttled query honours; past it the service is asked again anyway.
_MAX_RETRY_AFTER = 300.0

Sleep = Callable[[float], None]


class NotConfigured(ImproperlyConfigured):
    """The pull is not configured (no COST_MANAGEMENT_SCOPE)."""


class QueryFailed(ExportError):
    """A query failed for good (retries exhausted, or an error retrying cannot fix)."""


class StaticTokenCredential:
    """A fixed bearer token, for the local emulator only (COST_MANAGEMENT_CREDENTIAL=static)."""

    def __init__(self, token: str = "local-emulator-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def cost_credential() -> Any:
    kind = settings.COST_MANAGEMENT_CREDENTIAL
    if kind == "static":
        return StaticTokenCredential()
    if kind == "default":
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    raise ImproperlyConfigured(f"COST_MANAGEMENT_CREDENTIAL={kind!r}: use 'default' or 'static'")


def cost_client_build() -> Any:
    """A CostManagementClient for the configured endpoint (its token audience follows it)."""
    from azure.mgmt.costmanagement import CostManagementClient

    endpoint = settings.COST_MANAGEMENT_ENDPOINT.rstrip("/")
    return CostManagementClient(
        cost_credential(), base_url=endpoint, credential_scopes=[f"{endpoint}/.default"], retry_total=0
    )


def query_definition(*, dataset: str, first: dt.date, last: dt.date) -> Any:
    """The query of one dataset over the days ``[first, last]``."""
    from azure.mgmt.costmanagement.models import (
        QueryAggregation,
        QueryComparisonExpression,
        QueryDataset,
        QueryDefinition,
        QueryFilter,
        QueryGrouping,
        QueryTimePeriod,
    )

    return QueryDefinition(
        type=QUERY_TYPES[dataset],
        timeframe="Custom",
        time_period=QueryTimePeriod(
            from_property=dt.datetime.combine(first, dt.time(0), tzinfo=dt.UTC),
            to=dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.UTC),
        ),
        dataset=QueryDataset(
            granularity="Daily",
            aggregation={
                "totalCost": QueryAggregation(name="Cost", function="Sum"),
                "totalQuantity": QueryAggregation(name="UsageQuantity", function="Sum"),
            },
            grouping=[QueryGrouping(type="Dimension", name=name) for name in GROUPING],
            filter=QueryFilter(
                dimensions=QueryComparisonExpression(
                    name="ResourceType", operator="In", values_property=[RESOURCE_TYPE]
                )
            ),
        ),
    )


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    lines = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
    text = lines[0] if lines else exc.__class__.__name__
    return f"HTTP {status}: {text}" if status else text


def retry_delay(*, attempt: int, exc: Exception) -> float:
    """Seconds to wait before asking again: what the service said, else an exponential backoff."""
    response = getattr(exc, "response", None)
    said: list[float] = []
    for name, value in response.headers.items() if response is not None else ():
        lower = name.lower()
        scale = 1000.0 if lower.endswith("retry-after-ms") else 1.0
        if lower == "retry-after" or lower.endswith("-retry-after") or scale != 1.0:
            try:
                said.append(float(value) / scale)
            except ValueError:
                continue
    if said:
        return max(0.0, min(max(said), _MAX_RETRY_AFTER))
    return float(min(settings.INGEST_BACKOFF_SECONDS * (2**attempt), settings.INGEST_BACKOFF_MAX_SECONDS))


def _page_fetch(*, client: Any, scope: str, definition: Any, skiptoken: str, sleep: Sleep) -> Any:
    options: dict[str, Any] = {}
    if skiptoken:
        options["params"] = {"$skiptoken": skiptoken}
    if settings.COST_MANAGEMENT_CREDENTIAL == "static" and settings.COST_MANAGEMENT_ENDPOINT.startswith(
        "http://"
    ):
        options["enforce_https"] = False  # the local emulator: a fixed token, never a real one
    attempt = 0
    while True:
        try:
            return client.query.usage(scope, definition, **options)
        except HttpResponseError as exc:
            transient = exc.status_code in (408, 429) or (exc.status_code or 0) >= 500
            if not transient or attempt >= settings.INGEST_RETRIES:
                raise QueryFailed(_describe(exc)) from exc
            error: Exception = exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            if attempt >= settings.INGEST_RETRIES:
                raise QueryFailed(f"cannot reach Cost Management: {exc}") from exc
            error = exc
        delay = retry_delay(attempt=attempt, exc=error)
        logger.warning("cost query %s: %s; retrying in %.1fs", scope, _describe(error), delay)
        sleep(delay)
        attempt += 1


def _skiptoken(next_link: str) -> str:
    token = (parse_qs(urlsplit(next_link).query).get("$skiptoken") or [""])[0]
    if not token:
        raise QueryFailed(f"nextLink without a $skiptoken: {next_link[:200]}")
    return token


def query_rows(
    *, client: Any, scope: str, definition: Any, sleep: Sleep = time.sleep
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """The column names and the rows (dicts by column) of every page of one query.

    The first page is asked for at once (its columns name the fields); the others as the rows
    are read. ``QueryFailed`` when a page cannot be had.
    """
    first = _page_fetch(client=client, scope=scope, definition=definition, skiptoken="", sleep=sleep)
    properties = first.properties if first is not None else None
    if properties is None:
        return [], iter(())
    headers = [str(column.name) for column in properties.columns or []]

    def rows() -> Iterator[dict[str, Any]]:
        page, seen = properties, set()
        while True:
            names = [str(column.name) for column in page.columns or []] or headers
            for values in page.rows or []:
                yield dict(zip(names, values, strict=False))
            if not page.next_link:
                return
            token = _skiptoken(page.next_link)
            if token in seen:
                raise QueryFailed("nextLink repeats a page already read")
            seen.add(token)
            result = _page_fetch(
                client=client, scope=scope, definition=definition, skiptoken=token, sleep=sleep
            )
            if result is None or result.properties is None:
                return
            page = result.properties

    return headers, rows()


def months(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """``[first, last]`` cut at month ends: each part is at most 31 days and one billing month."""
    parts = []
    start = first
    while start <= last:
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        end = min(following - dt.timedelta(days=1), last)
        parts.append((start, end))
        start = end + dt.timedelta(days=1)
    return parts


@dataclass
class CostPullResult:
    queries: list[CostImportResult] = field(default_factory=list)
    busy: bool = False  # another pull held the lock: nothing done
    busy_holder: str = ""

    @property
    def ok(self) -> bool:
        return not self.busy and not any(query.error for query in self.queries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "busy": self.busy,
            "queries": [
                {
                    "query": query.path,
                    "read": query.read,
                    "stored": query.stored,
                    "updated": query.updated,
                    "unchanged": query.unchanged,
                    "ignored": query.ignored,
                    "rejected": query.rejected,
                    "error": query.error,
                }
                for query in self.queries
            ],
        }


def pull_span(*, since: dt.date | None, until: dt.date | None, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The days a pull covers: ``[since, until]``, by default the last COST_PULL_LOOKBACK_DAYS up to
    today (UTC): cost data arrives a day or two late and is restated for a few days after."""
    last = until or now.astimezone(dt.UTC).date()
    first = since or last - dt.timedelta(days=max(settings.COST_PULL_LOOKBACK_DAYS, 0))
    return first, last


def scopes_configured() -> list[str]:
    return [s.strip().rstrip("/") for s in settings.COST_MANAGEMENT_SCOPE.split(",") if s.strip()]


def cost_pull(
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    datasets: tuple[str, ...] = (ACTUAL, AMORTIZED),
    now: dt.datetime | None = None,
    client: Any = None,
    sleep: Sleep = time.sleep,
    lock_wait: float = 0,
) -> CostPullResult:
    """Pull the days ``[since, until]`` (see ``pull_span``) of every configured scope and dataset."""
    scopes = scopes_configured()
    if not scopes:
        raise NotConfigured("COST_MANAGEMENT_SCOPE is not set: nothing to pull from")
    first, last = pull_span(since=since, until=until, now=now or timezone.now())
    client = client or cost_client_build()
    result = CostPullResult()
    with lock_hold(name=LOCK_NAME, wait=lock_wait) as lock:
        if lock is None:
            result.busy, result.busy_holder = True, lock_holder(name=LOCK_NAME)
            logger.info("another cost pull (%s) holds the lock; skipped", result.busy_holder or "unknown")
            return result
        with lock_heartbeat(lock=lock):
            for scope in scopes:
                for dataset in datasets:
                    for part_first, part_last in months(first, last):
                        lock.renew()
                        outcome = _query_import(
                            client=client,
                            scope=scope,
                            dataset=dataset,
                            first=part_first,
                            last=part_last,
                            sleep=sleep,
                        )
                        if outcome.error:
                            logger.error("%s: %s", outcome.path, outcome.error)
                        result.queries.append(outcome)
    return result


def _query_import(
    *, client: Any, scope: str, dataset: str, first: dt.date, last: dt.date, sleep: Sleep
) -> CostImportResult:
    name = f"Cost Management {QUERY_TYPES[dataset]} {first}..{last} {scope}"
    definition = query_definition(dataset=dataset, first=first, last=last)
    try:
        headers, rows = query_rows(client=client, scope=scope, definition=definition, sleep=sleep)
        if not headers:
            return cost_import_failed(name=name, dataset=dataset, file_format=FORMAT, error="no columns")
        export = query_export(headers=headers, rows=rows)
    except ExportError as error:
        return cost_import_failed(name=name, dataset=dataset, file_format=FORMAT, error=str(error))
    return cost_export_import(export=export, name=name, dataset=dataset)
