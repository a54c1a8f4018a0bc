"""The rows that partner a demo gateway row: the Azure OpenAI account's native ``RequestResponse``
row (``AzureDiagnostics``) and the APIM LLM-log chunks of its messages.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from usage.ingestion.tables import LLM_LOG, NATIVE

from .catalog import (
    APIM_RESOURCE_ID,
    AZURE_SUBSCRIPTION,
    BACKENDS,
    TENANT_ID,
    Deployment,
    _dumps,
    _la_time,
    random_uuid,
)

LLM_CHUNK = 32 * 1024  # APIM LLM log splits messages into chunks of this size


def _ticks(moment: datetime) -> int:
    """.NET ticks (100 ns since 0001-01-01), as native logs give requestTime/responseTime."""
    delta = moment - datetime(1, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def native_row(
    moment: datetime,
    correlation_id: str,
    deployment: Deployment,
    region: str,
    operation_name: str,
    status: int,
    duration_ms: float,
    stream: bool,
    request_length: int,
    response_length: int,
    *,
    object_id: str,
) -> dict:
    account = BACKENDS[region].host.split(".")[0].upper()
    resource_id = (
        f"/SUBSCRIPTIONS/{AZURE_SUBSCRIPTION.upper()}/RESOURCEGROUPS/RG-AI-BACKENDS"
        f"/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/{account}"
    )
    properties = {
        "apiName": "Azure OpenAI API version 2024-10-21",
        "requestTime": _ticks(moment),
        "requestLength": request_length,
        "responseTime": _ticks(moment + timedelta(milliseconds=duration_ms)),
        "responseLength": response_length,
        "objectId": object_id,
        "streamType": "Streaming" if stream else "Non-Streaming",
        "modelDeploymentName": deployment.name,
        "modelName": deployment.model,
        "modelVersion": deployment.version,
    }
    return {
        "TenantId": TENANT_ID,
        "TimeGenerated": _la_time(moment),
        "ResourceId": resource_id,
        "Category": "RequestResponse",
        "ResourceGroup": "RG-AI-BACKENDS",
        "SubscriptionId": AZURE_SUBSCRIPTION,
        "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
        "Resource": account,
        "ResourceType": "ACCOUNTS",
        "OperationName": operation_name,
        "ResultSignature": str(status),
        "CorrelationId": correlation_id,
        "DurationMs": int(duration_ms),
        "CallerIPAddress": "20.91.146.***",
        "location_s": region,
        "Tenant_s": region,
        "event_s": "ShoeboxCallResult",
        "properties_s": _dumps(properties),
        "SourceSystem": "Azure",
        "Type": NATIVE,
        "_ResourceId": resource_id.lower(),
    }


def llm_rows(
    rng: random.Random,
    moment: datetime,
    correlation_id: str,
    deployment: Deployment,
    region: str,
    api_version: str,
    stream: bool,
    prompt_tokens: int,
    completion_tokens: int,
    request_messages: str,
    response_messages: str,
) -> list[dict]:
    request_id = random_uuid(rng)
    base = {
        "TenantId": TENANT_ID,
        "TimeGenerated": _la_time(moment + timedelta(milliseconds=rng.randint(50, 900))),
        "OperationName": "Microsoft.ApiManagement/GatewayLlmLogs",
        "CorrelationId": correlation_id,
        "RequestId": request_id,
        "Region": BACKENDS[region].apim_region,
        "ApiVersion": api_version,
        "DeploymentName": deployment.name,
        "ModelName": f"{deployment.model}-{deployment.version}",
        "IsStreamCompletion": stream,
        "SourceSystem": "Azure",
        "Type": LLM_LOG,
        "_ResourceId": APIM_RESOURCE_ID.lower(),
    }
    empty = {"PromptTokens": None, "CompletionTokens": None, "TotalTokens": None}
    rows = [
        {
            **base,
            "PromptTokens": prompt_tokens,
            "CompletionTokens": completion_tokens,
            "TotalTokens": prompt_tokens + completion_tokens,
            "SequenceNumber": 0,
            "RequestMessages": "",
            "ResponseMessages": "",
        }
    ]
    for column, text in (("RequestMessages", request_messages), ("ResponseMessages", response_messages)):
        for start in range(0, len(text), LLM_CHUNK):
            row = {
                **base,
                **empty,
                "SequenceNumber": len(rows),
                "RequestMessages": "",
                "ResponseMessages": "",
            }
            row[column] = text[start : start + LLM_CHUNK]
            rows.append(row)
    if rng.random() < 0.02:
        rows.append(dict(rng.choice(rows)))  # Log Analytics sometimes repeats a row
    return rows
