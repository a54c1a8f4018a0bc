"""Template tags shared by every page's layout."""

from typing import Any

from django import template

from usage.ingestion.freshness import ingestion_freshness_get

register = template.Library()


@register.inclusion_tag("_ingestion_freshness.html")
def ingestion_freshness() -> dict[str, Any]:
    """For empty states: "no data yet — ingestion last ran at ..., next at ..." (one query or two)."""
    return {"freshness": ingestion_freshness_get()}
