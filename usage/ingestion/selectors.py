"""Read-only questions about ingested rows (for the ingestion status page)."""

from django.db.models import Exists, OuterRef

from usage.models import GatewayRequest, LlmLogChunk, NativeLog

from .tables import GATEWAY, LLM_LOG, NATIVE


def ingestion_unmatched_counts() -> dict[str, int]:
    """Rows still waiting for their join partner, per Log Analytics table.

    * ApiManagementGatewayLogs: requests that logged an ``apim-request-id`` but have no native row;
    * AzureDiagnostics: native rows whose ``CorrelationId`` no request logged as ``apim-request-id``
      (late gateway rows, or calls that bypassed APIM);
    * ApiManagementGatewayLlmLog: LLM-log chunks with no gateway row of their ``CorrelationId``.

    A partner that arrives later simply makes the row matched: the counts shrink by themselves.
    """
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id"))
    gateway_by_request_id = GatewayRequest.objects.filter(apim_request_id=OuterRef("correlation_id"))
    gateway_by_correlation_id = GatewayRequest.objects.filter(correlation_id=OuterRef("correlation_id"))
    return {
        GATEWAY: GatewayRequest.objects.exclude(apim_request_id="").filter(~Exists(native)).count(),
        NATIVE: NativeLog.objects.filter(~Exists(gateway_by_request_id)).count(),
        LLM_LOG: LlmLogChunk.objects.filter(~Exists(gateway_by_correlation_id)).count(),
    }
