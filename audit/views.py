from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aoai_portal.roles import ADMIN, REVIEWER, role_required


@role_required(REVIEWER)
def queue(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Review queue"})


@role_required(ADMIN)
def access_log(request: HttpRequest) -> HttpResponse:
    return render(request, "placeholder.html", {"title": "Access audit"})
