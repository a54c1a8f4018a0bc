"""Audit models, one module per concern; import them from ``audit.models``."""

from .access import AccessAuditEntry
from .review import Flag, FlagRule, ReviewEvent, ReviewItem, Severity

__all__ = ["AccessAuditEntry", "Flag", "FlagRule", "ReviewEvent", "ReviewItem", "Severity"]
