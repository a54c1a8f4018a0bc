"""``/metrics``: Prometheus text format, only for ``Authorization: Bearer $PORTAL_METRICS_TOKEN``.

Without the setting the page does not exist (404); a missing or wrong token gets 401. Every value
is read at scrape time: counts from the database (``usage.ingestion.metrics``, ``audit.metrics``),
page and task durations from Redis (``aoai_portal.timings``).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from audit.metrics import ReviewQueueCollector
from usage.ingestion.metrics import IngestionCollector

from .timings import TimingsCollector

_registry = CollectorRegistry(auto_describe=False)
_registry.register(IngestionCollector())
_registry.register(ReviewQueueCollector())
_registry.register(TimingsCollector())


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest: the time taken does not tell how much of the token was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.PORTAL_METRICS_TOKEN
    if not token:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    if not _authorized(request, token):
        response = HttpResponse("Unauthorized", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)
