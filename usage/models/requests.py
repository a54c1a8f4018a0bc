"""The three log sources, stored as they arrive, and joined on request id.

* ``GatewayRequest``: one APIM gateway request (ApiManagementGatewayLogs), keyed by APIM's
  ``CorrelationId``. It also carries the usage derived from it (tokens, model, cost).
* ``NativeLog``: one Azure OpenAI RequestResponse row (AzureDiagnostics), keyed by its
  ``CorrelationId``, which equals the backend's ``apim-request-id`` response header.
* ``LlmLogChunk``: one ApiManagementGatewayLlmLog row; a request may span several chunks
  (``SequenceNumber``), keyed by APIM's ``CorrelationId``.

Either side of a join may arrive first or hours later; the join columns are plain values, so a
partner that arrives later is found by the same query, with nothing to update.
"""

from django.db import models


class TokenSource(models.TextChoices):
    REPORTED = "reported", "Reported by the service"
    LLM_LOG = "llm_log", "From the APIM LLM log"
    ESTIMATED = "estimated", "Estimated with the tokenizer"
    NONE = "none", "No tokens (error or non-token operation)"
    UNKNOWN = "unknown", "Unknown"


def status_class(response_code: int | None) -> str:
    """The rollups' status class of an HTTP status: 2xx, 4xx, 429, 5xx or unknown."""
    code = response_code or 0
    if code == 429:
        return "429"
    if code >= 500:
        return "5xx"
    if code >= 400:
        return "4xx"
    if code >= 200:
        return "2xx"
    return "unknown"


