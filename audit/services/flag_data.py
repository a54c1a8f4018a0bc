"""What flag evaluation finds per request and counts per run (shared by its optional detectors)."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluateStats:
    requests: int = 0
    skipped_purged: int = 0
    flags_created: int = 0
    flags_updated: int = 0
    flags_deleted: int = 0
    items_created: int = 0
    items_deleted: int = 0
    rule_timeouts: list[str] = field(default_factory=list)
    # Requests whose evaluation failed (logged; their existing flags are left as they were).
    errors: list[str] = field(default_factory=list)
    # What an optional detector could not do (Prompt Shields unreachable or throttled), for the log.
    notes: list[str] = field(default_factory=list)

    def add(self, other: "EvaluateStats") -> None:
        for name in ("requests", "skipped_purged", "flags_created", "flags_updated", "flags_deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.items_created += other.items_created
        self.items_deleted += other.items_deleted
        self.rule_timeouts.extend(other.rule_timeouts)
        self.errors.extend(other.errors)
        self.notes.extend(other.notes)


@dataclass
class FlagData:
    source: str
    name: str
    severity: int
    spans: list[dict[str, Any]]
    detail: dict[str, Any]
    rule_id: int | None = None
