"""Deterministic, realistic demo log rows for the three Log Analytics tables.

Use it for the demo, tests and benchmarks::

    from usage.demo.data import generate_logs, iter_logs

    logs = generate_logs(start=datetime(2026, 11, 1, tzinfo=UTC), end=..., requests_per_hour=60, seed=1)
    logs["ApiManagementGatewayLogs"]     # list of row dicts
    logs["AzureDiagnostics"]             # native Azure OpenAI RequestResponse rows
    logs["ApiManagementGatewayLlmLog"]   # APIM LLM-log chunks

    for table, row in iter_logs(start=..., end=..., requests_per_hour=5000, seed=1):
        ...                              # same rows, one at a time, for large volumes

Rows have the shape the Log Analytics query API returns (and the emulator serves, and
``usage.ingestion.store.rows_store`` consumes): column name -> value, ``TimeGenerated`` as ISO
8601 text with 7 fraction digits, numbers as numbers, ``dynamic`` columns (headers, LLM messages)
as JSON text. Column names and types are in ``usage.ingestion.tables.TABLE_COLUMNS``.

Determinism: the same arguments give the same rows. Each UTC hour is generated from its own seed,
so the rows of [start, end) are exactly the rows of its hours, whatever range they are asked in.
The range is widened to whole hours. Every hour has exactly ``requests_per_hour`` APIM requests
(plus, with ``malformed=True``, a few deliberately bad rows per table, and a few native rows of
calls that bypassed APIM).

What is in it (fractions are approximate):

* subscriptions in several products/teams; deployments gpt-4o, gpt-4o-mini, gpt-4.1, o3-mini,
  text-embedding-3-small, gpt-35-turbo; backends in swedencentral, eastus2, francecentral, ...
* chat completions (deployment URLs and ``/openai/v1/``, model in the body), embeddings, and the
  Responses API (``/openai/v1/responses``);
* ~20% of chat calls stream (SSE bodies; ~60% of those ask for ``include_usage``), and almost
  every streamed body, every embeddings answer and long prompts are cut at 8,192 bytes as APIM
  logs them; a few requests log no bodies at all;
* ~4% 429 (half from APIM's token-limit policy, with no backend call; half from the backend,
  with ``retry-after`` / ``retry-after-ms``), ~2% 400 ``content_filter``, ~1% 500;
* ~3% of prompts carry an e-mail address or phone number, ~2% an "ignore previous instructions";
* native rows whose ``CorrelationId`` is the gateway row's backend ``apim-request-id`` header
  (~2% missing), ``x-ms-region`` missing on ~5% (the native row's location or the backend host's learned
  region gives it: ``usage.regions``);
* the caller's Entra object id in an ``x-caller-oid`` request header (``gateway.caller_headers``):
  on the backend request for ~70% of the calls of the subscriptions people and applications use,
  on the frontend request for ~15%; the native ``objectId`` is APIM's managed identity (a gateway
  identity, never the caller) and ``UserId`` the developer-portal user or the administrator ``1``;
* LLM-log rows for most successful chat/responses calls: sequence 0 carries tokens and model,
  then request messages, then response messages, in 32 KB chunks; ~2% of chunks are repeated.

The gateway rows are made in ``gateway``, an hour at a time; the tenant they come from in
``catalog``, the answers' bodies in ``bodies``, the native and LLM-log rows that partner them in
``partners``. This module holds the two ways in, ``iter_logs`` and ``generate_logs``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE

from .gateway import _Hour


def iter_logs(
    *,
    start: datetime,
    end: datetime,
    requests_per_hour: int = 60,
    seed: int = 0,
    malformed: bool = True,
) -> Iterator[tuple[str, dict]]:
    """Yield ``(table, row)`` for every generated row of the UTC hours that [start, end) touches.

    The range is widened to whole hours (``start`` floored, ``end`` rounded up), so any range
    yields whole hours and the same hour always yields the same rows.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware (UTC)")
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        yield from _Hour(hour, seed, requests_per_hour).rows(malformed)
        hour += timedelta(hours=1)


def generate_logs(
    *,
    start: datetime,
    end: datetime,
    requests_per_hour: int = 60,
    seed: int = 0,
    malformed: bool = True,
) -> dict[str, list[dict]]:
    """All generated rows of [start, end), per Log Analytics table (see the module docstring)."""
    logs: dict[str, list[dict]] = {GATEWAY: [], NATIVE: [], LLM_LOG: []}
    for table, row in iter_logs(
        start=start, end=end, requests_per_hour=requests_per_hour, seed=seed, malformed=malformed
    ):
        logs[table].append(row)
    return logs
