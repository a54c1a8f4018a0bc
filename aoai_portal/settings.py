"""Settings for AOAI Portal. Everything that differs between machines comes from the environment.

Defaults are the embedded ones (SQLite, no Redis, Celery tasks run in-process) so that a fresh
checkout runs with no configuration; production sets DATABASE_URL, CELERY_BROKER_URL and friends
(see README and docker-compose.yml).
"""

from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from .env import env_bool, env_float, env_int, env_json_object, env_list, env_pairs, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if env_bool("DJANGO_SECURE", False) or (not DEBUG and env_bool("DJANGO_REQUIRE_SECRET_KEY", False)):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set")
    # Only for the embedded demo and tests; production sets DJANGO_SECRET_KEY.
    SECRET_KEY = "insecure-embedded-default-key-set-DJANGO_SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # django.contrib.admin, opened by the portal's admin role (see aoai_portal/auth/admin_site.py).
    "aoai_portal.auth.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "mozilla_django_oidc",
    "ninja",  # serves the API docs' assets locally instead of from a CDN
    "aoai_portal",
    "aoai_portal.auth.apps.PortalAuthConfig",
    "usage",
    "audit",
    "quotas",
    "costs",
]

MIDDLEWARE = [
    # Outermost: aoai_page_response_seconds{view} times the whole answer.
    "aoai_portal.middleware.ResponseTimeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # %00 in a path, query string or form: 400 before anything reaches PostgreSQL.
    "aoai_portal.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "aoai_portal.urls"
WSGI_APPLICATION = "aoai_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aoai_portal.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Embedded mode: the web server and the in-process scheduler write at the same time. WAL lets
    # readers go on while one writes; IMMEDIATE transactions queue writers instead of failing them.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Months and days are UTC unless PORTAL_TIME_ZONE says otherwise.
TIME_ZONE = env_str("PORTAL_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env_str(
            "DJANGO_STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Log Analytics ------------------------------------------------------------------------
LOG_ANALYTICS_WORKSPACE_ID = env_str("LOG_ANALYTICS_WORKSPACE_ID", "")
# Overridable for sovereign clouds and for the local emulator used by tests and the demo.
LOG_ANALYTICS_ENDPOINT = env_str("LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.io/v1")
# azure-core refuses bearer tokens over http://; only the local emulator is served over http.
LOG_ANALYTICS_ALLOW_HTTP = env_bool("LOG_ANALYTICS_ALLOW_HTTP", False)
# "default" = DefaultAzureCredential; "static" = a fixed token (local emulator only).
LOG_ANALYTICS_CREDENTIAL = env_str("LOG_ANALYTICS_CREDENTIAL", "default")
INGEST_INTERVAL_SECONDS = env_int("INGEST_INTERVAL_SECONDS", 300)
INGEST_OVERLAP_SECONDS = env_int("INGEST_OVERLAP_SECONDS", 600)
INGEST_DELAY_SECONDS = env_int("INGEST_DELAY_SECONDS", 300)
INGEST_WINDOW_SECONDS = env_int("INGEST_WINDOW_SECONDS", 3600)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 2000)
# Worker processes storing batches side by side (the pull, `ingest`, `import_logs`; PostgreSQL only;
# usage.ingestion.parallel).
INGEST_WORKERS = env_int("INGEST_WORKERS", 1)
# The status page counts rows without a join partner over this many days before the newest request.
INGEST_UNMATCHED_DAYS = env_int("INGEST_UNMATCHED_DAYS", 2)
# Where the pull of a table starts when it has no watermark yet.
INGEST_START_LOOKBACK_SECONDS = env_int("INGEST_START_LOOKBACK_SECONDS", 86400)
# A window that hits the service limits is split in halves down to this size, then reported failed.
INGEST_MIN_WINDOW_SECONDS = env_int("INGEST_MIN_WINDOW_SECONDS", 1)
# Throttling (429), 5xx and connection errors: retries per query, exponential backoff (Retry-After wins).
INGEST_RETRIES = env_int("INGEST_RETRIES", 5)
INGEST_BACKOFF_SECONDS = env_int("INGEST_BACKOFF_SECONDS", 2)
INGEST_BACKOFF_MAX_SECONDS = env_int("INGEST_BACKOFF_MAX_SECONDS", 60)
# Parallel backfills (`ingest --parallel`, usage.ingestion.backfill): a failed window is run again
# this many times (Celery retry, the backoff above, doubling), then left failed; the beat pull
# turns into a backfill across the workers when a table is more than this many windows behind
# (0: never; never without a broker either).
INGEST_WINDOW_RETRIES = env_int("INGEST_WINDOW_RETRIES", 3)
INGEST_PARALLEL_BEHIND_WINDOWS = env_int("INGEST_PARALLEL_BEHIND_WINDOWS", 6)
# Lifetime of the ingestion lock and of a run's heartbeat: a live run renews both every quarter of
# it (usage.ingestion.locks), so a killed run blocks the next one for at most this long (not at all
# when it ran on this host), and its run is then closed as "abandoned".
INGEST_LEASE_SECONDS = env_int("INGEST_LEASE_SECONDS", 120)
# A row of an imported file longer than this (characters) is rejected with its size, not stored.
INGEST_MAX_ROW_SIZE = env_int("INGEST_MAX_ROW_SIZE", 16 << 20)
# Ingestion health alerts (usage.ingestion.alerts; 0 turns one off), sent like the quota alerts:
# a table's watermark more than this behind now;
INGEST_ALERT_LAG_SECONDS = env_int("INGEST_ALERT_LAG_SECONDS", 3600)
# a table with no new rows for longer than this many times its usual longest gap (and at least
# INGEST_ALERT_SILENCE_MIN_SECONDS);
INGEST_ALERT_SILENCE_FACTOR = env_int("INGEST_ALERT_SILENCE_FACTOR", 3)
INGEST_ALERT_SILENCE_MIN_SECONDS = env_int("INGEST_ALERT_SILENCE_MIN_SECONDS", 3600)
# more than this percent of the rows read over the last INGEST_ALERT_WINDOW_SECONDS rejected.
INGEST_ALERT_REJECTED_PERCENT = env_int("INGEST_ALERT_REJECTED_PERCENT", 5)
INGEST_ALERT_WINDOW_SECONDS = env_int("INGEST_ALERT_WINDOW_SECONDS", 3600)
# Server-side query timeout sent as "Prefer: wait=N" (the service allows at most 600).
LOG_ANALYTICS_SERVER_TIMEOUT = env_int("LOG_ANALYTICS_SERVER_TIMEOUT", 180)

# --- Cost Management (costs.pull; docs/chargeback.md "Pulling from Cost Management") ------------
# Where invoice lines are pulled from: a subscription or resource group scope (the Query API
# groups by ResourceId there), several separated by commas; empty = no pull.
COST_MANAGEMENT_SCOPE = env_str("COST_MANAGEMENT_SCOPE", "")
# Azure Resource Manager; sovereign clouds and the local emulator override it (token audience follows).
COST_MANAGEMENT_ENDPOINT = env_str("COST_MANAGEMENT_ENDPOINT", "https://management.azure.com")
# "default" = DefaultAzureCredential (needs Cost Management Reader on the scope); "static" = a fixed
# token, for the local emulator only (then http:// is allowed).
COST_MANAGEMENT_CREDENTIAL = env_str("COST_MANAGEMENT_CREDENTIAL", "default")
COST_PULL_INTERVAL_SECONDS = env_int("COST_PULL_INTERVAL_SECONDS", 6 * 3600)
# Each run pulls again this many days before today: cost data arrives a day or two late and is
# restated for days after (the store is idempotent, so reading a day again changes only what changed).
COST_PULL_LOOKBACK_DAYS = env_int("COST_PULL_LOOKBACK_DAYS", 7)
# Azure's public list prices (costs.retail_prices; `manage.py prices_import_azure --fetch`).
AZURE_RETAIL_PRICES_URL = env_str("AZURE_RETAIL_PRICES_URL", "https://prices.azure.com/api/retail/prices")

# --- Money ----------------------------------------------------------------------------------
PORTAL_CURRENCY = env_str("PORTAL_CURRENCY", "USD")

# --- Who called (usage.identity, docs/identity.md) ----------------------------------------------
# Logged request headers carrying the caller's Entra id, as KIND=header pairs: "oid" headers name
# a person or a service principal by object id, "appid" headers an application by client id (read
# when no oid header is there). A kind may repeat; the first header found wins.
PORTAL_IDENTITY_HEADERS = env_pairs("PORTAL_IDENTITY_HEADERS", "oid=x-caller-oid,appid=x-caller-appid")
# Entra object ids of the APIM instances' managed identities: a native objectId equal to one of
# them names the gateway, not the caller. Admins can add more in the admin site (Gateway identities).
PORTAL_GATEWAY_IDENTITIES = env_list("PORTAL_GATEWAY_IDENTITIES")

# --- Tokenizers -------------------------------------------------------------------------------
# tiktoken's encoding files are seeded here from the installed ``bpe-openai`` package (sha256
# verified), so nothing is ever downloaded at run time (see usage.accounting.tokens).
TIKTOKEN_CACHE_DIR = env_str("TIKTOKEN_CACHE_DIR", str(BASE_DIR / ".cache" / "tiktoken"))

# --- Celery -----------------------------------------------------------------------------------
# Empty broker = embedded mode: tasks run in-process, the demo runs its own scheduler thread.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == ""
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
REDIS_URL = env_str("REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")

# Every periodic task, one entry each. ``expires``: a run that waited longer than its interval in the
# queue is dropped instead of running late on top of the next one.
CELERY_BEAT_SCHEDULE = {
    # Pull new rows of every Log Analytics table (per-table lock; see usage.ingestion.log_analytics).
    "ingest-pull": {
        "task": "usage.ingest_pull",
        "schedule": float(INGEST_INTERVAL_SECONDS),
        "options": {"expires": max(INGEST_INTERVAL_SECONDS - 5, 1)},
    },
    # Ingestion health alerts (lag, silent table, rejections); each sent once until it clears.
    "ingestion-alerts": {
        "task": "usage.ingestion_alerts_send",
        "schedule": float(INGEST_INTERVAL_SECONDS),
        "options": {"expires": max(INGEST_INTERVAL_SECONDS - 5, 1)},
    },
    # Pull the last COST_PULL_LOOKBACK_DAYS of Azure OpenAI invoice lines from Cost Management
    # (a no-op without COST_MANAGEMENT_SCOPE; see costs.pull).
    "costs-pull": {
        "task": "costs.pull",
        "schedule": float(COST_PULL_INTERVAL_SECONDS),
        "options": {"expires": max(COST_PULL_INTERVAL_SECONDS - 5, 1)},
    },
    # Quota/budget alerts. They also run after every ingestion run that stored rows
    # (quotas.tasks.quota_alerts_enqueue); this hourly run is the safety net. Idempotent.
    "quota-alerts": {
        "task": "quotas.tasks.quota_alerts_send",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
    # Name the object ids seen in requests from Microsoft Graph (a no-op without
    # PORTAL_GRAPH_CLIENT_ID; see usage.people.graph). Never part of ingestion: a slow or throttled
    # Graph only delays names.
    "people-graph": {
        "task": "usage.people_graph_refresh",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
    # Nightly: purge prompt/completion text past PROMPT_/FLAGGED_RETENTION_DAYS (audited; see
    # audit.services.retention.retention_purge). A run that waited 6 hours is dropped: the next
    # night catches up.
    "retention-purge": {
        "task": "audit.tasks.retention_purge",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # PostgreSQL: create the request table's partitions of this month and the next two (no-op on
    # SQLite; see usage.db.partitions). Daily, so a missed night is caught up long before a month starts.
    "request-partitions": {
        "task": "usage.request_partitions_ahead",
        "schedule": crontab(hour=1, minute=15),
        "options": {"expires": 6 * 3600},
    },
    # Nightly: remove months of requests past REQUEST_RETENTION_MONTHS (no-op when 0; audited; see
    # usage.retention). Whole months, so it does real work once a month.
    "requests-retention": {
        "task": "usage.requests_retention",
        "schedule": crontab(hour=3, minute=0),
        "options": {"expires": 6 * 3600},
    },
    # Nightly: drop the hourly rollup rows of the days past PORTAL_HOURLY_ROLLUP_MONTHS (no-op when 0;
    # their daily rollups stay; see usage.rollups.hourly_prune). Idempotent.
    "hourly-rollups-prune": {
        "task": "usage.hourly_rollups_prune",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 6 * 3600},
    },
}

# --- Quotas and alerts -------------------------------------------------------------------------
# Projected end-of-month usage = month-to-date + (usage of the last N days / N) * days left.
QUOTA_PROJECTION_DAYS = env_int("QUOTA_PROJECTION_DAYS", 7)
# A minute above the tier's tokens-per-minute counts as drift (APIM not enforcing) only past this
# margin: APIM itself can overshoot a little while concurrent requests are in flight.
QUOTA_DRIFT_TOLERANCE_PERCENT = env_int("QUOTA_DRIFT_TOLERANCE_PERCENT", 10)
# E-mail (Django's SMTP settings) and an optional Teams/Slack-style incoming webhook.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "aoai-portal@localhost")
ALERT_EMAIL_TO = env_list("ALERT_EMAIL_TO", [])
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int("ALERT_WEBHOOK_TIMEOUT_SECONDS", 10)

# --- Sign-in (OpenID Connect against Entra ID) --------------------------------------------------
ENTRA_TENANT_ID = env_str("ENTRA_TENANT_ID", "")
ENTRA_CLIENT_ID = env_str("ENTRA_CLIENT_ID", "")
ENTRA_CLIENT_SECRET = env_str("ENTRA_CLIENT_SECRET", "")
# Authority without the tenant; sovereign clouds and tests override it.
ENTRA_AUTHORITY = env_str("ENTRA_AUTHORITY", "https://login.microsoftonline.com").rstrip("/")
# Local username/password sign-in for break-glass superusers; off in locked-down deployments.
PORTAL_LOCAL_LOGIN = env_bool("PORTAL_LOCAL_LOGIN", True)
# Default claim -> portal role mappings ("VALUE=ROLE,..."); the admin site adds RoleMapping rows.
# App role values (roles claim) compare case-insensitively; groups are object ids (GUIDs).
ENTRA_ROLE_MAP = env_pairs("ENTRA_ROLE_MAP", "Finance=finance,Reviewer=reviewer,Admin=admin,BudgetOwner=budget_owner")
ENTRA_GROUP_MAP = env_pairs("ENTRA_GROUP_MAP", "")

# --- People names from Microsoft Graph (optional; usage.people.graph) ---------------------------
# In the background, the object ids seen in requests that the People table cannot name are looked
# up in Graph (users, then service principals). Off unless PORTAL_GRAPH_CLIENT_ID is set; that app
# registration needs the application permissions User.Read.All and Application.Read.All.
PORTAL_GRAPH_CLIENT_ID = env_str("PORTAL_GRAPH_CLIENT_ID", "")
PORTAL_GRAPH_CLIENT_SECRET = env_str("PORTAL_GRAPH_CLIENT_SECRET", "")
# Empty: ENTRA_TENANT_ID / ENTRA_AUTHORITY.
PORTAL_GRAPH_TENANT_ID = env_str("PORTAL_GRAPH_TENANT_ID", "")
PORTAL_GRAPH_AUTHORITY = env_str("PORTAL_GRAPH_AUTHORITY", "").rstrip("/")
# Sovereign clouds (and tests) point these elsewhere.
PORTAL_GRAPH_BASE_URL = env_str("PORTAL_GRAPH_BASE_URL", "https://graph.microsoft.com").rstrip("/")
# A CA bundle (PEM) to trust for the authority and Graph, e.g. behind a TLS-inspecting proxy.
PORTAL_GRAPH_CA_BUNDLE = env_str("PORTAL_GRAPH_CA_BUNDLE", "")
# An id is asked again at most this often, found or not.
PORTAL_GRAPH_REFRESH_DAYS = env_int("PORTAL_GRAPH_REFRESH_DAYS", 7)
# At most this many ids per hourly run; the rest wait for the next runs.
PORTAL_GRAPH_MAX_IDS_PER_RUN = env_int("PORTAL_GRAPH_MAX_IDS_PER_RUN", 2000)

AUTHENTICATION_BACKENDS = [
    "aoai_portal.auth.backends.EntraOIDCBackend",
    "aoai_portal.auth.backends.BreakGlassBackend",
    "aoai_portal.auth.backends.RolePermissionBackend",
]
# mozilla-django-oidc: endpoints, client id and secret are derived from the ENTRA_* settings at
# request time (aoai_portal/auth/entra.py); these are the rest of its configuration.
_entra_base = f"{ENTRA_AUTHORITY}/{ENTRA_TENANT_ID}"
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{_entra_base}/oauth2/v2.0/authorize"
OIDC_OP_TOKEN_ENDPOINT = f"{_entra_base}/oauth2/v2.0/token"
OIDC_OP_JWKS_ENDPOINT = f"{_entra_base}/discovery/v2.0/keys"
OIDC_OP_USER_ENDPOINT = "https://graph.microsoft.com/oidc/userinfo"  # not used: claims come from the ID token
OIDC_RP_CLIENT_ID = ENTRA_CLIENT_ID
OIDC_RP_CLIENT_SECRET = ENTRA_CLIENT_SECRET
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid profile email"
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_TIMEOUT = env_int("ENTRA_HTTP_TIMEOUT_SECONDS", 10)
OIDC_CALLBACK_CLASS = "aoai_portal.auth.views.EntraAuthenticationCallbackView"
OIDC_AUTHENTICATE_CLASS = "aoai_portal.auth.views.EntraAuthenticationRequestView"
OIDC_OP_LOGOUT_URL_METHOD = "aoai_portal.auth.entra.entra_logout_url"

# --- Retention --------------------------------------------------------------------------------
PROMPT_RETENTION_DAYS = env_int("PROMPT_RETENTION_DAYS", 90)
FLAGGED_RETENTION_DAYS = env_int("FLAGGED_RETENTION_DAYS", 365)
# Whole months of requests kept besides the current one (older months are removed with their flags
# and review items; rollups stay). 0 = keep requests forever. See usage.retention.
REQUEST_RETENTION_MONTHS = env_int("REQUEST_RETENTION_MONTHS", 0)
# UTC months whose usage is kept per hour (UsageHourly), the current one included; older months are
# kept per day (the daily rollups), so the hourly rollup stops growing with the request table.
# 0 = hourly rows are kept forever. See usage.rollups.horizon.
PORTAL_HOURLY_ROLLUP_MONTHS = max(env_int("PORTAL_HOURLY_ROLLUP_MONTHS", 2), 0)

# --- Prompt review ----------------------------------------------------------------------------------
# National id patterns flagged by the "national_id" detector: a JSON object {"name": "regex"}.
REVIEW_NATIONAL_ID_PATTERNS = env_json_object(
    "REVIEW_NATIONAL_ID_PATTERNS",
    {
        "uk_nino": r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
    },
)
# Built-in detectors to skip (comma-separated names: email, phone, credit_card, iban, us_ssn,
# national_id, secret, jailbreak, azure_content_filter, azure_jailbreak, azure_indirect_attack,
# prompt_shields, classifier).
REVIEW_DISABLED_DETECTORS = env_list("REVIEW_DISABLED_DETECTORS", [])
# Azure AI Content Safety Prompt Shields (audit.shields), off unless both are set: the resource's
# endpoint (https://<name>.cognitiveservices.azure.com) and one of its keys. Every request's last user
# message and tool outputs are then sent to it; an attack becomes a "prompt_shields" flag.
REVIEW_PROMPT_SHIELDS_ENDPOINT = env_str("REVIEW_PROMPT_SHIELDS_ENDPOINT", "")
REVIEW_PROMPT_SHIELDS_KEY = env_str("REVIEW_PROMPT_SHIELDS_KEY", "")
# Per call; calls per evaluation batch (the rest waits for the next re-evaluation), at a time;
# the longest 429 Retry-After waited out (a longer one stops the batch's calls).
REVIEW_PROMPT_SHIELDS_TIMEOUT_SECONDS = float(env_int("REVIEW_PROMPT_SHIELDS_TIMEOUT_MS", 5000)) / 1000
REVIEW_PROMPT_SHIELDS_MAX_CALLS = env_int("REVIEW_PROMPT_SHIELDS_MAX_CALLS", 200)
REVIEW_PROMPT_SHIELDS_CONCURRENCY = env_int("REVIEW_PROMPT_SHIELDS_CONCURRENCY", 4)
REVIEW_PROMPT_SHIELDS_MAX_RETRY_AFTER_SECONDS = float(
    env_int("REVIEW_PROMPT_SHIELDS_MAX_RETRY_AFTER_SECONDS", 10)
)
# A local prompt-attack classifier installed as a package (audit.classifier), as
# "package.module:attribute"; empty = off. Its score from REVIEW_CLASSIFIER_THRESHOLD up is a flag.
REVIEW_CLASSIFIER = env_str("REVIEW_CLASSIFIER", "")
REVIEW_CLASSIFIER_THRESHOLD = env_float("REVIEW_CLASSIFIER_THRESHOLD", 0.9)
# Time limits of admin-defined regex rules: per text at run time, per probe when saving a rule.
REVIEW_RULE_TIMEOUT_SECONDS = float(env_int("REVIEW_RULE_TIMEOUT_MS", 500)) / 1000
REVIEW_RULE_VALIDATE_TIMEOUT_SECONDS = float(env_int("REVIEW_RULE_VALIDATE_TIMEOUT_MS", 200)) / 1000

# --- Security headers ----------------------------------------------------------------------------
SECURE_PRODUCTION = env_bool("DJANGO_SECURE", False)
SESSION_COOKIE_HTTPONLY = True
# A signed-in session lasts a working day; roles are re-read from Entra at the next sign-in.
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 12 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if SECURE_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies in front of the site: the access audit takes the client's address that many
# hops back in X-Forwarded-For, or REMOTE_ADDR when 0 (see docs/security.md).
PORTAL_TRUSTED_PROXIES = max(env_int("PORTAL_TRUSTED_PROXIES", 0), 0)
# Bearer token Prometheus sends to /metrics; unset = no /metrics at all (see docs/operations.md).
PORTAL_METRICS_TOKEN = env_str("PORTAL_METRICS_TOKEN", "")

# Every asset is served locally: nothing from a CDN, no inline scripts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # plotly.js sets inline styles on the SVG it draws.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"] + ([ENTRA_AUTHORITY] if ENTRA_TENANT_ID else []),
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "azure": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
    },
}

# Serve static files straight from STATICFILES_DIRS when collectstatic has not run (demo, tests).
WHITENOISE_USE_FINDERS = True
