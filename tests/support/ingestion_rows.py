"""Real-shaped rows of the three tables, as Log Analytics and diagnostic settings give them.

Shared by the row parser, store, conflict and import tests.
"""

import json
from datetime import datetime, timedelta

from usage.demo.data import generate_logs
from usage.ingestion.rows import PARSERS, GatewayRow
from usage.ingestion.tables import GATEWAY

CHAT_RESPONSE = json.dumps(
    {
        "choices": [
            {"finish_reason": "stop", "index": 0, "message": {"content": "Chennai.", "role": "assistant"}}
        ],
        "model": "gpt-35-turbo",
        "object": "chat.completion",
        "usage": {"completion_tokens": 8, "prompt_tokens": 14, "total_tokens": 22},
    }
)

# A row as `az monitor log-analytics query -o json` prints it: everything text, dynamic as JSON text.
GATEWAY_ROW = {
    "TenantId": "0f6e1a4c-0000-4000-8000-000000000001",
    "TimeGenerated": "2024-07-02T06:31:31.4465902Z",
    "CorrelationId": "99789635-18D0-480F-8182-A3A3C477A6A4",
    "Region": "East US",
    "IsRequestSuccess": "true",
    "TotalTime": "176",
    "CallerIpAddress": "81.2.69.144",
    "Method": "POST",
    "Url": "https://azure-openai-apm.azure-api.net/openai/deployments/gpt-chat-pilot/chat/completions"
    "?api-version=2024-02-15-preview",
    "ResponseCode": "200",
    "BackendUrl": "https://obs-openai-test-01.openai.azure.com/openai/deployments/gpt-chat-pilot/chat/completions"
    "?api-version=2024-02-15-preview",
    "BackendResponseCode": "200",
    "RequestSize": "536",
    "ResponseSize": "1604",
    "BackendTime": "170",
    "ClientTime": "1",
    "ApiId": "azure-openai-service-api",
    "OperationId": "ChatCompletions_Create",
    "ProductId": "starter",
    "UserId": "1",
    "ApimSubscriptionId": "team-search",
    "BackendId": "aoai-eastus",
    "LastErrorReason": "",
    "RequestHeaders": "",
    "BackendResponseHeaders": json.dumps(
        {
            "Apim-Request-Id": "D427A391-2BC7-4F38-9CBC-6560600E0981",
            "x-ms-region": "East US",
            "x-ratelimit-remaining-requests": "119",
            "x-ratelimit-remaining-tokens": "119978",
        }
    ),
    "RequestBody": '{"messages": [{"role": "user", "content": "capital of tamilnadu?"}]}',
    "ResponseBody": CHAT_RESPONSE,
    "Type": "ApiManagementGatewayLogs",
}

NATIVE_ROW = {
    "TimeGenerated": "2024-05-24T12:23:02.435Z",
    "ResourceId": "/SUBSCRIPTIONS/12CABCB4/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/OBS-01",
    "Category": "RequestResponse",
    "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
    "OperationName": "ChatCompletions_Create",
    "ResultSignature": "200",
    "CorrelationId": "d427a391-2bc7-4f38-9cbc-6560600e0981",
    "DurationMs": "1021",
    "CallerIPAddress": "81.2.69.***",
    "location_s": "eastus",
    "properties_s": json.dumps(
        {
            "apiName": "Azure OpenAI API version 2023-07-01-preview",
            "requestTime": 638515262815394150,
            "requestLength": 128,
            "responseTime": 638515262825606520,
            "responseLength": 1411,
            "objectId": "5f0c2d7e-8a41-4b9f-a3e6-c21d7b90e418",
            "streamType": "Non-Streaming",
            "modelDeploymentName": "gpt-chat-pilot",
            "modelName": "gpt-35-turbo",
            "modelVersion": "0301",
        }
    ),
}

LLM_ROW = {
    "TimeGenerated": "2025-06-01T10:00:00.5000000Z",
    "CorrelationId": "99789635-18d0-480f-8182-a3a3c477a6a4",
    "RequestId": "chatcmpl-abc",
    "Region": "West Europe",
    "ApiVersion": "2024-10-21",
    "DeploymentName": "gpt-4o",
    "ModelName": "gpt-4o-2024-11-20",
    "IsStreamCompletion": "False",
    "PromptTokens": "14",
    "CompletionTokens": "8",
    "TotalTokens": "22",
    "SequenceNumber": "0",
    "RequestMessages": "",
    "ResponseMessages": "",
}

