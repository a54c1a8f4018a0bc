"""Requests loaded once for the refresh steps that all read them (usage, flags, rollups)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from .models import GatewayRequest, LlmLogChunk


@dataclass
class LoadedRequests:
    """Stored requests (whole rows, bodies included) and their LLM-log chunks by correlation id.

    The steps of ``requests_refresh`` share one instance, in order: ``usage_refresh`` writes its
    fields onto these rows (and to the database), so ``flags_evaluate`` reads the same values it
    would have read back (``content_filter``).
    """

    rows: list[GatewayRequest]
    chunks: dict[str, list[LlmLogChunk]] = field(default_factory=dict)

    @classmethod
    def load(cls, correlation_ids: Sequence[str]) -> "LoadedRequests":
        rows = list(GatewayRequest.objects.filter(correlation_id__in=correlation_ids))
        chunks: dict[str, list[LlmLogChunk]] = {}
        for chunk in LlmLogChunk.objects.filter(correlation_id__in=correlation_ids):
            chunks.setdefault(chunk.correlation_id, []).append(chunk)
        return cls(rows=rows, chunks=chunks)
