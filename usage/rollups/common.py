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
# Arbitrary constants: "usage rollup" (the hourly side: UsageHourly, UsageDaily,
# TokensPerMinuteHourly, LatencyOperationDaily) and the latency rollups built from UsageHourly.
_HOURLY_LOCK_KEY = 0x5A6E_1A7E
_LATENCY_LOCK_KEY = 0x5A6E_1A7F


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_lock(*, hourly: bool = True, latency: bool = True) -> None:
    """Serialise rollup refreshes (until the transaction ends) and set the transaction up for them.

    Two locks, always taken in this order: the hourly side (UsageHourly and the rollups kept with
    it in the same transaction) and the latency rollups read from UsageHourly. Every refresh takes
    both, except the two halves of a refresh whose latency rollups are rebuilt alongside in a
    second thread (``latency_alongside``): one takes the hourly lock, the other the latency lock.

    The rollups' GROUP BYs over grouped JSON are estimated far above ``jit_above_cost``, and JIT
    compiling them took longer than running them: it is off for the transaction. Their sorts get
    more memory than the default 4 MB (one refresh runs at a time, for at most a few days of hours).
    """
    if connection.vendor != "postgresql":
        return
    keys = [key for key, wanted in ((_HOURLY_LOCK_KEY, hourly), (_LATENCY_LOCK_KEY, latency)) if wanted]
    locks = ", ".join("pg_advisory_xact_lock(%s)" for _ in keys)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {locks}, set_config('jit', 'off', true), set_config('work_mem', '64MB', true)", keys
        )
