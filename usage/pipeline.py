"""What happens to requests after their rows (or their join partners' rows) were stored.

Ingestion calls ``requests_refresh`` with the APIM correlation ids a batch touched; each step is
idempotent, so re-running a batch or a whole window changes nothing.
"""

from collections.abc import Collection

from .models import GatewayRequest
from .rollups import rollup_refresh_hours


def requests_refresh(*, correlation_ids: Collection[str]) -> None:
    """Recompute usage, cost, flags and the hourly rollups of the given requests."""
    if not correlation_ids:
        return
    from audit.services import flags_evaluate  # audit depends on usage, not the reverse

    from .accounting import usage_refresh

    ids = list(correlation_ids)
    usage_refresh(correlation_ids=ids)
    flags_evaluate(correlation_ids=ids)
    hours = set()
    for start in range(0, len(ids), 900):
        hours.update(
            GatewayRequest.objects.filter(correlation_id__in=ids[start : start + 900]).values_list(
                "time", flat=True
            )
        )
    rollup_refresh_hours(hours=hours)
