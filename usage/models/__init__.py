"""Usage models, one module per concern (NetBox style); import them from ``usage.models``."""

from .chargeback import CostCenter, CostCenterAssignment, MonthClose, NamedIdentity
from .daily import UsageDaily
from .ingestion import (
    IngestionAlert,
    IngestionBackfill,
    IngestionConflict,
    IngestionRun,
    IngestionWatermark,
    IngestionWindow,
    RejectedRow,
    UnmatchedRow,
)
from .latency import (
    LatencyDaily,
    LatencyDailySpan,
    LatencyHourOfDay,
    LatencyHourOfDaySpan,
    LatencySubscriptionDaily,
    LatencySubscriptionRegionDaily,
)
from .locks import IngestionLease
from .pricing import Deployment, DeploymentType, ModelPrice, ProvisionedCommitment
from .regions import BackendHostRegion
from .requests import GatewayRequest, LlmLogChunk, NativeLog, TokenSource
from .rollups import LatencyPendingHour, UsageHourly
from .tpm import TokensPerMinuteHourly

__all__ = [
    "BackendHostRegion",
    "CostCenter",
    "CostCenterAssignment",
    "Deployment",
    "DeploymentType",
    "MonthClose",
    "NamedIdentity",
    "GatewayRequest",
    "IngestionAlert",
    "IngestionBackfill",
    "IngestionConflict",
    "IngestionLease",
    "IngestionRun",
    "IngestionWatermark",
    "IngestionWindow",
    "LatencyDaily",
    "LatencyDailySpan",
    "LatencyHourOfDay",
    "LatencyHourOfDaySpan",
    "LatencyPendingHour",
    "LatencySubscriptionDaily",
    "LatencySubscriptionRegionDaily",
    "LlmLogChunk",
    "ModelPrice",
    "NativeLog",
    "ProvisionedCommitment",
    "RejectedRow",
    "TokenSource",
    "TokensPerMinuteHourly",
    "UsageDaily",
    "UnmatchedRow",
    "UsageHourly",
]
