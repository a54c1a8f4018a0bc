"""Records the portal does not read: skipped and counted per category, not rejected.

A Storage account or Event Hub that receives diagnostic settings gets every category the setting
sends (``Audit``, ``Trace``, APIM's ``WebSocketConnectionLogs``...), and a Log Analytics export
can hold rows of other tables, or AzureDiagnostics rows of other categories and other resource
providers. Such records are normal, not errors: they are counted as *skipped*, per category
(``StoreResult.skipped_categories``, ``IngestionRun.skipped_categories``), and kept nowhere, so
that ``RejectedRow`` holds only rows that something is wrong with.

The category of a skipped record is its ``category`` (diagnostic records), its Log Analytics
table (``Type``), or for AzureDiagnostics its ``Category`` (prefixed by the resource provider
when that is not Azure OpenAI's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .tables import CATEGORY_TABLES, TABLES

_NATIVE_PROVIDER = "microsoft.cognitiveservices"
_NATIVE_CATEGORY = "requestresponse"
_TABLE_NAMES = {table.lower() for table in TABLES}
_CATEGORY_MAX = 128


@dataclass(frozen=True)
class Skipped:
    """A record of a category (or table) the portal does not read."""

    category: str


def _cell(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in row.items() if isinstance(k, str) and k.lower() == lower), None)
    return value.strip() if isinstance(value, str) else ""


def _label(text: str) -> str:
    return text[:_CATEGORY_MAX]


def diagnostic_record_skipped(record: Mapping[str, Any]) -> Skipped | None:
    """A diagnostic-settings record whose (non-empty) ``category`` names no table we read."""
    category = _cell(record, "category")
    if category and category.lower() not in CATEGORY_TABLES:
        return Skipped(_label(category))
    return None


def la_row_skipped(row: Mapping[str, Any]) -> Skipped | None:
    """A Log Analytics row whose ``Type`` (or ``$table``) names a table we do not read."""
    for name in ("Type", "$table"):
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            if value.strip().lower() in _TABLE_NAMES:
                return None
            return Skipped(_label(value.strip()))
    return None


def native_row_skipped(row: Mapping[str, Any]) -> Skipped | None:
    """An AzureDiagnostics row of another category than RequestResponse or of another resource
    provider than Azure OpenAI's (Cognitive Services)."""
    if not isinstance(row, Mapping):
        return None
    category = _cell(row, "Category")
    provider = _cell(row, "ResourceProvider")
    other_provider = bool(provider) and provider.lower() != _NATIVE_PROVIDER
    if other_provider:
        return Skipped(_label(f"{provider} {category}".strip()))
    if category and category.lower() != _NATIVE_CATEGORY:
        return Skipped(_label(category))
    return None
