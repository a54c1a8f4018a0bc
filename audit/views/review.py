from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aoai_portal.access_audit import access_audit_entries
from aoai_portal.roles import ADMIN, REVIEWER, role_required
from usage.models import CostCenter

from ..forms import AccessLogFilterForm
from ..models import ReviewItem
from ..review_forms import QueueFilterForm
from ..selectors import (
    cost_center_map_get,
    flag_sources_list,
    flags_by_request,
    review_items_filter,
    review_items_requests_attach,
    review_oldest_open_time,
    review_status_counts,
)
from ..services.review import (
    ReviewError,
    review_bulk_dismiss,
    review_confirm,
    review_dismiss,
    review_escalate,
    review_take,
)

QUEUE_PAGE_SIZE = 50


@role_required(REVIEWER)
def queue(request: HttpRequest) -> HttpResponse:
    """Flagged requests, newest or most severe first, with filters in the query string."""
    cost_centers = [(cc.code, str(cc)) for cc in CostCenter.objects.all()]
    form = QueueFilterForm(request.GET or None, rules=flag_sources_list(), cost_centers=cost_centers)
    items = review_items_filter(filters=form.filters())
    page = Paginator(items, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = review_items_requests_attach(list(page.object_list))
    flags = flags_by_request(request_ids=[item.request_id for item in page.object_list])
    ccs = cost_center_map_get()
    rows = [
        {
            "item": item,
            "flags": flags.get(item.request_id, []),
            "cost_center": ccs.of(
                subscription=item.request.apim_subscription_id, product=item.request.product_id
            ),
        }
        for item in page.object_list
    ]
    oldest = review_oldest_open_time()
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/queue.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "counts": review_status_counts(),
            "oldest_open": oldest,
            "oldest_open_age": timezone.now() - oldest if oldest else None,
            "query": query.urlencode(),
        },
    )


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return HttpResponseRedirect(target or default)


@role_required(REVIEWER)
@require_POST
def bulk_dismiss(request: HttpRequest) -> HttpResponse:
    ids = [int(value) for value in request.POST.getlist("item") if value.isdigit()]
    queue_url = reverse("audit:queue")
    if not ids:
        messages.error(request, "Select the items to dismiss.")
        return _back(request, queue_url)
    try:
        count = review_bulk_dismiss(item_ids=ids, user=request.user, note=request.POST.get("note", ""))
    except ReviewError as exc:
        messages.error(request, str(exc))
        return _back(request, queue_url)
    skipped = len(ids) - count
    messages.success(
        request,
        f"Dismissed {count} item{'s' if count != 1 else ''}"
        + (f"; {skipped} skipped (not open or taken by someone else)." if skipped else "."),
    )
    return _back(request, queue_url)


_ACTIONS = {
    "take": lambda item_id, user, note: review_take(item_id=item_id, user=user),
    "dismiss": lambda item_id, user, note: review_dismiss(item_id=item_id, user=user, note=note),
    "confirm": lambda item_id, user, note: review_confirm(item_id=item_id, user=user, note=note),
    "escalate": lambda item_id, user, note: review_escalate(item_id=item_id, user=user, note=note),
}


@role_required(REVIEWER)
@require_POST
def item_action(request: HttpRequest, item_id: int) -> HttpResponse:
    """take / dismiss / confirm / escalate one item (from the request detail page)."""
    item = get_object_or_404(ReviewItem.objects.select_related("request"), pk=item_id)
    detail_url = reverse("usage:request_detail", args=[item.request.correlation_id])
    action = _ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Unknown action.")
        return HttpResponseRedirect(detail_url)
    try:
        item = action(item.pk, request.user, request.POST.get("note", ""))
    except ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Item is now {item.get_status_display().lower()}.")
    return HttpResponseRedirect(detail_url)


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
