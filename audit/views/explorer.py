"""The request explorer page (reviewers and admins): find any request; opening one is the audited
request page (``audit.views.requests``). A value that cannot be used is a 400 with the page and
the reason, never a server error."""

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from aoai_portal.params import ParamError
from aoai_portal.roles import REVIEWER, role_required

from ..explorer import (
    ANY_FLAG,
    STATUS_CLASSES,
    explorer_cursor_parse,
    explorer_filters_parse,
    people_by_object_id,
    requests_explore,
)
from ..selectors import flag_sources_list, flags_by_request

FILTER_NAMES = ("from", "to", "subscription", "person", "deployment", "model", "status", "flag", "correlation_id")


@role_required(REVIEWER)
@never_cache
def explorer(request: HttpRequest) -> HttpResponse:
    sources = flag_sources_list()
    values = {name: request.GET.get(name, "") for name in FILTER_NAMES}
    context: dict[str, Any] = {
        "values": values,
        "status_choices": [("", "Any"), *((key, key) for key in STATUS_CLASSES)],
        "flag_choices": [("", "Any or none"), (ANY_FLAG, "Any flag"), *sources],
        "rows": [],
    }
    try:
        filters = explorer_filters_parse(request.GET, flag_sources={source for source, _ in sources})
        after = explorer_cursor_parse(request.GET.get("after", "").strip())
    except ParamError as error:
        context["error"] = str(error)
        return render(request, "audit/explorer.html", context, status=400)
    page = requests_explore(filters=filters, after=after)
    flags = flags_by_request(request_ids=[row.pk for row in page.rows])
    people = people_by_object_id(object_ids={row.caller_object_id for row in page.rows})
    query = {name: value for name, value in values.items() if value}
    context.update(
        {
            "rows": [
                {"request": row, "flags": flags.get(row.pk, []), "person": people.get(row.caller_object_id)}
                for row in page.rows
            ],
            "filtered": not filters.is_empty() or after is not None,
            "next_url": _url(query, after=page.next_after) if page.next_after else "",
            "first_url": _url(query) if after is not None else "",
        }
    )
    return render(request, "audit/explorer.html", context)


def _url(query: dict[str, str], after: str = "") -> str:
    return reverse("audit:explorer") + "?" + urlencode({**query, **({"after": after} if after else {})})

