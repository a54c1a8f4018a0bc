"""Write the usage (tokens, model, cost) of stored requests: ``usage_refresh``.

Bulk by design: a batch loads its requests, their native-log and LLM-log partners and the price
book in a handful of queries, parses each request with the pure ``usage_parse`` and writes
everything back with ``usage.db.bulk.rows_update`` (one statement per chunk on PostgreSQL). Idempotent: the same rows give the same numbers.

Only rows whose usage or cost changed are written: updating a request row (wide, with its indexes)
is most of a refresh's time, and a late native row or a re-imported window often changes nothing
(``usage_computed_at`` is when the stored usage was last written).
"""

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from django.utils import timezone

from aoai_portal.months import month_floor
from usage.db.bulk import rows_update
from usage.db.json import json_dumps, json_nul_escapes_drop
from usage.db.loaded import LoadedRequests
from usage.identity.services import callers_apply
from usage.models import DeploymentType, GatewayRequest, LlmLogChunk, NativeLog
from usage.regions.services import backend_regions_resolve

from .parse.inputs import LlmLogInput, NativeInput, RequestInput, UsageResult, llm_log_merge
from .parse.parser import usage_parse
from .pricing import PriceBook, months_closed, stored_request_cost
from .ptu import ptu_rates

BATCH = 1000

USAGE_FIELDS = (
    "operation",
    "backend_region",  # x-ms-region, else the native row's location (usage.regions)
    "deployment",
    "api_version",
    "model",
    "model_version",
    "is_streaming",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "total_tokens",
    "images",
    "audio_seconds",
    "finish_reason",
    "token_source",
    "is_truncated",
    "content_filter",
    "usage_note",
    "caller_object_id",  # who called (usage.identity): the native partner may tell
    "caller_source",
    "usage_computed_at",
)
COST_FIELDS = ("cost", "currency", "is_priced", "price_version")
# What a refresh compares to decide whether a row must be written (not the time it was computed).
_COMPARED_FIELDS = tuple(f for f in (*USAGE_FIELDS, *COST_FIELDS) if f != "usage_computed_at")


def _compared(row: GatewayRequest) -> tuple:
    return tuple(getattr(row, f) for f in _COMPARED_FIELDS)


_NATIVE_FIELDS = (
    "correlation_id",
    "model_name",
    "model_version",
    "model_deployment",
    "stream_type",
    "request_length",
    "response_length",
    "location",
    "object_id",
)
_LLM_FIELDS = (
    "correlation_id",
    "sequence_number",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "model_name",
    "deployment_name",
    "is_stream_completion",
)


def usage_for_request(
    request: GatewayRequest, *, native: NativeLog | None = None, llm_chunks: Collection[LlmLogChunk] = ()
) -> UsageResult:
    """Parse one stored request with its partners (no queries)."""
    native_input = None
    if native is not None:
        native_input = NativeInput(
            model_name=native.model_name,
            model_version=native.model_version,
            model_deployment=native.model_deployment,
            stream_type=native.stream_type,
            request_length=native.request_length,
            response_length=native.response_length,
        )
    llm_input: LlmLogInput | None = llm_log_merge(llm_chunks) if llm_chunks else None
    return usage_parse(
        request=RequestInput(
            url=request.url,
            response_code=request.response_code,
            request_body=request.request_body,
            response_body=request.response_body,
            request_headers=request.request_headers,
            response_headers=request.response_headers,
            operation_id=request.operation_id,
            deployment=request.deployment,
            api_version=request.api_version,
            request_size=request.request_size,
            response_size=request.response_size,
        ),
        native=native_input,
        llm_log=llm_input,
    )


def _clean(text: str, limit: int) -> str:
    """Text from a body, storable anywhere: no NUL (PostgreSQL refuses it), no lone surrogate
    (not encodable as UTF-8; a JSON body can spell one as an escape)."""
    text = text.replace("\x00", "")
    if not text.isascii():  # O(1); ASCII always encodes
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text[:limit]


def _clean_json(value: dict) -> tuple[dict, str]:
    """``value`` storable anywhere (as ``_clean``), and its JSON text (parsed: the value)."""
    if not value:
        return value, "{}"  # no filter results, nothing to clean
    raw = json_dumps(value, ensure_ascii=False)
    cleaned = _clean(json_nul_escapes_drop(raw), len(raw))
    return (value, raw) if cleaned == raw else (json.loads(cleaned), cleaned)


# ``_apply`` keeps the JSON text of the content filter it cleaned on the instance, next to the
# value it is the text of: the COPY of a new request sends it instead of encoding the value again.
_CONTENT_FILTER_JSON = "_content_filter_json"


