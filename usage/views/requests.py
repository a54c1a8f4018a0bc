from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from aoai_portal.roles import REVIEWER, role_required

from ..models import GatewayRequest


@role_required(REVIEWER)
def request_detail(request: HttpRequest, correlation_id: str) -> HttpResponse:
    record = get_object_or_404(GatewayRequest, correlation_id=correlation_id)
    return render(request, "placeholder.html", {"title": f"Request {record.correlation_id}"})
