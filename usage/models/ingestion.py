from django.db import models


class IngestionWatermark(models.Model):
    """How far a Log Analytics table has been pulled: everything before ``watermark`` is stored."""

    table = models.CharField(max_length=64, unique=True)
    watermark = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.table} @ {self.watermark:%Y-%m-%d %H:%M:%S}"


class IngestionRun(models.Model):
    """One pull of one window of one table, or one file import."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        PARTIAL = "partial"
        FAILED = "failed"

    source = models.CharField(max_length=32)  # "log_analytics" or "file"
    table = models.CharField(max_length=64, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    path = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    rows_read = models.IntegerField(default=0)
    rows_stored = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    # Same key, different content: kept as evidence, never silently dropped (see docs/ingestion.md).
    conflicts = models.IntegerField(default=0)
    # Records of categories/tables the portal does not read, counted per category.
    skipped = models.IntegerField(default=0)
    skipped_categories = models.JSONField(default=dict, blank=True)
    rejected = models.IntegerField(default=0)
    reasons = models.JSONField(default=dict, blank=True)  # rejected rows by kind of reason
    # A file import's counts per table ({table: {"rows_read": n, ..., "reasons": {...}}}; "" for
    # records routed to no table): a file holds several tables. Empty for pulls (one table each).
    tables = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # A pull window's queries sent again after a transient error (408, 429, 5xx, no connection),
    # and the 429 (throttled) answers among them: counted here, so /metrics reads them from the
    # database like the rest (every process agrees, restarts forget nothing).
    retries = models.IntegerField(default=0)
    throttled = models.IntegerField(default=0)
    # Who runs it ("host/pid-namespace:pid:token") and when it last said it was alive: a running
    # run whose process is gone, or whose heartbeat is older than INGEST_LEASE_SECONDS, is closed
    # as "abandoned" by the next run (usage.ingestion.runs).
    holder = models.CharField(max_length=160, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["table", "-started_at"], name="ingrun_table_started")]

    def __str__(self) -> str:
        return f"{self.source}:{self.table} {self.status}"


class RejectedRow(models.Model):
    """A row that could not be stored as data. Kept with its reason, never dropped."""

    source = models.CharField(max_length=64)  # table name or file format
    reason = models.TextField()
    raw = models.TextField()
    # sha256 of source + raw: re-importing the same bad row does not store it twice.
    fingerprint = models.CharField(max_length=64, unique=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.source}: {self.reason[:60]}"


class IngestionConflict(models.Model):
    """One version of a row whose key was also read with other content (``usage.ingestion.conflicts``).

    Evidence only: the stored row is the merge of every version. Each version is kept once
    (``fingerprint``), so importing it again adds nothing. Prompt and completion text is not
    kept here (only its length and digest): it stays under the request's retention.
    """

    table = models.CharField(max_length=64)
    # CorrelationId, or an LLM-log chunk's JSON key [CorrelationId, RequestId, SequenceNumber].
    key = models.TextField()
    content_hash = models.CharField(max_length=32)
    record = models.JSONField(default=dict)  # this version, as parsed
    fields = models.JSONField(default=list)  # the fields in which the versions met disagree
    # sha256 of table, key and content hash.
    fingerprint = models.CharField(max_length=64, unique=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["table", "key"], name="ingconflict_table_key")]

    def __str__(self) -> str:
        return f"{self.table}: {self.key} ({', '.join(self.fields)})"


class UnmatchedRow(models.Model):
    """A stored log row still waiting for its join partner (what the ingestion status page counts).

    Kept by ingestion (``usage.ingestion.unmatched``) in the transaction that stores the row or its
    partner: a row stored without a partner gets an entry, the partner's arrival deletes it. So
    the page counts a small table of waiting rows instead of anti-joining the request table.

    * ApiManagementGatewayLogs: ``row_key`` is the request's ``CorrelationId``, ``partner_key``
      its ``apim-request-id`` (the native row's ``CorrelationId``);
    * AzureDiagnostics: both are the native row's ``CorrelationId``;
    * ApiManagementGatewayLlmLog: ``row_key`` is the chunk's JSON key
      ``[CorrelationId, RequestId, SequenceNumber]``, ``partner_key`` its ``CorrelationId``
      (the gateway row's).
    """

    table = models.CharField(max_length=64)
    row_key = models.TextField()
    partner_key = models.CharField(max_length=64)
    time = models.DateTimeField()  # the row's own time (the page counts the last days of data)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["table", "row_key"], name="unmatched_row_unique")]
        indexes = [
            models.Index(fields=["table", "partner_key"], name="unmatched_partner"),
            models.Index(fields=["time", "table"], name="unmatched_time"),
        ]

    def __str__(self) -> str:
        return f"{self.table}: {self.row_key} waiting for {self.partner_key}"


class IngestionAlert(models.Model):
    """One ingestion health problem, raised once and sent once until it clears
    (``usage.ingestion.alerts``). At most one open alert per kind and table."""

    class Kind(models.TextChoices):
        LAG = "lag", "Ingestion lag"
        SILENT = "silent", "No new rows"
        REJECTIONS = "rejections", "Rejections"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    table = models.CharField(max_length=64)
    detail = models.TextField()  # what was measured, in words (the message's body)
    raised_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    # When a channel took it (or when it was recorded with no channel configured); empty while every
    # configured channel failed, so the next run retries.
    sent_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "table"],
                condition=models.Q(cleared_at__isnull=True),
                name="ingestion_alert_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.table}"


class IngestionBackfill(models.Model):
    """A pull split into per-table windows that Celery workers take (``usage.ingestion.backfill``).

    Its windows hold the ingestion lock together under ``lock_holder``; the tables are pulled one
    after the other (``tables``, in pull order), the windows of one table side by side: ``phase``
    is the index in ``tables`` of the table whose windows are queued.
    """

    tables = models.JSONField(default=list)
    lock_holder = models.CharField(max_length=160)
    phase = models.IntegerField(default=-1)  # -1: no table's windows queued yet
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"backfill {self.pk} ({', '.join(self.tables)})"


class IngestionWindow(models.Model):
    """One window ``[window_start, window_end)`` of one table of a backfill: claimed by one worker
    at a time (``holder``, kept alive by ``heartbeat_at``), retried when it fails."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        RETRYING = "retrying"  # failed; Celery runs it again after a backoff
        OK = "ok"
        FAILED = "failed"  # failed on its last attempt

    backfill = models.ForeignKey(IngestionBackfill, on_delete=models.CASCADE, related_name="windows")
    table = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    holder = models.CharField(max_length=160, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    rows_read = models.IntegerField(default=0)
    rows_stored = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    conflicts = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["backfill", "table", "window_start"], name="ingestion_window_unique"
            )
        ]
        indexes = [models.Index(fields=["table", "status"], name="ingwindow_table_status")]

    def __str__(self) -> str:
        return f"{self.table} {self.window_start:%Y-%m-%d %H:%M} {self.status}"
