from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import ADMIN, REVIEWER, role_required

from .access import access_audit_entries
from .forms import AccessLogFilterForm


@role_required(REVIEWER)
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Review queue"})


ACCESS_LOG_PAGE_SIZE = 50


@role_required(ADMIN)
def access_log(request: HttpRequest) -> HttpResponse:
    """Who looked at prompt text (and other audited actions), filterable, newest first. Read-only."""
    form = AccessLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = access_audit_entries(
        username=filters.get("user", ""),
        action=filters.get("action", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(entries, ACCESS_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/access_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )
