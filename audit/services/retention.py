"""Retention of review data: prompt text erased past its period, and what goes with old requests.

``retention_purge`` erases prompt and completion text (the nightly task). When request retention
(``usage.retention``) removes whole requests, their flags and review items go with them and
requests under a confirmed or escalated review item are held: ``request_retention_held`` and
``request_retention_purge``, registered there from ``AuditConfig.ready``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from aoai_portal.access_audit import access_audit_record
from usage.models import GatewayRequest, LlmLogChunk
from usage.retention import RequestRetentionResult

from ..models import AccessAuditEntry, Flag, ReviewItem

BATCH = 1000  # requests whose text is erased per transaction
S = ReviewItem.Status


@dataclass
class PurgeResult:
    requests: int
    llm_chunks: int
    prompt_cutoff: datetime
    flagged_cutoff: datetime


def retention_purge(*, now: datetime | None = None) -> PurgeResult:
    """Erase prompt and completion text past retention; tokens, cost and flags (offsets) stay.

    Unflagged requests: after PROMPT_RETENTION_DAYS. Flagged ones: after FLAGGED_RETENTION_DAYS,
    except confirmed / escalated items, kept until an admin releases them. Audited (action purge).
    """
    now = now or timezone.now()
    prompt_cutoff = now - timedelta(days=settings.PROMPT_RETENTION_DAYS)
    flagged_cutoff = now - timedelta(days=settings.FLAGGED_RETENTION_DAYS)
    held = {S.CONFIRMED, S.ESCALATED}
    pending = GatewayRequest.objects.filter(bodies_purged_at__isnull=True)
    unflagged = pending.filter(time__lt=prompt_cutoff, review__isnull=True)
    flagged = pending.filter(time__lt=flagged_cutoff, review__isnull=False).exclude(
        review__status__in=held, review__released_at__isnull=True
    )
    ids = list(unflagged.values_list("correlation_id", flat=True)) + list(
        flagged.values_list("correlation_id", flat=True)
    )
    chunk_total = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with transaction.atomic():
            GatewayRequest.objects.filter(correlation_id__any=batch).update(
                request_body="", response_body="", bodies_purged_at=now
            )
            chunk_total += LlmLogChunk.objects.filter(correlation_id__any=batch).update(
                request_messages="", response_messages=""
            )
    # LLM-log chunks whose gateway row never arrived follow the unflagged period.
    orphans = (
        LlmLogChunk.objects.filter(time__lt=prompt_cutoff)
        .exclude(request_messages="", response_messages="")
        .exclude(correlation_id__in=GatewayRequest.objects.values("correlation_id"))
    )
    chunk_total += orphans.update(request_messages="", response_messages="")
    access_audit_record(
        request=None,
        action=AccessAuditEntry.Action.PURGE,
        reason="retention",
        detail={
            "requests": len(ids),
            "llm_chunks": chunk_total,
            "prompt_cutoff": prompt_cutoff.isoformat(),
            "flagged_cutoff": flagged_cutoff.isoformat(),
            "correlation_ids": ids[:1000],
            "correlation_ids_truncated": len(ids) > 1000,
        },
    )
    return PurgeResult(
        requests=len(ids), llm_chunks=chunk_total, prompt_cutoff=prompt_cutoff, flagged_cutoff=flagged_cutoff
    )


def request_retention_held(requests: QuerySet[GatewayRequest]) -> QuerySet[GatewayRequest]:
    """Requests whose review item is confirmed / escalated and not released: kept, as for text."""
    return requests.filter(review__status__in=[S.CONFIRMED, S.ESCALATED], review__released_at__isnull=True)


def request_retention_purge(requests: QuerySet[GatewayRequest], result: RequestRetentionResult) -> None:
    """Delete the flags and review items (with their history) of ``requests``."""
    ids = requests.values("id")
    result.flags += Flag.objects.filter(request_id__in=ids).delete()[1].get("audit.Flag", 0)
    result.review_items += (
        ReviewItem.objects.filter(request_id__in=ids).delete()[1].get("audit.ReviewItem", 0)
    )
