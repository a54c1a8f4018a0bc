"""Usage accounting: tokens, model and cost of each request.

* ``parse``: the pure parser of one request (bodies, URL, headers, join partners).
* ``tokens``: offline tiktoken encodings (seeded from the bpe-openai package, sha256 checked).
* ``pricing``: the price in effect, cost, closed months.
* ``price_defaults``: the default prices from genai-prices; ``price_changes``: previews and
  applying a new price; ``ptu``: provisioned commitments shared out by tokens.
* ``services.usage_refresh``: the bulk step ingestion runs after every batch.
"""

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usage.db.loaded import LoadedRequests


def usage_refresh(*, correlation_ids: Collection[str], loaded: "LoadedRequests | None" = None) -> int:
    """Recompute the usage fields (tokens, model, cost) of the given requests."""
    from .services import usage_refresh as refresh  # models load after the app registry

    return refresh(correlation_ids=correlation_ids, loaded=loaded)
