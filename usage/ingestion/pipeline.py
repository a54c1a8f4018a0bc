"""What happens to requests when their rows (or their join partners' rows) are stored.

Ingestion hands new gateway rows to ``requests_write`` (written once, with their usage and cost)
and calls ``requests_refresh`` with the APIM correlation ids whose partner rows a batch stored.
Each step is idempotent, so re-running a batch or a whole window changes nothing.
"""

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING

from usage.db.json import json_shared
from usage.db.loaded import LoadedRequests
from usage.rollups.delta import RollupDelta, month_tokens_stored, native_durations_get, rollup_add
from usage.rollups.hourly import rollup_refresh_hours

from .hooks import request_hooks_run

if TYPE_CHECKING:
    from usage.models import GatewayRequest

# Requests loaded (whole rows, bodies included) and refreshed together: bounds memory per batch.
CHUNK = 1000


def requests_refresh(*, correlation_ids: Collection[str], flags: bool = True) -> None:
    """Recompute usage, cost, flags and the hourly rollups of the given requests.

    Each chunk of requests is loaded once for both ``usage_refresh`` and the request hooks (the
    review app's ``flags_evaluate``, ``usage.ingestion.hooks``), and their bodies decoded once
    (``json_shared``). ``flags=False`` when only native (AzureDiagnostics) rows changed: flags
    read the bodies, the LLM-log chunks, the subscription and product and the content-filter
    results parsed from the response body, never the native row, so re-evaluating them would find
    what the gateway row's refresh found.
    """
    ids = list(dict.fromkeys(c for c in correlation_ids if c))
    if not ids:
        return
    from usage.accounting import usage_refresh

    hours: set[datetime] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        loaded = LoadedRequests.load(chunk)
        with json_shared():
            usage_refresh(correlation_ids=chunk, loaded=loaded)
            if flags:
                request_hooks_run(correlation_ids=chunk, loaded=loaded)
        hours.update(row.time for row in loaded.rows)
    rollup_refresh_hours(hours=hours)


def requests_write(
    *,
    rows: Iterable["GatewayRequest"],
    write: Callable[[list["GatewayRequest"]], list["GatewayRequest"]],
) -> list[str]:
    """Write new requests with their usage and cost, then flag them and add them to the rollups.

    What storing them and then ``requests_refresh`` would give, without reading every new row back
    and updating it: usage and cost are computed on the instances (``usage_prepare``) and written
    with them by ``write`` (a COPY or a bulk insert), which returns the rows it wrote, their
    primary keys set. ``rows`` is consumed a chunk at a time (an iterator keeps only one chunk of
    instances alive). The rollups get the written rows' sums (``RollupDelta``, ``rollup_add``)
    instead of a recompute of their hours from the request table. Returns the correlation ids
    written.
    """
    from usage.accounting.services import usage_prepare, usage_price_written

    written_ids: list[str] = []
    added = RollupDelta()
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        loaded = LoadedRequests.partnered(chunk)
        with json_shared():
            unpriced = usage_prepare(rows=loaded.rows, chunks=loaded.chunks)
            written = write(loaded.rows)
            if len(written) != len(loaded.rows):  # some refused by the database (row by row)
                loaded = LoadedRequests(rows=written, chunks=loaded.chunks)
            ids = [row.correlation_id for row in written]
            if unpriced:  # PTU: priced once their tokens are stored
                month_tokens = partial(month_tokens_stored, added=added, writing=written)
                usage_price_written(unpriced=unpriced, written=set(ids), month_tokens=month_tokens)
            request_hooks_run(correlation_ids=ids, loaded=loaded)
        written_ids.extend(ids)
        added.add(written, native_durations_get(written))
    rollup_add(added)
    return written_ids
