"""What the request detail page shows: the joined record, its flags and the conversation with the
matched spans marked and secrets masked (unless revealed, an audited action of the view)."""

from dataclasses import dataclass
from typing import Any

from usage.identity.sources import SOURCE_LABELS
from usage.ingestion.credentials import REDACTED, header_name_is_credential
from usage.models import GatewayRequest, LlmLogChunk, NamedIdentity, NativeLog

from .conversation import Conversation
from .detectors import AzureVerdicts, Span, azure_verdicts_find, masked_spans_find, secret_mask
from .models import Flag, ReviewItem
from .selectors import cost_center_map_get
from .services.flags import request_conversation


@dataclass
class Segment:
    text: str
    marked: bool = False
    masked: bool = False
    labels: str = ""


def text_segments(*, text: str, marks: list[Span], masks: list[Span], reveal: bool) -> list[Segment]:
    """Cut ``text`` at every span boundary; marked pieces get <mark>, masked spans show once, masked."""
    length = len(text)
    marks = [s for s in marks if 0 <= s.start < s.end <= length]
    masks = [s for s in masks if 0 <= s.start < s.end <= length]
    cuts = sorted({0, length, *(s.start for s in marks + masks), *(s.end for s in marks + masks)})
    segments: list[Segment] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        covering = [s for s in marks if s.start <= start and end <= s.end]
        mask = next((s for s in masks if s.start <= start and end <= s.end), None)
        labels = ", ".join(sorted({s.label for s in covering} | ({mask.label} if mask else set())))
        if mask is not None and not reveal:
            if mask.start != start:
                continue  # the masked value was shown with its first piece
            piece = secret_mask(text[mask.start : mask.end])
            segments.append(Segment(piece, marked=bool(covering), masked=True, labels=labels))
        else:
            segments.append(Segment(text[start:end], marked=bool(covering), labels=labels))
    return segments


def _conversation_view(conversation: Conversation, flags: list[Flag], reveal: bool) -> dict[str, Any]:
    marks: dict[tuple[str, int], list[Span]] = {}
    for flag in flags:
        for span in flag.spans:
            try:
                key = (span["part"], int(span["message"]))
                marks.setdefault(key, []).append(Span(int(span["start"]), int(span["end"]), flag.name))
            except (KeyError, TypeError, ValueError):
                continue
    masked_count = 0
    parts = {}
    for part in ("prompt", "completion"):
        rows = []
        for index, message in enumerate(conversation.part(part)):
            masks = masked_spans_find(message.text)
            masked_count += len(masks)
            rows.append(
                {
                    "role": message.role,
                    "segments": text_segments(
                        text=message.text, marks=marks.get((part, index), []), masks=masks, reveal=reveal
                    ),
                }
            )
        parts[part] = rows
    return {"prompt": parts["prompt"], "completion": parts["completion"], "masked_count": masked_count}


def _headers(headers: dict[str, Any], reveal: bool) -> tuple[list[tuple[str, str]], int]:
    """(name, value) rows, masked unless ``reveal``, and how many values a reveal would show."""
    rows = []
    masked = 0
    for name, value in sorted((headers or {}).items()) if isinstance(headers, dict) else []:
        text = (
            value
            if isinstance(value, str)
            else ", ".join(map(str, value))
            if isinstance(value, list)
            else str(value)
        )
        # Ingestion already redacts credential headers (usage.ingestion.credentials); masked
        # here as well, whatever a row holds. A redacted value has nothing left to reveal.
        if header_name_is_credential(name):
            if not text.endswith(REDACTED):
                masked += 1
                text = text if reveal else secret_mask(text)
        elif masks := masked_spans_find(text):
            masked += len(masks)
            if not reveal:
                text = "".join(s.text for s in text_segments(text=text, marks=[], masks=masks, reveal=False))
        rows.append((name, text))
    return rows, masked


def request_detail_build(*, request: GatewayRequest, reveal: bool) -> dict[str, Any]:
    chunks = list(
        LlmLogChunk.objects.filter(correlation_id=request.correlation_id).order_by("sequence_number")
    )
    native = (
        NativeLog.objects.filter(correlation_id=request.apim_request_id).first()
        if request.apim_request_id
        else None
    )
    identity = (
        NamedIdentity.objects.filter(object_id=request.caller_object_id).first()
        if request.caller_object_id
        else None
    )
    flags = list(Flag.objects.filter(request=request).order_by("-severity", "name"))
    item = ReviewItem.objects.filter(request=request).select_related("assignee").first()
    conversation = request_conversation(request=request, chunks=chunks)
    verdicts: AzureVerdicts = azure_verdicts_find(
        content_filter=request.content_filter, response_body=request.response_body
    )
    request_headers, request_masked = _headers(request.request_headers, reveal)
    response_headers, response_masked = _headers(request.response_headers, reveal)
    conversation_view = _conversation_view(conversation, flags, reveal)
    cost_center = cost_center_map_get().of(
        subscription=request.apim_subscription_id, product=request.product_id
    )
    return {
        "record": request,
        "native": native,
        "identity": identity,
        "caller_source_label": SOURCE_LABELS.get(request.caller_source, request.caller_source),
        "chunks": chunks,
        "llm_region": next((c.region for c in chunks if c.region), ""),
        "cost_center": cost_center,
        "flags": flags,
        "item": item,
        "events": list(item.events.all()) if item else [],
        "conversation": conversation,
        "conversation_view": conversation_view,
        "verdicts": verdicts,
        "request_headers": request_headers,
        "response_headers": response_headers,
        # What a reveal would show: the page offers *Reveal* only when this is not 0.
        "masked_count": conversation_view["masked_count"] + request_masked + response_masked,
        "revealed": reveal,
    }
