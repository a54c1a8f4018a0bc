from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import FINANCE, REVIEWER, role_required


@role_required(FINANCE, REVIEWER)
def region_overview(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "latency"})
