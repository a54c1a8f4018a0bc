"""The request detail page: one gateway request joined with its native log and LLM-log chunks.

Every open writes an access audit record; revealing masked secrets is a POST with a reason,
audited as well. Reviewers (and admins) only: it shows prompt text.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from aoai_portal.access_audit import access_audit_record
from aoai_portal.roles import REVIEWER, role_required
from usage.models import GatewayRequest

from ..detail import request_detail_build
from ..models import AccessAuditEntry
from ..review_forms import NoteForm, RevealForm


@role_required(REVIEWER)
@require_http_methods(["GET", "POST"])
@never_cache
def request_detail(request: HttpRequest, correlation_id: str) -> HttpResponse:
    record = get_object_or_404(GatewayRequest, correlation_id=correlation_id)
    reveal = False
    reveal_form = RevealForm()
    if request.method == "POST":
        reveal_form = RevealForm(request.POST)
        if reveal_form.is_valid():
            access_audit_record(
                request=request,
                action=AccessAuditEntry.Action.REVEAL_SECRET,
                correlation_id=record.correlation_id,
                reason=reveal_form.cleaned_data["reason"],
            )
            reveal = True
        else:
            messages.error(request, "Give a reason (at least 5 characters) to reveal masked text.")
    access_audit_record(
        request=request,
        action=AccessAuditEntry.Action.VIEW_PROMPT,
        correlation_id=record.correlation_id,
        detail={"revealed": reveal},
    )
    context = request_detail_build(request=record, reveal=reveal)
    context.update({"reveal_form": reveal_form, "note_form": NoteForm(), "ingest_notes": _ingest_notes(context)})
    status = 400 if reveal_form.is_bound and not reveal else 200
    return render(request, "audit/request_detail.html", context, status=status)


def _ingest_notes(context: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, note) of each value the import left empty, gateway row first (``ingest_notes``)."""
    rows = [("Gateway log", context["record"]), ("Azure OpenAI log", context["native"])]
    rows += [(f"LLM log #{chunk.sequence_number}", chunk) for chunk in context["chunks"]]
    return [(source, row.ingest_notes) for source, row in rows if row is not None and row.ingest_notes]
