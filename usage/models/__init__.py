"""Usage models, one module per concern (NetBox style); import them from ``usage.models``."""

from .chargeback import (
    CostCenter,
    CostCenterAssignment,
    CostCenterOwner,
    GatewayIdentity,
    MonthClose,
    NamedIdentity,
)
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
    LatencyOperationDaily,
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
    "CostCenterOwner",
    "Deployment",
    "DeploymentType",
    "GatewayIdentity",
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
    "LatencyOperationDaily",
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
