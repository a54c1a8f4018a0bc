"""Flag evaluation: rules and detectors run over stored requests.

``flags_evaluate`` runs after every ingestion batch (usage.ingestion.pipeline, through the hook
``AuditConfig.ready`` registers) and from the re-evaluate command and admin action. It is
idempotent: the flags of a request are brought to what the current rules and detectors find (new
ones created, changed ones updated, stale ones removed), so re-running it changes nothing and
re-running it after a rule change applies the change.
"""

import logging
from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from usage.db.loaded import LoadedRequests
from usage.models import GatewayRequest, LlmLogChunk

from ..conversation import Conversation, conversation_extract
from ..detectors import (
    AZURE_DETECTOR,
    Span,
    azure_attacks_find,
    azure_verdicts_find,
    text_detectors_enabled,
    text_traits,
    verdict_severity,
)
from ..models import Flag, FlagRule, ReviewItem
from ..rules import RuleTimeout, rule_spans_find
from ..selectors import CostCenterMap, cost_center_map_get, reevaluation_requests
from ..shields import ShieldsConfig
from .flag_data import EvaluateStats, FlagData
from .flag_optional import CLASSIFIER_SOURCE, SHIELDS_SOURCE, classifier_apply, shields_apply

log = logging.getLogger(__name__)
BATCH = 1000


def request_conversation(
    *, request: GatewayRequest, chunks: Iterable[LlmLogChunk] | None = None
) -> Conversation:
    """The conversation of a stored request (bodies first, LLM-log chunks when bodies are cut)."""
    if chunks is None:
        chunks = LlmLogChunk.objects.filter(correlation_id=request.correlation_id)
    ordered = sorted(chunks, key=lambda c: (c.sequence_number, c.request_id))
    return conversation_extract(
        request_body=request.request_body,
        response_body=request.response_body,
        llm_request_messages=[c.request_messages for c in ordered],
        llm_response_messages=[c.response_messages for c in ordered],
    )


def _span_dict(part: str, index: int, span: Span) -> dict:
    return {"part": part, "message": index, "start": span.start, "end": span.end, "label": span.label}


def _rule_applies(
    rule: FlagRule, rule_cost_centers: set[int], request: GatewayRequest, ccs: CostCenterMap
) -> bool:
    if not rule.subscriptions and not rule_cost_centers:
        return True
    if request.apim_subscription_id in rule.subscriptions:
        return True
    cost_center = ccs.of(subscription=request.apim_subscription_id, product=request.product_id)
    return cost_center is not None and cost_center.pk in rule_cost_centers


def request_flags_find(
    *,
    request: GatewayRequest,
    conversation: Conversation,
    rules: list[tuple[FlagRule, set[int]]],
    cost_centers: CostCenterMap,
    stats: EvaluateStats | None = None,
) -> list[FlagData]:
    """What the enabled detectors and the applicable rules find in one request."""
    found: dict[str, FlagData] = {}
    parts = (("prompt", conversation.messages), ("completion", conversation.completion))
    # Each message's traits once for all detectors; a detector runs where they say it may find.
    texts = [
        (part, index, message.text, text_traits(message.text))
        for part, messages in parts
        for index, message in enumerate(messages)
    ]
    for detector in text_detectors_enabled():
        spans = [
            _span_dict(part, index, span)
            for part, index, text, traits in texts
            if detector.may_find(traits)
            for span in detector.find(text)
        ]
        if spans:
            source = f"detector:{detector.name}"
            found[source] = FlagData(source, detector.name, detector.severity, spans, {})
    for rule, rule_cost_centers in rules:
        if not _rule_applies(rule, rule_cost_centers, request, cost_centers):
            continue
        spans = []
        try:
            for part, messages in parts:
                if rule.scope not in (part, FlagRule.Scope.BOTH):
                    continue
                for index, message in enumerate(messages):
                    for span in rule_spans_find(
                        kind=rule.kind,
                        pattern=rule.pattern,
                        case_sensitive=rule.case_sensitive,
                        text=message.text,
                        label=rule.name,
                    ):
                        spans.append(_span_dict(part, index, span))
        except RuleTimeout:
            log.warning("flag rule %s timed out on request %s", rule.name, request.correlation_id)
            if stats is not None:
                stats.rule_timeouts.append(f"{rule.name}:{request.correlation_id}")
            continue
        if spans:
            found[rule.source] = FlagData(rule.source, rule.name, rule.severity, spans, {}, rule.pk)
    if AZURE_DETECTOR not in settings.REVIEW_DISABLED_DETECTORS:
        verdicts = azure_verdicts_find(
            content_filter=request.content_filter, response_body=request.response_body
        )
        severity = verdict_severity(verdicts)
        if severity:
            source = f"detector:{AZURE_DETECTOR}"
            detail = _json_safe({"hits": verdicts.hits, "refusal": verdicts.refusal})
            found[source] = FlagData(source, AZURE_DETECTOR, severity, [], detail)
        # Prompt Shields' annotations in the filter results: a flag of their own per attack kind too.
        for name, hits in azure_attacks_find(verdicts).items():
            if name not in settings.REVIEW_DISABLED_DETECTORS:
                source = f"detector:{name}"
                found[source] = FlagData(source, name, 3, [], _json_safe({"hits": hits}))
    return list(found.values())


