"""Audit models, one module per concern; import them from ``audit.models``."""

from .access import AccessAuditEntry

__all__ = ["AccessAuditEntry"]
