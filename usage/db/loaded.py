"""Requests loaded once for the refresh steps that all read them (usage, flags, rollups).

Here, below both the steps (``usage.accounting``, ``audit``) and the pipeline that runs them in
the ingestion, which all import it: in ``usage.ingestion`` the accounting would import the
ingestion, which imports the accounting.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from usage.models import GatewayRequest, LlmLogChunk


@dataclass
class LoadedRequests:
    """Requests (whole rows, bodies included) and their stored LLM-log chunks by correlation id.

    The steps of ``requests_refresh`` share one instance, in order: ``usage_refresh`` writes its
    fields onto these rows and to the database, then ``flags_evaluate`` reads them as written;
    ``requests_write`` shares one the same way for rows not stored yet (``usage_prepare``)
    (the one it reads of usage's, ``content_filter``, gives the same verdicts in any key order:
    ``audit.detectors.azure.azure_verdicts_find``).
    """

    rows: list[GatewayRequest]
    chunks: dict[str, list[LlmLogChunk]] = field(default_factory=dict)

    @classmethod
    def load(cls, correlation_ids: Sequence[str]) -> "LoadedRequests":
        rows = list(GatewayRequest.objects.filter(correlation_id__any=correlation_ids))
        return cls.partnered(rows)

    @classmethod
    def partnered(cls, rows: list[GatewayRequest]) -> "LoadedRequests":
        """``rows`` (stored or about to be) with their stored LLM-log chunks."""
        chunks: dict[str, list[LlmLogChunk]] = {}
        ids = [row.correlation_id for row in rows]
        for chunk in LlmLogChunk.objects.filter(correlation_id__any=ids):
            chunks.setdefault(chunk.correlation_id, []).append(chunk)
        return cls(rows=rows, chunks=chunks)
