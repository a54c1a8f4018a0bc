from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aoai_portal.access_audit import access_audit_entries, access_audit_summary
from aoai_portal.roles import ADMIN, REVIEWER, role_required
from usage.models import CostCenter

from ..forms import AccessLogFilterForm
from ..models import ReviewItem
from ..review_forms import QueueFilterForm
from ..selectors import (
    cost_center_map_get,
    flag_sources_list,
    flags_by_request,
    review_item_neighbour,
    review_items_filter,
    review_items_requests_attach,
    review_oldest_open_time,
    review_queue_count,
    review_status_counts,
)
from ..services.review import REVIEW_ACTIONS, ReviewError, review_bulk_act, review_item_act

QUEUE_PAGE_SIZE = 50


def queue_form(data: QueryDict | None) -> QueueFilterForm:
    """The queue's filter form over ``data`` (a query string's values; None = the default queue)."""
    cost_centers = [(cc.code, str(cc)) for cc in CostCenter.objects.all()]
    return QueueFilterForm(data or None, rules=flag_sources_list(), cost_centers=cost_centers)


def queue_query(request: HttpRequest) -> str:
    """The queue filter a request page or an action came with (``?queue=``, a query string)."""
    return (request.POST.get("queue") or request.GET.get("queue", ""))[:2000]


def item_url(*, correlation_id: str, queue: str) -> str:
    """A request page, remembering the queue filter it was opened from."""
    return reverse("usage:request_detail", args=[correlation_id]) + "?" + urlencode({"queue": queue})


def queue_url(query: str) -> str:
    return reverse("audit:queue") + (f"?{query}" if query else "")


@role_required(REVIEWER)
def queue(request: HttpRequest) -> HttpResponse:
    """Flagged requests, most severe and longest waiting first, with filters in the query string."""
    form = queue_form(request.GET)
    filters = form.filters()
    items = review_items_filter(filters=filters)
    counts = review_status_counts()
    paginator = Paginator(items, QUEUE_PAGE_SIZE)
    known = review_queue_count(filters=filters, status_counts=counts)
    if known is not None:
        paginator.count = known  # a cached property: the status counts said it, no second COUNT
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = review_items_requests_attach(list(page.object_list))
    flags = flags_by_request(request_ids=[item.request_id for item in page.object_list])
    ccs = cost_center_map_get()
    query = request.GET.copy()
    query.pop("page", None)
    rows = [
        {
            "item": item,
            "url": item_url(correlation_id=item.request.correlation_id, queue=query.urlencode()),
            "flags": flags.get(item.request_id, []),
            "cost_center": ccs.of(
                subscription=item.request.apim_subscription_id, product=item.request.product_id
            ),
        }
        for item in page.object_list
    ]
    oldest = review_oldest_open_time()
    return render(
        request,
        "audit/queue.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "counts": counts,
            "oldest_open": oldest,
            "query": query.urlencode(),
            "bulk_actions": [
                ("take", "Take"),
                ("dismiss", "Dismiss"),
                ("confirm", "Confirm"),
                ("escalate", "Escalate"),
            ],
        },
    )


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return HttpResponseRedirect(target or default)


@role_required(REVIEWER)
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    """One action on the items ticked in the queue; each item gets its own review events."""
    ids = [int(value) for value in request.POST.getlist("item") if value.isdigit() and len(value) < 19]
    action = request.POST.get("action", "")
    back = reverse("audit:queue")
    if action not in REVIEW_ACTIONS:
        messages.error(request, "Choose an action.")
        return _back(request, back)
    if not ids:
        messages.error(request, f"Select the items to {action}.")
        return _back(request, back)
    try:
        done, skipped = review_bulk_act(
            item_ids=ids, user=request.user, action=action, note=request.POST.get("note", "")
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
        return _back(request, back)
    messages.success(
        request,
        f"{_PAST[action]} {done} item{'s' if done != 1 else ''}"
        + (f"; {skipped} skipped (already decided or taken by someone else)." if skipped else "."),
    )
    return _back(request, back)


_PAST = {"take": "Took", "dismiss": "Dismissed", "confirm": "Confirmed", "escalate": "Escalated"}


@role_required(REVIEWER)
@require_POST
def item_action(request: HttpRequest, item_id: int) -> HttpResponse:
    """take / dismiss / confirm / escalate one item, then on to the next item of the queue's filter."""
    item = get_object_or_404(ReviewItem.objects.select_related("request"), pk=item_id)
    query = queue_query(request)
    try:
        item = review_item_act(
            item_id=item.pk,
            user=request.user,
            action=request.POST.get("action", ""),
            note=request.POST.get("note", ""),
        )
    except ReviewError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(item_url(correlation_id=item.request.correlation_id, queue=query))
    done = f"{item.request.correlation_id} is now {item.get_status_display().lower()}."
    following = review_item_neighbour(filters=queue_form(QueryDict(query)).filters(), item=item)
    if following is None:
        messages.success(request, f"{done} No more items in this queue.")
        return HttpResponseRedirect(queue_url(query))
    messages.success(request, done)
    return HttpResponseRedirect(item_url(correlation_id=following.request.correlation_id, queue=query))


ACCESS_LOG_PAGE_SIZE = 50


@role_required(ADMIN)
def access_log(request: HttpRequest) -> HttpResponse:
    """Who looked at prompt text (and other audited actions), filterable, newest first. Read-only."""
    form = AccessLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = access_audit_entries(
        username=filters.get("user", ""),
        action=filters.get("action", ""),
        correlation_id=(filters.get("item") or "").strip(),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(entries, ACCESS_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"entry": entry, "summary": access_audit_summary(entry)} for entry in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/access_log.html",
        {"form": form, "page": page, "rows": rows, "query": query.urlencode()},
    )
