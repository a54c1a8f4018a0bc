"""Usage accounting: tokens, model and cost of each request (issue: usage accounting)."""

from collections.abc import Collection


def usage_refresh(*, correlation_ids: Collection[str]) -> None:
    """Recompute the usage fields (tokens, model, cost) of the given requests.

    Not implemented yet: owned by the usage-accounting work.
    """
