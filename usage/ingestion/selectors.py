"""Read-only questions about ingested rows (for the ingestion status page)."""

from datetime import datetime, timedelta

from django.db.models import Count, Exists, Max, OuterRef, Q

from usage.models import GatewayRequest, LlmLogChunk, NativeLog, UnmatchedRow

from .tables import GATEWAY, LLM_LOG, NATIVE


def ingestion_unmatched_counts(*, since: datetime | None = None) -> dict[str, int]:
    """Rows still waiting for their join partner, per Log Analytics table.

    * ApiManagementGatewayLogs: requests that logged an ``apim-request-id`` but have no native row;
    * AzureDiagnostics: native rows whose ``CorrelationId`` no request logged as ``apim-request-id``
      (late gateway rows, or calls that bypassed APIM);
    * ApiManagementGatewayLlmLog: LLM-log chunks with no gateway row of their ``CorrelationId``.

    ``since`` counts only rows logged at or after it. Read from ``UnmatchedRow``, which ingestion
    keeps (``unmatched.py``): a partner that arrives later deletes its row's entry, so the counts
    shrink by themselves, and the read grows with the waiting rows, not with the rows stored.
    ``ingestion_unmatched_counts_scan`` is the same answer computed from the log tables.
    """
    entries = UnmatchedRow.objects.all()
    if since is not None:
        entries = entries.filter(time__gte=since)
    counts = dict(entries.values_list("table").annotate(n=Count("id")).order_by())
    return {table: counts.get(table, 0) for table in (GATEWAY, NATIVE, LLM_LOG)}


def ingestion_unmatched_counts_scan(*, since: datetime | None = None) -> dict[str, int]:
    """``ingestion_unmatched_counts`` by anti-joining the log tables (reads every row since ``since``
    and looks for its partner in all history): the reference the maintained counts must equal."""
    requests, natives, chunks = (
        GatewayRequest.objects.all(),
        NativeLog.objects.all(),
        LlmLogChunk.objects.all(),
    )
    if since is not None:
        requests, natives = requests.filter(time__gte=since), natives.filter(time__gte=since)
        chunks = chunks.filter(time__gte=since)
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id"))
    gateway_by_request_id = GatewayRequest.objects.filter(apim_request_id=OuterRef("correlation_id"))
    gateway_by_correlation_id = GatewayRequest.objects.filter(correlation_id=OuterRef("correlation_id"))
    return {
        GATEWAY: requests.exclude(apim_request_id="").filter(~Exists(native)).count(),
        NATIVE: natives.filter(~Exists(gateway_by_request_id)).count(),
        LLM_LOG: chunks.filter(~Exists(gateway_by_correlation_id)).count(),
    }


def ingestion_unmatched_since(*, days: int) -> datetime | None:
    """Start of the status page's unmatched window: ``days`` before the newest request stored."""
    newest: datetime | None = GatewayRequest.objects.aggregate(newest=Max("time"))["newest"]
    if newest is None:
        return None
    try:
        return newest - timedelta(days=days)
    except OverflowError:  # a request stored at the very start of year 1: count from there
        return newest



UNJOINABLE_NOT_LOGGED = "apim-request-id not logged"
UNJOINABLE_NOT_SENT = "answered by APIM, never sent to a backend"


def unjoinable_counts(*, since: datetime | None = None) -> dict[str, int]:
    """Gateway requests that can never join a native row, per reason.

    A request joins its native row on the backend's ``apim-request-id`` response header. Without
    it the row can never join: either the APIM diagnostic settings do not log that backend
    response header (``UNJOINABLE_NOT_LOGGED``: fix the settings), or APIM answered the request
    itself, e.g. a 429 of its token-limit policy (``UNJOINABLE_NOT_SENT``: there is no backend
    call to join). ``since`` counts only requests logged at or after it.
    """
    requests = GatewayRequest.objects.filter(apim_request_id="")
    if since is not None:
        requests = requests.filter(time__gte=since)
    sent = (
        ~Q(backend_id="")
        | ~Q(backend_url="")
        | Q(backend_time_ms__isnull=False)
        | Q(backend_response_code__isnull=False)
    )
    counts = requests.aggregate(
        not_logged=Count("id", filter=sent),
        not_sent=Count("id", filter=~sent),
    )
    return {
        UNJOINABLE_NOT_LOGGED: counts["not_logged"] or 0,
        UNJOINABLE_NOT_SENT: counts["not_sent"] or 0,
    }
