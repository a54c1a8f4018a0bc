"""The three Log Analytics tables we ingest: names, columns and column types.

Column types are the Log Analytics (Kusto) types; the emulator serves them in the ``columns`` part
of a query response and the demo generator fills them. Only the columns this project reads (plus a
few housekeeping ones) are listed; real tables have more, and older workspaces fewer.
"""

GATEWAY = "ApiManagementGatewayLogs"
LLM_LOG = "ApiManagementGatewayLlmLog"
NATIVE = "AzureDiagnostics"
TABLES = (GATEWAY, LLM_LOG, NATIVE)

# Diagnostic-settings ``category`` -> Log Analytics table.
CATEGORY_TABLES = {
    "gatewaylogs": GATEWAY,
    "gatewayllmlogs": LLM_LOG,
    "requestresponse": NATIVE,
}

TABLE_COLUMNS: dict[str, list[tuple[str, str]]] = {
    GATEWAY: [
        ("TenantId", "string"),
        ("TimeGenerated", "datetime"),
        ("OperationName", "string"),
        ("CorrelationId", "string"),
        ("Region", "string"),
        ("IsRequestSuccess", "bool"),
        ("Category", "string"),
        ("TotalTime", "long"),
        ("CallerIpAddress", "string"),
        ("Method", "string"),
        ("Url", "string"),
        ("ClientProtocol", "string"),
        ("ResponseCode", "int"),
        ("BackendMethod", "string"),
        ("BackendUrl", "string"),
        ("BackendResponseCode", "int"),
        ("BackendProtocol", "string"),
        ("RequestSize", "int"),
        ("ResponseSize", "int"),
        ("Cache", "string"),
        ("BackendTime", "long"),
        ("ClientTime", "long"),
        ("ApiId", "string"),
        ("OperationId", "string"),
        ("ProductId", "string"),
        ("UserId", "string"),
        ("ApimSubscriptionId", "string"),
        ("BackendId", "string"),
        ("LastErrorReason", "string"),
        ("LastErrorMessage", "string"),
        ("RequestHeaders", "dynamic"),
        ("ResponseHeaders", "dynamic"),
        ("BackendRequestHeaders", "dynamic"),
        ("BackendResponseHeaders", "dynamic"),
        ("RequestBody", "string"),
        ("ResponseBody", "string"),
        ("BackendRequestBody", "string"),
        ("BackendResponseBody", "string"),
        ("TraceRecords", "dynamic"),
        ("SourceSystem", "string"),
        ("Type", "string"),
        ("_ResourceId", "string"),
    ],
    LLM_LOG: [
        ("TenantId", "string"),
        ("TimeGenerated", "datetime"),
        ("OperationName", "string"),
        ("CorrelationId", "string"),
        ("RequestId", "string"),
        ("Region", "string"),
        ("ApiVersion", "string"),
        ("DeploymentName", "string"),
        ("ModelName", "string"),
        ("IsStreamCompletion", "bool"),
        ("PromptTokens", "int"),
        ("CompletionTokens", "int"),
        ("TotalTokens", "int"),
        ("SequenceNumber", "int"),
        ("RequestMessages", "dynamic"),
        ("ResponseMessages", "dynamic"),
        ("SourceSystem", "string"),
        ("Type", "string"),
        ("_ResourceId", "string"),
    ],
    NATIVE: [
        ("TenantId", "string"),
        ("TimeGenerated", "datetime"),
        ("ResourceId", "string"),
        ("Category", "string"),
        ("ResourceGroup", "string"),
        ("SubscriptionId", "string"),
        ("ResourceProvider", "string"),
        ("Resource", "string"),
        ("ResourceType", "string"),
        ("OperationName", "string"),
        ("ResultSignature", "string"),
        ("CorrelationId", "string"),
        ("DurationMs", "long"),
        ("CallerIPAddress", "string"),
        ("location_s", "string"),
        ("Tenant_s", "string"),
        ("event_s", "string"),
        ("properties_s", "string"),
        ("SourceSystem", "string"),
        ("Type", "string"),
        ("_ResourceId", "string"),
    ],
}