def _json_safe(value):
    """PostgreSQL JSON cannot hold NUL characters nor lone surrogates; logged bodies can escape both."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", errors="replace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {_json_safe(str(k)): _json_safe(v) for k, v in value.items()}
    return value


def _rules_load() -> list[tuple[FlagRule, set[int]]]:
    rules = FlagRule.objects.filter(enabled=True).prefetch_related("cost_centers")
    return [(rule, {cc.pk for cc in rule.cost_centers.all()}) for rule in rules]


def flags_evaluate(
    *, correlation_ids: Collection[str], loaded: LoadedRequests | None = None
) -> EvaluateStats:
    """Bring the flags and review items of the given requests in line with rules and detectors.

    Requests whose text was purged keep the flags they had (there is nothing left to re-check).
    ``loaded``: these requests already loaded by the caller (``requests_refresh``, after
    ``usage_refresh`` updated them), instead of loading them again.
    """
    stats = EvaluateStats()
    ids = sorted(set(correlation_ids))
    if not ids:
        return stats
    rules = _rules_load()
    cost_centers = cost_center_map_get()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        if loaded is None:
            batch_loaded = LoadedRequests.load(batch)
        else:
            wanted = set(batch)
            batch_loaded = LoadedRequests(
                rows=[r for r in loaded.rows if r.correlation_id in wanted], chunks=loaded.chunks
            )
        stats.add(_flags_evaluate_batch(batch_loaded, rules, cost_centers))
    return stats


_REVIEW_ITEM_REQUEST_FIELDS = ("request_time", "apim_subscription_id", "product_id")


def _review_item_request_fields(request: GatewayRequest) -> dict:
    """The request's columns the queue filters and sorts on, copied onto its review item."""
    return {
        "request_time": request.time,
        "apim_subscription_id": request.apim_subscription_id,
        "product_id": request.product_id,
    }