# The nearly empty RequestResponse row Azure OpenAI may log besides the filled one for one call.
NATIVE_SPARSE = {
    "TimeGenerated": "2024-05-24T12:23:02.900Z",
    "Category": "RequestResponse",
    "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
    "CorrelationId": NATIVE_ROW["CorrelationId"],
    "DurationMs": "0",
    "properties_s": json.dumps({"streamType": "Non-Streaming", "responseLength": 0, "extra": "x"}),
}


# Diagnostic-settings records, shaped like the public samples in elastic/integrations
# (packages/azure_openai/data_stream/logs/_dev/test/pipeline/).
GATEWAY_RECORD = {
    "DeploymentVersion": "0.44.18652.0",
    "Level": 4,
    "callerIpAddress": "81.2.69.144",
    "category": "GatewayLogs",
    "correlationId": "0aa398fe-7b98-49aa-8352-52ce04ddc34a",
    "durationMs": 453,
    "isRequestSuccess": False,
    "location": "East US",
    "operationName": "Microsoft.ApiManagement/GatewayLogs",
    "properties": {
        "apiId": "azure-openai-service-api",
        "apimSubscriptionId": "team-legal",
        "backendResponseCode": 400,
        "backendTime": 452,
        "backendUrl": "https://obs-openai-test-01.openai.azure.com/openai/deployments/gpt-chat-pilot/chat/completions"
        "?api-version=2024-02-15-preview",
        "backendResponseHeaders": {"apim-request-id": "11111111-2222-4333-8444-555555555555"},
        "method": "POST",
        "operationId": "ChatCompletions_Create",
        "requestBody": '{"messages": [{"role": "user", "content": "test"}]}',
        "responseBody": '{"error":{"code":"content_filter","status":400}}',
        "responseCode": 400,
        "requestSize": 519,
        "responseSize": 1360,
        "lastError": {"reason": "BackendError", "message": "filtered"},
        "url": "https://azure-openai-apm.azure-api.net/deployments/gpt-chat-pilot/chat/completions"
        "?api-version=2024-02-15-preview",
    },
    "resourceId": "/SUBSCRIPTIONS/12CABCB4/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.APIMANAGEMENT/SERVICE/APM",
    "resultType": "Failed",
    "time": "2024-07-02T06:14:56.2371877Z",
}

NATIVE_RECORD = {
    "Tenant": "eastus",
    "callerIpAddress": "81.2.69.***",
    "category": "RequestResponse",
    "correlationId": "9d3a6e98-fc11-48d0-82cf-4de065c1a1f8",
    "durationMs": 102,
    "event": "ShoeboxCallResult",
    "location": "eastus",
    "operationName": "Create_Thread",
    "properties": '{"apiName":"Azure OpenAI API version 2024-02-15-preview","requestTime":638481757794854611,'
    '"requestLength":2,"responseTime":638481757795877942,"responseLength":113,"objectId":""}',
    "resourceId": "/SUBSCRIPTIONS/12CABCB4/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/OBS",
    "resultSignature": "200",
    "time": "2024-04-08T12:23:02.4350000Z",
}

LLM_RECORD = {
    "time": "2025-06-01T10:00:00.5Z",
    "category": "GatewayLlmLogs",
    "correlationId": "0aa398fe-7b98-49aa-8352-52ce04ddc34a",
    "location": "West Europe",
    "properties": json.dumps(
        {
            "requestId": "chatcmpl-1",
            "deploymentName": "gpt-4o",
            "modelName": "gpt-4o-2024-11-20",
            "promptTokens": 10,
            "completionTokens": 5,
            "totalTokens": 15,
            "sequenceNumber": 2,
            "responseMessages": [{"role": "assistant", "content": "hi"}],
            "isStreamCompletion": True,
            "apiVersion": "2024-10-21",
        }
    ),
}


def gateway_rows(start: datetime, *, seed: int = 3) -> list[dict]:
    """Generated gateway rows of the hour from ``start``, without the ones made to be rejected."""
    rows = generate_logs(start=start, end=start + timedelta(hours=1), requests_per_hour=6, seed=seed)[GATEWAY]
    return [row for row in rows if isinstance(PARSERS[GATEWAY](row), GatewayRow)]