def content_filter_json(row: GatewayRequest) -> str | None:
    """The JSON text of ``row.content_filter`` kept by the usage computation, or None (not
    computed here, or another value set since). Parsed, it gives the value; it may spell
    non-ASCII characters unescaped, which jsonb stores the same."""
    kept = row.__dict__.get(_CONTENT_FILTER_JSON)
    if kept is None or kept[0] is not row.content_filter:
        return None
    return kept[1]


def _apply(row: GatewayRequest, usage: UsageResult, now: dt.datetime) -> None:
    row.operation = usage.operation
    if usage.deployment and not row.deployment:
        row.deployment = _clean(usage.deployment, 256)
    if usage.api_version and not row.api_version:
        row.api_version = _clean(usage.api_version, 64)
    row.model = _clean(usage.model, 128)
    row.model_version = _clean(usage.model_version, 64)
    row.is_streaming = usage.is_streaming
    row.prompt_tokens = usage.prompt_tokens
    row.cached_tokens = usage.cached_tokens
    row.completion_tokens = usage.completion_tokens
    row.reasoning_tokens = usage.reasoning_tokens
    row.total_tokens = usage.total_tokens
    row.images = usage.images
    row.audio_seconds = usage.audio_seconds
    row.finish_reason = _clean(usage.finish_reason, 64)
    row.token_source = usage.token_source
    row.is_truncated = usage.is_truncated
    row.content_filter, text = _clean_json(usage.content_filter)
    setattr(row, _CONTENT_FILTER_JSON, (row.content_filter, text))
    row.usage_note = _clean(usage.reason, 200)
    row.usage_computed_at = now


def usage_refresh(*, correlation_ids: Collection[str], loaded: LoadedRequests | None = None) -> int:
    """Recompute usage and cost of the given requests (APIM correlation ids); returns rows written
    (those whose usage or cost changed).

    Requests in a closed month keep their cost; their token numbers may still be refreshed.
    ``loaded``: these requests already loaded by the caller (``requests_refresh`` shares them with
    ``flags_evaluate``); their rows are updated in place as well as in the database.
    """
    ids = list(dict.fromkeys(c for c in correlation_ids if c))
    if not ids:
        return 0
    book = PriceBook.load()
    # Retention purged the bodies of some rows: their usage was computed before and must stay.
    if loaded is not None:
        wanted = set(ids)
        rows = [r for r in loaded.rows if r.correlation_id in wanted and r.bodies_purged_at is None]
        written = 0
        for start in range(0, len(rows), BATCH):
            written += _refresh_batch(rows[start : start + BATCH], book, loaded.chunks)
        return written
    written = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        rows = list(GatewayRequest.objects.filter(correlation_id__any=batch, bodies_purged_at__isnull=True))
        chunks: dict[str, list[LlmLogChunk]] = defaultdict(list)
        for chunk in LlmLogChunk.objects.filter(correlation_id__any=batch).only(*_LLM_FIELDS):
            chunks[chunk.correlation_id].append(chunk)
        written += _refresh_batch(rows, book, chunks)
    return written


def _refresh_batch(
    rows: list[GatewayRequest], book: PriceBook, chunks: Mapping[str, list[LlmLogChunk]]
) -> int:
    if not rows:
        return 0
    # None: never computed, always written (even if the parse gives the defaults back).
    stored = {row.pk: _compared(row) if row.usage_computed_at else None for row in rows}
    parsed = _usage_compute(rows, book, chunks)
    provisioned = _provisioned(rows, book)
    rates = {}
    if provisioned:
        # The PTU share depends on the month's tokens, these rows included: store tokens first.
        usage_changed = [row for row in rows if _usage_changed(row, stored[row.pk])]
        rows_update(rows=usage_changed, fields=USAGE_FIELDS, batch_size=BATCH)
        rates = ptu_rates(book=book, pairs=provisioned)
    _costs_apply(rows, parsed, book, rates)
    changed = [row for row in rows if stored[row.pk] != _compared(row)]
    rows_update(rows=changed, fields=[*USAGE_FIELDS, *COST_FIELDS], batch_size=BATCH)
    return len(changed)


@dataclass
class UnpricedRequests:
    """Requests ``usage_prepare`` left unpriced: on a provisioned deployment the PTU share depends
    on the month's stored tokens, these requests' included, so ``usage_price_written`` prices them
    once they are written (from their parse, not parsing them again)."""

    book: PriceBook
    rows: list[GatewayRequest] = field(default_factory=list)
    parsed: dict[str, UsageResult] = field(default_factory=dict)


