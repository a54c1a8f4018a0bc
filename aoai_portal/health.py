"""``/healthz``: 200 when the database (and Redis, when configured) answers, 503 otherwise.

The JSON body also says how fresh the data is (seconds behind per Log Analytics table). Stale data
alone does not make the answer 503: restarting the site would not fix a stalled pull (the ingestion
health alerts and ``/metrics`` report it instead).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from usage.ingestion.health import ingestion_lags

_REDIS_TIMEOUT_SECONDS = 2


def _database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure of the database is the answer, not a 500
        return f"error: {type(exc).__name__}"
    return "ok"


def _redis_check() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # connection refused, timeout, auth...
        return f"error: {type(exc).__name__}"
    return "ok"


def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_check(), "redis": _redis_check()}
    healthy = all(state in ("ok", "not configured") for state in checks.values())
    body: dict[str, object] = {"status": "ok" if healthy else "unhealthy", "checks": checks}
    if checks["database"] == "ok":
        lags = ingestion_lags(now=timezone.now())
        body["freshness"] = {
            table: {"lag_seconds": None if lag is None else round(lag, 3)} for table, lag in lags.items()
        }
    return JsonResponse(body, status=200 if healthy else 503)
