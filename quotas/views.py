from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import FINANCE, role_required


@role_required(FINANCE)
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Quotas"})