class GatewayRequest(models.Model):
    correlation_id = models.CharField(max_length=64, unique=True)
    time = models.DateTimeField(db_index=True)

    # Who called, through what.
    apim_subscription_id = models.CharField(max_length=256, blank=True)
    product_id = models.CharField(max_length=256, blank=True)
    user_id = models.CharField(max_length=256, blank=True)
    # Who called, as far as the logs tell (usage.identity): the caller's Entra object id (a person
    # or an application) and which source said so; "" when no source names a caller.
    caller_object_id = models.CharField(max_length=128, blank=True, db_index=True)
    caller_source = models.CharField(max_length=32, blank=True)
    api_id = models.CharField(max_length=256, blank=True)
    operation_id = models.CharField(max_length=256, blank=True)
    caller_ip = models.CharField(max_length=64, blank=True)
    method = models.CharField(max_length=16, blank=True)
    url = models.TextField(blank=True)
    deployment = models.CharField(max_length=256, blank=True, db_index=True)
    api_version = models.CharField(max_length=64, blank=True)

    # Where it went and how it went.
    backend_id = models.CharField(max_length=256, blank=True)
    backend_url = models.TextField(blank=True)
    response_code = models.IntegerField(null=True, blank=True)
    backend_response_code = models.IntegerField(null=True, blank=True)
    is_request_success = models.BooleanField(null=True, blank=True)
    last_error_reason = models.TextField(blank=True)
    total_time_ms = models.FloatField(null=True, blank=True)
    backend_time_ms = models.FloatField(null=True, blank=True)
    client_time_ms = models.FloatField(null=True, blank=True)
    request_size = models.BigIntegerField(null=True, blank=True)
    response_size = models.BigIntegerField(null=True, blank=True)
    apim_region = models.CharField(max_length=128, blank=True)
    # Azure region names (usage.regions): x-ms-region of the backend response, else the native
    # row's location, else the backend host's learned region; "unknown", or "gateway" when APIM
    # answered without calling a backend. Never a host name.
    backend_region = models.CharField(max_length=128, blank=True)
    # The backend's apim-request-id response header == NativeLog.correlation_id.
    apim_request_id = models.CharField(max_length=64, blank=True, db_index=True)
    ratelimit_remaining_requests = models.BigIntegerField(null=True, blank=True)
    ratelimit_remaining_tokens = models.BigIntegerField(null=True, blank=True)
    retry_after_ms = models.BigIntegerField(null=True, blank=True)
    request_headers = models.JSONField(default=dict, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    # Set when retention purged the prompt/completion text (usage numbers stay).
    bodies_purged_at = models.DateTimeField(null=True, blank=True)

    # Usage derived from bodies, URL, headers and the joined partners (see usage.accounting).
    operation = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=128, blank=True, db_index=True)
    model_version = models.CharField(max_length=64, blank=True)
    is_streaming = models.BooleanField(default=False)
    prompt_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    images = models.IntegerField(default=0)
    audio_seconds = models.FloatField(default=0)
    finish_reason = models.CharField(max_length=64, blank=True)
    token_source = models.CharField(max_length=16, choices=TokenSource.choices, default=TokenSource.UNKNOWN)
    is_truncated = models.BooleanField(default=False)
    content_filter = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=18, decimal_places=8, default=0)
    currency = models.CharField(max_length=3, blank=True)
    is_priced = models.BooleanField(default=False)
    # Which price row (and so which version of the price table) produced ``cost``.
    price_version = models.CharField(max_length=64, blank=True)
    usage_computed_at = models.DateTimeField(null=True, blank=True)
    # Why the numbers are estimated or unknown (cut body, nothing logged, unreadable input...).
    usage_note = models.CharField(max_length=200, blank=True)
    # Values of the row that could not be used and were left empty: "TotalTime: not finite (inf)".
    ingest_notes = models.TextField(blank=True)
    # Hash of the row's parsed content: a re-import of the same content is a duplicate, of other
    # content a conflict (usage.ingestion.conflicts). "" for rows stored before it existed.
    content_hash = models.CharField(max_length=32, blank=True)

    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # With the tokens, so the quota page's per-minute sums of the partial hour at either
            # end of its window read the index alone.
            models.Index(
                fields=["time", "apim_subscription_id"], include=["total_tokens"], name="gwreq_time_sub"
            ),
            # One subscription (every read by subscription), and the request explorer's
            # subscription + status filter without a bitmap of the subscription's every request.
            models.Index(
                fields=["apim_subscription_id", "response_code", "time"], name="gwreq_sub_code_time"
            ),
            # The request explorer's status filter (audit.explorer): a rare status is found by
            # the index instead of walking every request in time order.
            models.Index(fields=["response_code", "time"], name="gwreq_code_time"),
            # The ingestion page's count of requests that can never join a native row
            # (``usage.ingestion.selectors.unjoinable_counts``): a few percent of the rows, counted
            # from this index alone instead of every request of the window.
            models.Index(
                fields=["time"],
                include=["backend_id", "backend_url", "backend_time_ms", "backend_response_code"],
                condition=models.Q(apim_request_id=""),
                name="gwreq_unjoinable_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.correlation_id} {self.operation_id} {self.time:%Y-%m-%d %H:%M}"

    @property
    def status_class(self) -> str:
        return status_class(self.response_code)


class NativeLog(models.Model):
    correlation_id = models.CharField(max_length=64, unique=True)
    time = models.DateTimeField(db_index=True)
    operation_name = models.CharField(max_length=256, blank=True)
    result_signature = models.CharField(max_length=64, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    caller_ip = models.CharField(max_length=64, blank=True)
    location = models.CharField(max_length=128, blank=True)
    resource_id = models.TextField(blank=True)
    api_name = models.CharField(max_length=256, blank=True)
    model_deployment = models.CharField(max_length=256, blank=True)
    model_name = models.CharField(max_length=128, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    stream_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=128, blank=True, db_index=True)
    request_length = models.BigIntegerField(null=True, blank=True)
    response_length = models.BigIntegerField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # Values of the row that could not be used and were left empty: "TotalTime: not finite (inf)".
    ingest_notes = models.TextField(blank=True)
    content_hash = models.CharField(max_length=32, blank=True)  # see GatewayRequest.content_hash
    ingested_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.correlation_id} {self.operation_name}"


class LlmLogChunk(models.Model):
    correlation_id = models.CharField(max_length=64, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    sequence_number = models.IntegerField(default=0)
    time = models.DateTimeField(db_index=True)
    deployment_name = models.CharField(max_length=256, blank=True)
    model_name = models.CharField(max_length=128, blank=True)
    prompt_tokens = models.BigIntegerField(null=True, blank=True)
    completion_tokens = models.BigIntegerField(null=True, blank=True)
    total_tokens = models.BigIntegerField(null=True, blank=True)
    request_messages = models.TextField(blank=True)
    response_messages = models.TextField(blank=True)
    is_stream_completion = models.BooleanField(null=True, blank=True)
    api_version = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=128, blank=True)
    # Values of the row that could not be used and were left empty: "TotalTime: not finite (inf)".
    ingest_notes = models.TextField(blank=True)
    content_hash = models.CharField(max_length=32, blank=True)  # see GatewayRequest.content_hash
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["correlation_id", "request_id", "sequence_number"], name="llmlog_chunk_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.correlation_id}#{self.sequence_number}"
