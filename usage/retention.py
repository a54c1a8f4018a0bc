"""Request retention: remove whole months of requests older than ``REQUEST_RETENTION_MONTHS``.

``requests_retention_apply(now=...)`` keeps the current UTC month and the ``REQUEST_RETENTION_MONTHS``
before it; everything older goes, with what hangs off a request in the review app (flags, review
items and their history; the app registers that part: ``request_retention_hook_register``). The
rollups (UsageHourly, UsageDaily, LatencyDaily) stay, so chargeback and latency history outlive the
requests. 0 (the default) keeps requests forever.

* PostgreSQL: each month partition wholly before the cutoff is dropped (DETACH + DROP), after
  deleting its flags and review items (they point at requests without a database constraint) and
  its correlation ids in the key table, in one transaction holding the table lock.
* Rows not in such a partition (SQLite, which has no partitions; PostgreSQL's DEFAULT partition)
  are deleted in batches through the ORM, which cascades to flags and review items.
* Requests whose review item is confirmed or escalated and not released by an admin are kept, as
  text retention keeps their text (docs/review.md): on PostgreSQL they move to the DEFAULT
  partition before their month is dropped, and go on a later run once released.
* Their partner rows go too: native diagnostic rows (``NativeLog``) and LLM-log chunks
  (``LlmLogChunk``) from before the cutoff whose request is no longer stored (or never came),
  deleted in batches by id. Partners of a kept request stay, whatever their own time (a
  request just after the cutoff may have its native row a second before it). Their entries in
  ``UnmatchedRow`` (rows waiting for a partner) go with them.

Audited in the access audit (action ``purge_requests``) whenever something was removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from aoai_portal.access_audit import access_audit_record
from aoai_portal.months import month_add, month_bounds, month_floor
from usage.db.partitions import (
    KEY_TABLE,
    partition_name,
    request_partition_drop,
    request_partitions_list,
    request_table_locked,
)
from usage.ingestion.unmatched import unmatched_rows_purge
from usage.models import GatewayRequest, LlmLogChunk, NativeLog

logger = logging.getLogger(__name__)

BATCH = 500  # requests per delete on the portable path (SQLite's bound-parameter limit)


@dataclass
class RequestRetentionResult:
    cutoff: datetime | None  # requests before this were removed; None: retention is off
    months_dropped: list[date] = field(default_factory=list)  # PostgreSQL partitions dropped
    requests: int = 0
    flags: int = 0
    review_items: int = 0
    held: int = 0  # old requests kept: confirmed / escalated review items not released
    native_logs: int = 0  # partner rows removed with their requests
    llm_log_chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "months_dropped": [f"{month:%Y-%m}" for month in self.months_dropped],
            "requests": self.requests,
            "flags": self.flags,
            "review_items": self.review_items,
            "held": self.held,
            "native_logs": self.native_logs,
            "llm_log_chunks": self.llm_log_chunks,
        }


def requests_retention_cutoff(*, now: datetime, months: int) -> datetime:
    """Start of the oldest month kept: the current UTC month minus ``months``."""
    return month_bounds(month_add(month_floor(now), -months))[0]


def requests_retention_apply(*, now: datetime | None = None) -> RequestRetentionResult:
    """Remove the requests of the months past retention; see the module docstring."""
    months = settings.REQUEST_RETENTION_MONTHS
    if months <= 0:
        return RequestRetentionResult(cutoff=None)
    now = now or timezone.now()
    cutoff = requests_retention_cutoff(now=now, months=months)
    result = RequestRetentionResult(cutoff=cutoff)
    for partition in request_partitions_list():
        if partition.month is not None and month_bounds(partition.month)[1] <= cutoff:
            _partition_purge(partition.month, result)
    _rows_purge(cutoff, result)
    _partners_purge(cutoff, result)
    unmatched_rows_purge(before=cutoff)  # what the ingestion status page counts as waiting
    if result.requests or result.months_dropped or result.native_logs or result.llm_log_chunks:
        access_audit_record(
            request=None,
            action="purge_requests",
            reason="request retention",
            detail={"retention_months": months, **result.as_dict()},
        )
        logger.info("request retention: %s", result.as_dict())
    return result


# What another app keeps and removes with old requests: usage cannot import the review app, which
# registers its part from its ready() (``request_retention_hook_register``).
RetentionHeld = Callable[[QuerySet[GatewayRequest]], QuerySet[GatewayRequest]]
RetentionPurge = Callable[[QuerySet[GatewayRequest], RequestRetentionResult], None]
_hooks: list[tuple[RetentionHeld, RetentionPurge]] = []


def request_retention_hook_register(*, held: RetentionHeld, purge: RetentionPurge) -> None:
    """``held(requests)``: those kept past retention (the review app: confirmed or escalated items
    not released); ``purge(requests, result)``: delete what hangs off them, counted in ``result``."""
    if (held, purge) not in _hooks:
        _hooks.append((held, purge))


def _held(requests: QuerySet[GatewayRequest]) -> QuerySet[GatewayRequest]:
    """Requests a registered app keeps past retention (none if no app registered)."""
    kept = requests.none()
    for held, _ in _hooks:
        kept = kept | held(requests)
    return kept


def _review_purge(requests: QuerySet[GatewayRequest], result: RequestRetentionResult) -> None:
    """Delete what the registered apps hang off ``requests`` (flags, review items)."""
    for _, purge in _hooks:
        purge(requests, result)


def _partition_purge(month: date, result: RequestRetentionResult) -> None:
    name = connection.ops.quote_name(partition_name(month))
    start, end = month_bounds(month)
    # Locked first: no request of the month may arrive between deleting its keys and the drop.
    with request_table_locked() as cursor:
        in_month = GatewayRequest.objects.filter(time__gte=start, time__lt=end)
        held = list(_held(in_month).values_list("id", flat=True))
        _review_purge(in_month.exclude(id__in=held), result)
        cursor.execute(
            f"DELETE FROM {KEY_TABLE} k USING {name} r "
            "WHERE k.correlation_id = r.correlation_id AND k.request_id = r.id AND r.id <> ALL(%s)",
            [held],
        )
        result.requests += cursor.rowcount
        request_partition_drop(month=month, keep_ids=held)  # the held ones move to DEFAULT
    result.months_dropped.append(month)


def _rows_purge(cutoff: datetime, result: RequestRetentionResult) -> None:
    old = GatewayRequest.objects.filter(time__lt=cutoff)
    result.held = _held(old).count()  # PostgreSQL: also those a dropped month moved to DEFAULT
    old = old.exclude(id__in=_held(old).values("id"))
    while ids := list(old.values_list("id", flat=True)[:BATCH]):
        with transaction.atomic():
            batch = GatewayRequest.objects.filter(id__in=ids)
            _review_purge(batch, result)  # explicit, so the counts do not depend on the collector
            result.requests += batch.only("id").delete()[1].get("usage.GatewayRequest", 0)


def _partners_purge(cutoff: datetime, result: RequestRetentionResult) -> None:
    """Delete native rows and LLM-log chunks from before ``cutoff`` whose request is gone."""
    native = NativeLog.objects.filter(time__lt=cutoff).exclude(
        Exists(GatewayRequest.objects.filter(apim_request_id=OuterRef("correlation_id")))
    )
    result.native_logs += _delete_by_id(native)
    chunks = LlmLogChunk.objects.filter(time__lt=cutoff).exclude(
        Exists(GatewayRequest.objects.filter(correlation_id=OuterRef("correlation_id")))
    )
    result.llm_log_chunks += _delete_by_id(chunks)


def _delete_by_id(rows: QuerySet[Any]) -> int:
    """Delete ``rows`` in batches, walking up the ids so kept rows are not read again."""
    deleted, after = 0, 0
    while ids := list(rows.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:BATCH]):
        after = ids[-1]
        deleted += rows.model.objects.filter(id__in=ids).delete()[0]
    return deleted
