"""Refusing NUL characters at the door; timing every request.

PostgreSQL cannot store or compare text holding NUL (0x00), so a ``%00`` anywhere in a path, a
query string or a submitted form would reach the database and fail there as a 500. No value of
this site ever holds one: the request is refused with a 400 before any view runs.
"""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

from .timings import PAGE_SECONDS, UNRESOLVED, timing_record

MESSAGE = "The request contains a NUL character (%00), which no address or value of this site can hold."


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _holds_nul(data: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())


def request_holds_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path_info or _holds_nul(request.GET):
        return True
    # Forms only (the API's JSON bodies are read by its schemas). CsrfViewMiddleware reads
    # request.POST of every form anyway, so parsing it here changes nothing for the views.
    return request.method == "POST" and request.content_type in _FORMS and _holds_nul(request.POST)


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request_holds_nul(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponse(MESSAGE, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class ResponseTimeMiddleware:
    """Times every request into ``aoai_page_response_seconds{view}`` (``aoai_portal.timings``).

    Outermost, so the time includes the other middleware. The label is the URL pattern's name
    (``usage:chargeback``), never the path: paths carry ids and months without bound.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or UNRESOLVED) if match is not None else UNRESOLVED
        timing_record(histogram=PAGE_SECONDS, labels=(view,), seconds=time.perf_counter() - started)
        return response
