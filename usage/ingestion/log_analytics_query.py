"""Reading Log Analytics for the pull (``log_analytics.py``): one window of one table at a time.

The credential and ``LogsQueryClient``, the KQL of a window ``[start, end)`` (``table_query``) and
``window_fetch``, which sends it: 429, 5xx and connection errors are retried with backoff (counted on
``tries``); an answer that hits the service limits or comes back partial raises ``WindowTooLarge``
(the pull splits the window), one that cannot be read ``QueryFailed``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .tables import GATEWAY, LLM_LOG, NATIVE

logger = logging.getLogger(__name__)

# Table -> extra KQL filter. AzureDiagnostics is shared by every resource type in the workspace.
TABLES: dict[str, str] = {
    GATEWAY: "",
    LLM_LOG: "",
    NATIVE: '| where ResourceProvider == "MICROSOFT.COGNITIVESERVICES" and Category == "RequestResponse"',
}
# Words of the service's errors that mean "ask for less" rather than "ask again later".
_LIMIT_MARKERS = (
    "E_QUERY_RESULT_SET_TOO_LARGE",
    "RESULT SET HAS EXCEEDED",
    "RESPONSESIZE",
    "RESPONSE SIZE",
    "TOO LARGE",
    "LIMITSEXCEEDED",
    "GATEWAYTIMEOUT",
    "E_RUNAWAY_QUERY",
    "E_LOW_MEMORY_CONDITION",
)


class WindowTooLarge(Exception):
    """The window hit a service limit or came back partial: split it."""


class QueryFailed(Exception):
    """The query failed for good (retries exhausted, or an error that retrying cannot fix)."""


class StaticTokenCredential:
    """A fixed bearer token, for the local emulator only (LOG_ANALYTICS_CREDENTIAL=static)."""

    def __init__(self, token: str = "local-emulator-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def logs_credential() -> Any:
    kind = settings.LOG_ANALYTICS_CREDENTIAL
    if kind == "static":
        return StaticTokenCredential()
    if kind == "default":
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    raise ImproperlyConfigured(f"LOG_ANALYTICS_CREDENTIAL={kind!r}: use 'default' or 'static'")


def logs_client_build() -> Any:
    """A LogsQueryClient for the configured endpoint. Retries are ours (see ``window_fetch``), so
    the SDK's own retry policy is off: a timed-out window is split, not sent again as it was."""
    from azure.monitor.query import LogsQueryClient

    return LogsQueryClient(logs_credential(), endpoint=settings.LOG_ANALYTICS_ENDPOINT, retry_total=0)


def table_query(*, table: str, start: datetime, end: datetime) -> str:
    """The KQL of one window ``[start, end)`` of one table."""
    return "\n".join(
        line
        for line in (
            table,
            f"| where TimeGenerated >= datetime({_kql_time(start)}) and TimeGenerated < datetime({_kql_time(end)})",
            TABLES[table],
            "| order by TimeGenerated asc",
        )
        if line
    )


def _kql_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _is_limit_error(exc: HttpResponseError) -> bool:
    if exc.status_code == 504:
        return True
    text = " ".join(str(part) for part in (exc.message, getattr(exc.error, "code", ""), exc.reason)).upper()
    return any(marker in text for marker in _LIMIT_MARKERS)


def _describe(exc: Exception) -> str:
    """One line: status and the service's message, without the SDK's multi-line dump."""
    status = getattr(exc, "status_code", None)
    message = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
    text = message[0] if message else exc.__class__.__name__
    return f"HTTP {status}: {text}" if status else text


def _retry_delay(*, attempt: int, exc: Exception) -> float:
    delay = settings.INGEST_BACKOFF_SECONDS * (2**attempt)
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    if header:
        try:
            delay = float(header)
        except ValueError:
            pass
    return max(0.0, min(delay, settings.INGEST_BACKOFF_MAX_SECONDS))


class Tries(Protocol):
    """What fetching a window took besides its answer (an ``IngestionRun`` has both fields)."""

    retries: int  # queries sent again after a transient error
    throttled: int  # 429 answers received


@dataclass
class FetchTries:
    retries: int = 0
    throttled: int = 0


def window_fetch(
    *, client: Any, table: str, start: datetime, end: datetime, tries: Tries | None = None
) -> list[dict[str, Any]]:
    """All rows of ``table`` in ``[start, end)`` as dicts keyed by column name.

    Raises ``WindowTooLarge`` when the window must be split, ``QueryFailed`` when it cannot be read.
    ``tries`` counts the retries and throttled answers, whatever the outcome.
    """
    tries = tries if tries is not None else FetchTries()
    from azure.monitor.query import LogsQueryPartialResult

    query = table_query(table=table, start=start, end=end)
    options: dict[str, Any] = {"server_timeout": settings.LOG_ANALYTICS_SERVER_TIMEOUT}
    if settings.LOG_ANALYTICS_ALLOW_HTTP:
        options["enforce_https"] = False
    attempt = 0
    while True:
        try:
            result = client.query_workspace(
                settings.LOG_ANALYTICS_WORKSPACE_ID, query, timespan=(start, end), **options
            )
            break
        except HttpResponseError as exc:
            if exc.status_code == 429:
                tries.throttled += 1
            if _is_limit_error(exc):
                raise WindowTooLarge(_describe(exc)) from exc
            transient = exc.status_code in (408, 429) or (exc.status_code or 0) >= 500
            if not transient or attempt >= settings.INGEST_RETRIES:
                raise QueryFailed(_describe(exc)) from exc
            error = exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            if attempt >= settings.INGEST_RETRIES:
                raise QueryFailed(f"cannot reach Log Analytics: {exc}") from exc
            error = exc
        delay = _retry_delay(attempt=attempt, exc=error)
        logger.warning("%s %s..%s: %s; retrying in %.1fs", table, start, end, _describe(error), delay)
        time.sleep(delay)
        attempt += 1
        tries.retries += 1
    if isinstance(result, LogsQueryPartialResult):
        error = result.partial_error
        details = " ".join(
            str(detail.get("innererror", {}).get("message") or detail.get("message"))
            for detail in (error.details or [])
        )
        raise WindowTooLarge(f"partial result: {error.message} {details}".strip())
    rows: list[dict[str, Any]] = []
    for logs_table in result.tables:
        rows.extend(dict(zip(logs_table.columns, row, strict=False)) for row in logs_table.rows)
    return rows
