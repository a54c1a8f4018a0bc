"""Usage models, one module per concern (NetBox style); import them from ``usage.models``."""

from .chargeback import CostCenter, CostCenterAssignment, MonthClose, NamedIdentity
from .ingestion import IngestionRun, IngestionWatermark, RejectedRow
from .locks import IngestionLease
from .requests import GatewayRequest, LlmLogChunk, NativeLog, TokenSource
from .rollups import UsageHourly

__all__ = [
    "CostCenter",
    "CostCenterAssignment",
    "MonthClose",
    "NamedIdentity",
    "GatewayRequest",
    "IngestionLease",
    "IngestionRun",
    "IngestionWatermark",
    "LlmLogChunk",
    "NativeLog",
    "RejectedRow",
    "TokenSource",
    "UsageHourly",
]
