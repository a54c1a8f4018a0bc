"""Read-only questions about ingested rows (for the ingestion status page)."""

from datetime import datetime, timedelta

from django.db.models import Exists, Max, OuterRef

from usage.models import GatewayRequest, LlmLogChunk, NativeLog

from .tables import GATEWAY, LLM_LOG, NATIVE

# A row and its join partner describe the same call, so their times differ by seconds; a partner
# is looked for this far before the counted window (lets PostgreSQL skip older request partitions).
PARTNER_SLACK = timedelta(days=1)


def ingestion_unmatched_counts(*, since: datetime | None = None) -> dict[str, int]:
    """Rows still waiting for their join partner, per Log Analytics table.

    * ApiManagementGatewayLogs: requests that logged an ``apim-request-id`` but have no native row;
    * AzureDiagnostics: native rows whose ``CorrelationId`` no request logged as ``apim-request-id``
      (late gateway rows, or calls that bypassed APIM);
    * ApiManagementGatewayLlmLog: LLM-log chunks with no gateway row of their ``CorrelationId``.

    ``since`` counts only rows logged at or after it (the status page looks at recent data: an
    anti-join over all history grows with it). A partner that arrives later simply makes the row
    matched: the counts shrink by themselves.
    """
    requests, natives, chunks = (
        GatewayRequest.objects.all(),
        NativeLog.objects.all(),
        LlmLogChunk.objects.all(),
    )
    partners, native_partners = GatewayRequest.objects.all(), NativeLog.objects.all()
    if since is not None:
        requests, natives = requests.filter(time__gte=since), natives.filter(time__gte=since)
        chunks = chunks.filter(time__gte=since)
        partners = partners.filter(time__gte=since - PARTNER_SLACK)
        native_partners = native_partners.filter(time__gte=since - PARTNER_SLACK)
    native = native_partners.filter(correlation_id=OuterRef("apim_request_id"))
    gateway_by_request_id = partners.filter(apim_request_id=OuterRef("correlation_id"))
    gateway_by_correlation_id = partners.filter(correlation_id=OuterRef("correlation_id"))
    return {
        GATEWAY: requests.exclude(apim_request_id="").filter(~Exists(native)).count(),
        NATIVE: natives.filter(~Exists(gateway_by_request_id)).count(),
        LLM_LOG: chunks.filter(~Exists(gateway_by_correlation_id)).count(),
    }


def ingestion_unmatched_since(*, days: int) -> datetime | None:
    """Start of the status page's unmatched window: ``days`` before the newest request stored."""
    newest = GatewayRequest.objects.aggregate(newest=Max("time"))["newest"]
    return newest - timedelta(days=days) if newest else None
