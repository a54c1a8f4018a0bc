"""Values no database stores, found when one refused a batch (``store.py``).

Looking for lone surrogates costs a scan of every body; the parsers (``rows.py``) leave that to
the database, which finds them for free, and ``record_sanitize`` cleans the records of a batch it
refused before the batch is tried again.
"""

from __future__ import annotations

from typing import Any

from .cells import has_surrogate
from .rows import GatewayRow, LlmChunkRow, NativeRow

_KEY_FIELDS = frozenset({"correlation_id", "request_id", "sequence_number", "time", "ingest_notes"})


def record_sanitize(record: GatewayRow | NativeRow | LlmChunkRow) -> bool:
    """Empty the fields of a parsed record that a database cannot store and note each in
    ``ingest_notes``; True if anything changed.

    Lone surrogates in texts and JSON documents, NaN or infinities inside a JSON document. Kept
    out of the parsers: looking for surrogates costs a scan of every body, while the database
    finds them for free (``store.py`` calls this only for a batch it refused).
    """
    notes = []
    for name, value in vars(record).items():
        if name in _KEY_FIELDS:
            continue
        if isinstance(value, str):
            if has_surrogate(value):
                setattr(record, name, "")
                notes.append(f"{name}: lone surrogate")
        elif isinstance(value, dict):
            clean = _json_clean(value)
            if clean is not value:
                setattr(record, name, clean)
                notes.append(f"{name}: lone surrogate, NaN or infinity left out")
    if notes:
        record.ingest_notes = "; ".join(filter(None, [record.ingest_notes, *notes]))
    return bool(notes)


def _json_clean(value: Any) -> Any:
    """``value`` without what JSON columns refuse (strings with lone surrogates and keys holding
    them are dropped, NaN and infinities become null); ``value`` itself when nothing is."""
    if isinstance(value, str):
        return None if has_surrogate(value) else value
    if isinstance(value, float):
        return value if value - value == 0 else None
    if isinstance(value, dict):
        clean, changed = {}, False
        for key, item in value.items():
            if (isinstance(key, str) and has_surrogate(key)) or (isinstance(item, str) and has_surrogate(item)):
                changed = True
                continue
            new = _json_clean(item)
            changed = changed or new is not item
            clean[key] = new
        return clean if changed else value
    if isinstance(value, list):
        items = [_json_clean(item) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return value