def usage_prepare(
    *, rows: list[GatewayRequest], chunks: Mapping[str, list[LlmLogChunk]]
) -> UnpricedRequests | None:
    """Usage and cost of requests not stored yet, onto the instances, to be written with them.

    What ``usage_refresh`` would write once they are stored, without the read-back and UPDATE of
    every new row (``usage.ingestion.pipeline.requests_write``). Returns the requests whose cost must wait
    until they are written (``UnpricedRequests``), or None.
    """
    if not rows:
        return None
    book = PriceBook.load()
    parsed = _usage_compute(rows, book, chunks)
    provisioned = _provisioned(rows, book)
    later = [row for row in rows if (row.deployment, month_floor(row.time)) in provisioned]
    waiting = {row.correlation_id for row in later}
    _costs_apply([row for row in rows if row.correlation_id not in waiting], parsed, book, {})
    if not later:
        return None
    return UnpricedRequests(book=book, rows=later, parsed={c: parsed[c] for c in waiting})


def usage_price_written(
    *,
    unpriced: UnpricedRequests,
    written: Collection[str],
    month_tokens: Callable[[str, dt.date], int] | None = None,
) -> None:
    """Price the ``unpriced`` requests that were written (correlation ids in ``written``) with the
    PTU share of their month's stored tokens, and store their cost. ``month_tokens``: as for
    ``ptu_rates`` (without it the month's requests are summed)."""
    rows = [row for row in unpriced.rows if row.correlation_id in written]
    if not rows:
        return
    rates = ptu_rates(book=unpriced.book, pairs=_provisioned(rows, unpriced.book), month_tokens=month_tokens)
    _costs_apply(rows, unpriced.parsed, unpriced.book, rates)
    rows_update(rows=rows, fields=COST_FIELDS, batch_size=BATCH)


def _usage_compute(
    rows: list[GatewayRequest], book: PriceBook, chunks: Mapping[str, list[LlmLogChunk]]
) -> dict[str, UsageResult]:
    """Parse each row with its partners and set its usage fields (and its backend region, which
    the native partner may give); the results by correlation id."""
    apim_ids = [r.apim_request_id for r in rows if r.apim_request_id]
    natives = {
        n.correlation_id: n
        for n in NativeLog.objects.filter(correlation_id__any=apim_ids).only(*_NATIVE_FIELDS)
    }
    backend_regions_resolve(rows=rows, natives=natives)
    callers_apply(rows=rows, natives=natives)
    now = timezone.now()
    parsed: dict[str, UsageResult] = {}
    for row in rows:
        usage = usage_for_request(
            row,
            native=natives.get(row.apim_request_id) if row.apim_request_id else None,
            llm_chunks=chunks.get(row.correlation_id, ()),
        )
        _apply(row, usage, now)
        if not row.model and row.deployment:
            # The logs name no model (no bodies, no native row): the deployment's known model is
            # shown and priced, rather than leaving the request "unknown model" and unpriced.
            row.model = book.deployment_model(row.deployment)
        parsed[row.correlation_id] = usage
    return parsed


def _provisioned(rows: list[GatewayRequest], book: PriceBook) -> set[tuple[str, dt.date]]:
    return {
        (row.deployment, month_floor(row.time))
        for row in rows
        if book.deployment_type(row.deployment) == DeploymentType.PROVISIONED
    }


def _costs_apply(
    rows: list[GatewayRequest],
    parsed: Mapping[str, UsageResult],
    book: PriceBook,
    rates: dict[tuple[str, dt.date], tuple],
) -> None:
    """Set the cost fields of rows whose usage is set; a closed month is never repriced."""
    closed = months_closed(months={month_floor(row.time) for row in rows})
    for row in rows:
        if month_floor(row.time) in closed:
            continue
        cost = stored_request_cost(
            book=book,
            row=row,
            is_error=parsed[row.correlation_id].is_error,
            ptu_rates=rates,
        )
        row.cost, row.currency, row.is_priced, row.price_version = (
            cost.cost,
            cost.currency,
            cost.is_priced,
            cost.price_version,
        )


def _usage_changed(row: GatewayRequest, stored: tuple | None) -> bool:
    if stored is None:
        return True
    usage_count = len(USAGE_FIELDS) - 1  # _COMPARED_FIELDS: the usage fields first, then cost
    return stored[:usage_count] != _compared(row)[:usage_count]


def deployment_requests_refresh(*, deployment: str, models: Collection[str] = ()) -> int:
    """Recompute the stored requests of ``deployment`` whose model came (or may now come) from the
    deployment: those without a model and those shown as one of ``models`` (the deployment's model
    before a change). Usage, cost (open months), flags and rollups, as after ingestion
    (``requests_refresh``). Returns the number of requests recomputed."""
    from usage.ingestion.pipeline import requests_refresh

    wanted = {"", *(m for m in models if m)}
    ids = list(
        GatewayRequest.objects.filter(deployment=deployment, model__in=sorted(wanted)).values_list(
            "correlation_id", flat=True
        )
    )
    requests_refresh(correlation_ids=ids)
    return len(ids)
