"""Requests loaded once for the refresh steps that all read them (usage, flags, rollups)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from .models import GatewayRequest, LlmLogChunk


@dataclass
class LoadedRequests:
    """Stored requests (whole rows, bodies included) and their LLM-log chunks by correlation id.

    The steps of ``requests_refresh`` share one instance, in order: ``usage_refresh`` writes its
    fields onto these rows and to the database, then ``fields_reload`` reads back those that
    ``flags_evaluate`` uses, so it sees them as stored (JSONB orders keys: an Azure-filter flag's
    detail must come out the same as when it is re-evaluated from the database later).
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

    def fields_reload(self, *fields: str) -> None:
        """Read ``fields`` of the rows again from the database (one small query)."""
        by_pk = {row.pk: row for row in self.rows}
        for pk, *values in GatewayRequest.objects.filter(pk__in=list(by_pk)).values_list("pk", *fields):
            for name, value in zip(fields, values, strict=True):
                setattr(by_pk[pk], name, value)