def _flags_evaluate_batch(
    loaded: LoadedRequests, rules: list[tuple[FlagRule, set[int]]], cost_centers: CostCenterMap
) -> EvaluateStats:
    stats = EvaluateStats()
    requests = loaded.rows
    chunks = loaded.chunks
    wanted: dict[int, list[FlagData]] = {}
    conversations: dict[int, Conversation] = {}
    for request in requests:
        if request.bodies_purged_at is not None:
            stats.skipped_purged += 1
            continue
        stats.requests += 1
        try:
            conversation = request_conversation(
                request=request, chunks=chunks.get(request.correlation_id, [])
            )
            conversations[request.pk] = conversation
            wanted[request.pk] = request_flags_find(
                request=request,
                conversation=conversation,
                rules=rules,
                cost_centers=cost_centers,
                stats=stats,
            )
        except Exception:  # noqa: BLE001 - one unreadable request must not stop the batch
            log.exception("flag evaluation failed for request %s", request.correlation_id)
            stats.errors.append(request.correlation_id)
    if not wanted:
        return stats
    # Requests Prompt Shields could not check keep the verdict they had.
    unchecked: set[int] = set()
    shields = ShieldsConfig.from_settings()
    if shields is not None:
        unchecked = shields_apply(wanted=wanted, conversations=conversations, config=shields, stats=stats)
    unscored = classifier_apply(wanted=wanted, conversations=conversations, stats=stats)
    request_ids = list(wanted)
    with transaction.atomic():
        existing = {(f.request_id, f.source): f for f in Flag.objects.filter(request_id__any=request_ids)}
        to_create, to_update, keep = [], [], set()
        for request_id, flags in wanted.items():
            for data in flags:
                key = (request_id, data.source)
                keep.add(key)
                flag = existing.get(key)
                if flag is None:
                    to_create.append(
                        Flag(
                            request_id=request_id,
                            rule_id=data.rule_id,
                            source=data.source,
                            name=data.name,
                            severity=data.severity,
                            spans=data.spans,
                            detail=data.detail,
                        )
                    )
                elif (flag.name, flag.severity, flag.spans, flag.detail) != (
                    data.name,
                    data.severity,
                    data.spans,
                    data.detail,
                ):
                    flag.name, flag.severity, flag.spans, flag.detail = (
                        data.name,
                        data.severity,
                        data.spans,
                        data.detail,
                    )
                    flag.updated_at = timezone.now()
                    to_update.append(flag)
        keep.update((request_id, SHIELDS_SOURCE) for request_id in unchecked)
        keep.update((request_id, CLASSIFIER_SOURCE) for request_id in unscored)
        stale = [f.pk for key, f in existing.items() if key not in keep]
        # ignore_conflicts: a concurrent batch over the same request may have just created it.
        Flag.objects.bulk_create(to_create, ignore_conflicts=True)
        Flag.objects.bulk_update(to_update, ["name", "severity", "spans", "detail", "updated_at"])
        Flag.objects.filter(pk__any=stale).delete()
        stats.flags_created, stats.flags_updated, stats.flags_deleted = (
            len(to_create),
            len(to_update),
            len(stale),
        )

        worst = {rid: max(f.severity for f in flags) for rid, flags in wanted.items() if flags}
        by_id = {request.pk: request for request in requests}
        items = {item.request_id: item for item in ReviewItem.objects.filter(request_id__any=request_ids)}
        new_items = [
            ReviewItem(request_id=rid, severity=sev, **_review_item_request_fields(by_id[rid]))
            for rid, sev in worst.items()
            if rid not in items
        ]
        ReviewItem.objects.bulk_create(new_items, ignore_conflicts=True)
        stats.items_created = len(new_items)
        changed = []
        for rid, item in items.items():
            if rid not in worst:
                continue
            wanted_fields = {"severity": worst[rid], **_review_item_request_fields(by_id[rid])}
            if any(getattr(item, name) != value for name, value in wanted_fields.items()):
                for name, value in wanted_fields.items():
                    setattr(item, name, value)
                changed.append(item)
        ReviewItem.objects.bulk_update(changed, ["severity", *_REVIEW_ITEM_REQUEST_FIELDS])
        # Nothing matches any more and nobody has touched it: it leaves the queue. Worked items stay.
        gone = [
            item.pk
            for rid, item in items.items()
            if rid not in worst and item.status == ReviewItem.Status.OPEN and item.assignee_id is None
        ]
        stats.items_deleted = (
            ReviewItem.objects.filter(pk__any=gone, events__isnull=True)
            .delete()[1]
            .get("audit.ReviewItem", 0)
        )
    return stats


def flags_reevaluate_range(
    *, since: datetime, until: datetime, progress: Callable[[int], object] | None = None
) -> EvaluateStats:
    """Re-run rules and detectors over the requests of ``[since, until)`` (after a rule change).

    ``progress`` is told how many requests each batch held (a progress bar's step), after it is done.
    """
    stats = EvaluateStats()
    ids = reevaluation_requests(since=since, until=until).values_list("correlation_id", flat=True)
    batch: list[str] = []
    for correlation_id in ids.iterator(chunk_size=BATCH):
        batch.append(correlation_id)
        if len(batch) >= BATCH:
            stats.add(flags_evaluate(correlation_ids=batch))
            if progress is not None:
                progress(len(batch))
            batch = []
    stats.add(flags_evaluate(correlation_ids=batch))
    if progress is not None and batch:
        progress(len(batch))
    return stats
