from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import ADMIN, role_required


@role_required(ADMIN)
def ingestion_status(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "ingestion"})
