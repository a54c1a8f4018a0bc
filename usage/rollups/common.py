"""What the rollup modules share: the UsageHourly dimensions, status classes and the lock that
serialises refreshes."""

from datetime import UTC, datetime

from django.db import connection

DIMENSIONS = (
    "apim_subscription_id",
    "product_id",
    "deployment",
    "model",
    "backend_region",
    "apim_region",
    "is_streaming",
)
# Operations whose completion tokens per backend second measure generation speed.
TPS_OPERATIONS = ("chat", "completion", "responses")
_ADVISORY_LOCK_KEY = 0x5A6E_1A7E  # arbitrary constant: "usage rollup"


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def status_class(response_code: int | None) -> str:
    code = response_code or 0
    if code == 429:
        return "429"
    if code >= 500:
        return "5xx"
    if code >= 400:
        return "4xx"
    if code >= 200:
        return "2xx"
    return "unknown"


def rollup_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
