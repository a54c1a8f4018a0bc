"""What happens to requests after their rows (or their join partners' rows) were stored.

Ingestion calls ``requests_refresh`` with the APIM correlation ids a batch touched; each step is
idempotent, so re-running a batch or a whole window changes nothing.
"""

from collections.abc import Collection

from .json_memo import json_shared
from .loaded import LoadedRequests
from .rollups import rollup_refresh_hours

# Requests loaded (whole rows, bodies included) and refreshed together: bounds memory per batch.
CHUNK = 1000


def requests_refresh(*, correlation_ids: Collection[str], flags: bool = True) -> None:
    """Recompute usage, cost, flags and the hourly rollups of the given requests.

    Each chunk of requests is loaded once for both ``usage_refresh`` and ``flags_evaluate``, and
    their bodies decoded once (``json_shared``). ``flags=False`` when only native
    (AzureDiagnostics) rows changed: flags read the bodies, the LLM-log chunks, the subscription
    and product and the content-filter results parsed from the response body, never the native
    row, so re-evaluating them would find what the gateway row's refresh found.
    """
    ids = list(dict.fromkeys(c for c in correlation_ids if c))
    if not ids:
        return
    from audit.services import flags_evaluate  # audit depends on usage, not the reverse

    from .accounting import usage_refresh

    hours = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        loaded = LoadedRequests.load(chunk)
        with json_shared():
            usage_refresh(correlation_ids=chunk, loaded=loaded)
            if flags:
                flags_evaluate(correlation_ids=chunk, loaded=loaded)
        hours.update(row.time for row in loaded.rows)
    rollup_refresh_hours(hours=hours)
