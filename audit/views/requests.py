"""The request detail page: one gateway request joined with its native log and LLM-log chunks.

Every open writes an access audit record; revealing masked secrets is a POST with a reason,
audited as well. Reviewers (and admins) only: it shows prompt text.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from aoai_portal.access_audit import access_audit_record
from aoai_portal.roles import REVIEWER, role_required
from usage.models import GatewayRequest

from ..detail import request_detail_build
from ..models import AccessAuditEntry, ReviewItem
from ..review_forms import NoteForm, RevealForm
from ..selectors import review_item_neighbour, review_items_requests_attach
from .review import item_url, queue_form, queue_query, queue_url


@role_required(REVIEWER)
@require_http_methods(["GET", "POST"])
@never_cache
def request_detail(request: HttpRequest, correlation_id: str) -> HttpResponse:
    record = get_object_or_404(GatewayRequest, correlation_id=correlation_id)
    reveal_form = RevealForm(request.POST) if request.method == "POST" else RevealForm()
    context = request_detail_build(request=record, reveal=reveal_form.is_bound and reveal_form.is_valid())
    if reveal_form.is_bound and not reveal_form.is_valid():
        messages.error(request, "Give a reason (at least 5 characters) to reveal masked text.")
    elif reveal_form.is_bound and not context["masked_count"]:
        # Nothing is masked: there is nothing to reveal, and no reveal to put in the audit.
        messages.error(request, "Nothing is masked on this request.")
        context["revealed"] = False
    elif reveal_form.is_bound:
        access_audit_record(
            request=request,
            action=AccessAuditEntry.Action.REVEAL_SECRET,
            correlation_id=record.correlation_id,
            reason=reveal_form.cleaned_data["reason"],
        )
    access_audit_record(
        request=request,
        action=AccessAuditEntry.Action.VIEW_PROMPT,
        correlation_id=record.correlation_id,
        detail={"revealed": context["revealed"]},
    )
    query = queue_query(request)
    context.update(
        {
            "reveal_form": reveal_form,
            "note_form": NoteForm(),
            "ingest_notes": _ingest_notes(context),
            "queue": query,
            "queue_url": queue_url(query),
            **_neighbours(context["item"], query),
        }
    )
    status = 400 if reveal_form.is_bound and not context["revealed"] else 200
    return render(request, "audit/request_detail.html", context, status=status)


def _neighbours(item: ReviewItem | None, query: str) -> dict[str, str]:
    """Links to the previous and next item of the queue this page was opened from."""
    if item is None:
        return {}
    filters = queue_form(QueryDict(query)).filters()
    links = {}
    for name, previous in (("previous_url", True), ("next_url", False)):
        neighbour = review_item_neighbour(filters=filters, item=item, previous=previous)
        for found in review_items_requests_attach([neighbour] if neighbour else []):
            links[name] = item_url(correlation_id=found.request.correlation_id, queue=query)
    return links


def _ingest_notes(context: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, note) of each value the import left empty, gateway row first (``ingest_notes``)."""
    rows = [("Gateway log", context["record"]), ("Azure OpenAI log", context["native"])]
    rows += [(f"LLM log #{chunk.sequence_number}", chunk) for chunk in context["chunks"]]
    return [(source, row.ingest_notes) for source, row in rows if row is not None and row.ingest_notes]
