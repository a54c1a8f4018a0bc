"""Flag rules and access audit (issues: prompt review, sign-in)."""

from collections.abc import Collection


def flags_evaluate(*, correlation_ids: Collection[str]) -> None:
    """Run the flag rules over the given requests. Not implemented yet: owned by prompt review."""
