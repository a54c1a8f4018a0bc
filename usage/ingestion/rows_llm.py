"""The LLM-log table's record and parser: ApiManagementGatewayLlmLog -> ``LlmChunkRow``.

``LlmChunkRow`` is stored as an ``LlmLogChunk``. A chunk is keyed by ``(CorrelationId, RequestId,
SequenceNumber)``: an unusable RequestId or SequenceNumber rejects the row. Guarded and named by
table in ``rows.py``, which describes what every parser does with bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .cells import (
    _INT32,
    _NON_NEGATIVE,
    KEY_MAX_LENGTH,
    _as_number,
    _as_text,
    _Bad,
    _Cells,
    _notes,
    _show,
    has_surrogate,
)


@dataclass
class LlmChunkRow:
    correlation_id: str
    time: datetime
    request_id: str = ""
    sequence_number: int = 0
    deployment_name: str = ""
    model_name: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    request_messages: str = ""
    response_messages: str = ""
    is_stream_completion: bool | None = None
    api_version: str = ""
    region: str = ""
    ingest_notes: str = ""


def _parse_llm(row: Mapping[str, Any]) -> LlmChunkRow:
    cells = _Cells(row)
    correlation_id = cells.key("CorrelationId")
    time = cells.moment("TimeGenerated")
    # RequestId and SequenceNumber are part of the chunk's key: unusable ones reject the row.
    raw_request_id = cells.raw("RequestId")
    if isinstance(raw_request_id, bool | dict | list | float):
        raise _Bad("RequestId: not a text", _show(raw_request_id))
    request_id = "" if raw_request_id is None else _as_text(raw_request_id).strip()
    if len(request_id) > KEY_MAX_LENGTH:
        raise _Bad(f"RequestId: longer than {KEY_MAX_LENGTH} characters", _show(request_id))
    if has_surrogate(request_id):
        raise _Bad("RequestId: lone surrogate", _show(request_id))
    sequence = _sequence_number(cells.raw("SequenceNumber"))
    return LlmChunkRow(
        correlation_id=correlation_id,
        time=time,
        request_id=request_id,
        sequence_number=sequence,
        deployment_name=cells.text("DeploymentName"),
        model_name=cells.text("ModelName"),
        prompt_tokens=cells.integer("PromptTokens", _NON_NEGATIVE),
        completion_tokens=cells.integer("CompletionTokens", _NON_NEGATIVE),
        total_tokens=cells.integer("TotalTokens", _NON_NEGATIVE),
        request_messages=cells.text("RequestMessages"),
        response_messages=cells.text("ResponseMessages"),
        is_stream_completion=cells.boolean("IsStreamCompletion"),
        api_version=cells.text("ApiVersion"),
        region=cells.text("Region"),
        ingest_notes=_notes(cells),
    )


def _sequence_number(value: Any) -> int:
    if value is None or value == "":
        return 0
    number = _as_number(value)
    if number is None or number != int(number):
        raise _Bad("SequenceNumber: not an integer", _show(value))
    if not 0 <= number <= _INT32[1]:
        raise _Bad("SequenceNumber: out of range", _show(value))
    return int(number)
