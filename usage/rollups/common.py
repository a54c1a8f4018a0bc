"""What the rollup modules share: the UsageHourly dimensions, the hour and the lock that
serialises refreshes (status classes: ``usage.models.requests.status_class``)."""

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


def rollup_lock() -> None:
    """Serialise rollup refreshes (until the transaction ends) and set the transaction up for them.

    The rollups' GROUP BYs over grouped JSON are estimated far above ``jit_above_cost``, and JIT
    compiling them took longer than running them: it is off for the transaction. Their sorts get
    more memory than the default 4 MB (one refresh runs at a time, for at most a few days of hours).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s), set_config('jit', 'off', true), "
                "set_config('work_mem', '64MB', true)",
                [_ADVISORY_LOCK_KEY],
            )
