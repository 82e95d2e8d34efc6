"""Access Portal settings: one module, configured from environment variables.

Zero-setup defaults run the service on SQLite in development mode. Set
ACCESSPORTAL_MODE=production for a deployment (docs/deploy.md): it refuses to start without
DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, a PostgreSQL DATABASE_URL, CACHE_URL and
NOTIFY_REQUEST_URL, or with DJANGO_DEBUG on. A refusal is one line and exit status 2
(accessportal/startup.py).
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from csp import constants as csp
from django.core.exceptions import ImproperlyConfigured

from accessportal.envconfig import database_from_url, env_bool, env_int, env_list, env_str
from accessportal.logs.config import logging_config
from accessportal.metrics.config import worker_bind
from accessportal.security import development_secret_key, production_secret_key
from accessportal.sso.config import form_action_origins, oidc_apps

# --- Mode, secret key, hosts --------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent

MODE = env_str("ACCESSPORTAL_MODE", "development").lower()
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured("ACCESSPORTAL_MODE must be 'development' or 'production'")
PRODUCTION = MODE == "production"
# DJANGO_DEBUG is the only switch: a bare DEBUG variable is not read (other tools use that
# name for their own values, e.g. Node's `debug` module takes DEBUG=express:*).
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY")
    if PRODUCTION:  # strong, from the environment, never a development key
        return production_secret_key(key, BASE_DIR / ".dev-secret-key")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DEBUG is off")
    # A development key, generated once and kept beside the code (git-ignored) so that
    # sessions survive restarts; never used outside DEBUG.
    return development_secret_key(BASE_DIR / ".dev-secret-key")


SECRET_KEY = _secret_key()
# Old keys still accepted when checking signatures (sessions, password reset links, signed
# cookies) while a rotated SECRET_KEY takes over; comma-separated. docs/deploy.md, "Rotating
# the secret key".
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set in production mode")

# --- Applications, middleware, authentication (orders matter: see comments) ---------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally, no CDN
    "guardian",
    "django_scim",  # directory sync at /scim/v2/ (accessportal/scim)
    "policies_app",
    "requests_app",
    # Single sign-on (accessportal/sso): before allauth, so that its templates win.
    "accessportal.sso",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_htmx",  # the engineers' portal (requests_app/portal)
    "axes",  # login throttling (Hardening, below)
    "csp",  # Content-Security-Policy (Hardening, below)
    "accessportal.metrics",  # /metrics and the worker's exporter (Metrics, below)
]

MIDDLEWARE = [
    # First: the request id (X-Request-ID) on every log line of the request and its answer.
    "accessportal.logs.middleware.RequestIdMiddleware",
    # django-prometheus (Metrics, below): counts and times every request from here; its
    # second half, before axes at the end, labels them by view, method and status.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Under /api/, error answers written outside the API's views (Django's handlers and debug
    # pages, CSRF, its refusal of a bad Host header) in the API's JSON error shape, with the
    # headers the middlewares below set; outside them all.
    "requests_app.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (django-csp) on every response, the security
    # middleware's redirects and WhiteNoise's static files included.
    "csp.middleware.CSPMiddleware",
    # WhiteNoise serves /static/ (gunicorn has none): collected files in production, the
    # apps' folders in development; after the security middleware, whose redirect it keeps.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx for the portal's partial pages
    "allauth.account.middleware.AccountMiddleware",  # allauth's sign-in flows (SSO)
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # sees axes' lockout answers
    "axes.middleware.AxesMiddleware",  # django-axes wants to be last
]

# --- URLs, templates, database, static files ----------------------------------------------
ROOT_URLCONF = "accessportal.urls"
WSGI_APPLICATION = "accessportal.wsgi.application"

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
            ],
        },
    },
]

# Production requires a PostgreSQL DATABASE_URL (Production requirements, below): the
# SQLite default is for development only. A private name: the URL holds the password, and
# an upper-case name would be a setting (`diffsettings`, error reports) under a name that
# Django's filters do not hide.
_database_url = env_str("DATABASE_URL", "" if PRODUCTION else "sqlite:///db.sqlite3")
DATABASES = {
    "default": database_from_url(
        _database_url or "sqlite:///db.sqlite3",
        BASE_DIR,
        # django-prometheus' subclasses of the same backends count and time every query
        # (docs/operations.md, "Metrics"); METRICS_DB_QUERIES=false keeps Django's own.
        instrumented=env_bool("METRICS_DB_QUERIES", True),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # django-axes' lockout check (accessportal/login_throttle.py), first so that a locked-out
    # client is refused before any backend checks a password. It only authenticates: it
    # answers no permission question, so it does not stand in front of the role backend.
    "accessportal.login_throttle.LoginThrottleBackend",
    # Permissions of standing roles and of grants active at this instant (ARCHITECTURE.md).
    # First of the permission backends: has_perm() stops at the first backend that says yes,
    # and roles are where permissions come from here (one query; ModelBackend's user and
    # group permissions cost two more on every check, e.g. an integration's access check).
    "requests_app.backends.RolePermissionBackend",
    # Django's ModelBackend, with password sign-in limited to break-glass superusers when
    # ACCESSPORTAL_LOCAL_LOGIN is off (Single sign-on, below). Sessions name it.
    "accessportal.sso.backends.LocalPasswordBackend",
    # django-guardian's object permissions; on requests, view and review answer exactly
    # the visibility rule and `may_review` (requests_app/backends.py).
    "requests_app.backends.AccessRequestPermissionBackend",
    # Loads the user of a single sign-on session; authenticates nobody.
    "accessportal.sso.backends.SSOSessionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One convention for moments, with the zone named (accessportal/formats/en/formats.py).
FORMAT_MODULE_PATH = ["accessportal.formats"]

STATIC_URL = "static/"
# `manage.py collectstatic` copies every app's assets here (a deploy step, beside migrate).
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production: compressed copies and content-hashed names, cached by browsers for ever.
    # Development serves the apps' files as they are (no collectstatic needed).
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Development (and tests) serve the apps' own static folders, found per request.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = not PRODUCTION

LOGIN_URL = "login"

# --- REST API and its OpenAPI schema ------------------------------------------------------
# REST API (requests_app/api): JSON only, paginated lists, django-filter, one error handler
# for domain errors, rate limits, OpenAPI with local Swagger UI assets.
# The client's address (accessportal/client_address.py), for the login throttle and the
# API's rate limits alike: the number of reverse proxies in front of the service, each
# appending to X-Forwarded-For (1 behind deploy/nginx, load balancer or not); 0: the
# connection's address.
ACCESSPORTAL_TRUSTED_PROXIES = env_int("ACCESSPORTAL_TRUSTED_PROXIES", 0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token authentication, with token keys checked for shape before any query
        # (a NUL byte was a 500 on PostgreSQL).
        "requests_app.api.authentication.TokenAuthentication",
        # DRF's, with `code: csrf_failed` on a write without a valid CSRF token.
        "requests_app.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "requests_app.api.schema_hooks.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["requests_app.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "requests_app.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "requests_app.api.exceptions.exception_handler",
    # ASCII output: a lone surrogate echoed back in an error message cannot break rendering.
    "UNICODE_JSON": False,
    # API rate limits (DRF throttle scopes, counted per window in the default cache by
    # requests_app/api/throttling.py: set CACHE_URL to a Redis URL when several processes
    # serve the API, so they share one count). See docs/SECURITY.md.
    # Throttles count per accessportal.client_address.client_ip; DRF's own rule, for
    # anything else that asks it, trusts as many proxies.
    "NUM_PROXIES": ACCESSPORTAL_TRUSTED_PROXIES,
    "DEFAULT_THROTTLE_CLASSES": [
        "requests_app.api.throttling.AnonThrottle",
        "requests_app.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/minute"),
        "user": env_str("API_THROTTLE_USER", "1200/minute"),
        # POST /api/v1/auth/token/ (a password login), per client address.
        "auth_token": env_str("API_THROTTLE_AUTH_TOKEN", "20/minute"),
        # The CLI sign-in endpoints (auth/cli/token, auth/device, auth/device/token), per
        # client address; the device flow polls every 5 seconds.
        "cli_login": env_str("API_THROTTLE_CLI_LOGIN", "60/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Access Portal API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "DESCRIPTION": "Just-in-time access requests: roles and resources, reviews, bounded grants.",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Each operation's error answers: every status it can answer, `code` an enum of its codes.
    "ENUM_NAME_OVERRIDES": {
        "RequestStateEnum": "accessportal.kernel.choices.RequestState",
        "ReviewStateEnum": "accessportal.kernel.choices.ReviewState",
        "GrantStatusEnum": "requests_app.api.serializers.grants.GRANT_STATUSES",
        "ProvisioningStateEnum": "requests_app.api.serializers.grants.PROVISION_STATES",
        "AccessViaEnum": "requests_app.api.serializers.access.VIA",
        "DeviceFlowErrorEnum": "requests_app.api.views.cli_auth.DEVICE_FLOW_ERRORS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "requests_app.api.schema_hooks.query_parameters_not_empty",
        "requests_app.api.schema_hooks.paginated_examples_once",
        # Idempotency-Key, If-Match, ETag/Location/Idempotent-Replayed, 409/412/422.
        "requests_app.api.retry_schema.document_retries",
        # Last: every status each operation can answer, `code` an enum per status.
        "requests_app.api.serializers.errors.precise_errors",
    ],
}

# --- Access requests and the portal -------------------------------------------------------
# Access-request policy defaults (ARCHITECTURE.md, "Durations").
ACCESS_DEFAULT_DURATION = env_int("ACCESS_DEFAULT_DURATION", 8 * 3600)
ACCESS_MAX_DURATION = 14 * 24 * 3600
ACCESS_DEFAULT_REQUEST_TTL = env_int("ACCESS_DEFAULT_REQUEST_TTL", 24 * 3600)
ACCESS_MAX_REQUEST_TTL = 7 * 24 * 3600
ACCESS_MAX_START_DELAY = 7 * 24 * 3600
# Grant usage (issue 21): an access check or credential records use on its grants at most
# once per grant per USAGE_RECORD_INTERVAL seconds; "approved, never used" looks back
# USAGE_UNUSED_WINDOW days (reviewers' warning, admin filter, the unused-grants gauge).
USAGE_RECORD_INTERVAL = env_int("USAGE_RECORD_INTERVAL", 60)
USAGE_UNUSED_WINDOW = env_int("USAGE_UNUSED_WINDOW", 90)
# CSV exports (requests, audit events) refuse more rows than this (400 export_too_large:
# narrow the period), so one streams well within gunicorn's 30 s worker timeout; 0: no cap.
EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 10_000)
# Whom the portal tells people to ask for a role that allows requests (an address, a chat
# channel, a team's name): shown as written; unset says "your security team".
ACCESS_PORTAL_HELP_CONTACT = env_str("ACCESS_PORTAL_HELP_CONTACT", "")

# Engineers' portal (requests_app/portal): Django's sign-in views under /accounts/ in front
# of every page.
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

# --- Single sign-on (accessportal/sso; README "Single sign-on") ---------------------------
# OpenID Connect providers, one sign-in button each: a JSON list of {id, name, issuer,
# client_id, secret | secret_env, scopes}; each needs a `kind: sso_mapping` named after its id.
ACCESSPORTAL_OIDC_PROVIDERS = oidc_apps(
    env_str("ACCESSPORTAL_OIDC_PROVIDERS"), production=PRODUCTION
)
# Off: password sign-in (portal, admin, API token login) only for break-glass superusers:
# those named in ACCESSPORTAL_BREAK_GLASS_USERS, or every superuser when it names nobody.
ACCESSPORTAL_LOCAL_LOGIN = env_bool("ACCESSPORTAL_LOCAL_LOGIN", True)
ACCESSPORTAL_BREAK_GLASS_USERS = env_list("ACCESSPORTAL_BREAK_GLASS_USERS")
# django-allauth, for the providers only: no local signup, password or email flows of its own.
SOCIALACCOUNT_ONLY = True
ACCOUNT_EMAIL_VERIFICATION = "none"  # required by SOCIALACCOUNT_ONLY; the IdP verifies
ACCOUNT_LOGIN_METHODS = {"username"}
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never sign in to an account by its email
SOCIALACCOUNT_LOGIN_ON_GET = False  # the buttons are POST forms (CSRF)
SOCIALACCOUNT_STORE_TOKENS = False  # the IdP's tokens are not kept
SOCIALACCOUNT_ADAPTER = "accessportal.sso.adapter.PortalSocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "provider_class": "accessportal.sso.oidc.provider.HardenedOIDCProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": ACCESSPORTAL_OIDC_PROVIDERS,
    }
}
# The callback URL's scheme behind a TLS-terminating proxy.
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"

# --- Workers and notifications (README: "Workers and notifications") -------------------
# Production defaults to Redis on localhost. Development without CELERY_BROKER_URL uses an
# embedded broker: kombu's filesystem transport in .celery/, served by the real worker that
# `python3 dev.py demo` starts (same tasks, no other code path).
CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0" if PRODUCTION else "filesystem://"
)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's consumer, made to survive a lost Redis connection (accessportal/worker_consumer.py).
CELERY_WORKER_CONSUMER = "accessportal.worker_consumer:Consumer"
# What a task prints (Django's console email backend: whole emails) is logged at INFO,
# not Celery's default WARNING.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
# Celery 6's default (no task here acks late, so nothing is cancelled); silences its warning.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A web request must not hang on a dead broker: fail fast, the sweeps do the work later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# How long a web request waits for its after-commit publish (seconds); a slower broker is
# published to in the background, and what never gets there is done by the sweeps.
WORKER_PUBLISH_TIMEOUT = env_int("ACCESSPORTAL_PUBLISH_TIMEOUT_MS", 500) / 1000
WORKER_ETA_HORIZON = env_int("ACCESSPORTAL_ETA_HORIZON", 3600)  # longer waits: the sweeps
WORKER_SWEEP_INTERVAL = env_int("ACCESSPORTAL_SWEEP_INTERVAL", 60)
WORKER_RESYNC_INTERVAL = env_int("ACCESSPORTAL_RESYNC_INTERVAL", 900)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _BROKER_DIR = BASE_DIR / ".celery" / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR),
        "data_folder_out": str(_BROKER_DIR),
        "control_folder": str(BASE_DIR / ".celery" / "control"),
        "store_processed": False,
    }
# Redis broker options (tests that switch the broker to a Redis use them too).
REDIS_BROKER_TRANSPORT_OPTIONS = {
    # Above the ETA horizon, so messages waiting for their ETA are not redelivered.
    "visibility_timeout": 2 * WORKER_ETA_HORIZON,
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    "global_keyprefix": env_str("CELERY_REDIS_KEY_PREFIX"),
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_BROKER_TRANSPORT_OPTIONS
_SWEEPS = {
    "expire-due-requests": "expire_due_requests",
    "activate-due-grants": "activate_due_grants",
    "end-due-grants": "end_due_grants",
    "warn-ending-grants": "warn_ending_grants",
    # Reminder and escalation tiers of pending requests (docs/notifications.md).
    "remind-pending-requests": "remind_pending_requests",
    "dispatch-due-notifications": "dispatch_due_notifications",
    "apply-due-review-rules": "apply_due_review_rules",
}
# --- Audit anchors (README: "Audit log"; docs/SECURITY.md) --------------------------------
# Signed checkpoints of the audit chain, written outside the database. Keys and secrets come
# from the environment only, never from the database its owner controls.
AUDIT_ANCHOR_INTERVAL = env_int("AUDIT_ANCHOR_INTERVAL", 3600)  # seconds; 0: no periodic one
AUDIT_ANCHOR_FILE = env_str("AUDIT_ANCHOR_FILE")  # append-only JSON lines
AUDIT_ANCHOR_WEBHOOK_URL = env_str("AUDIT_ANCHOR_WEBHOOK_URL")  # a URL, or env:NAME
AUDIT_ANCHOR_WEBHOOK_SECRET = env_str("AUDIT_ANCHOR_WEBHOOK_SECRET")  # signs the request
AUDIT_ANCHOR_KEY = env_str("AUDIT_ANCHOR_KEY")  # HS256 (JWS) key, >= 32 characters
AUDIT_ANCHOR_PRIVATE_KEY_FILE = env_str("AUDIT_ANCHOR_PRIVATE_KEY_FILE")  # Ed25519 PEM: signs
AUDIT_ANCHOR_PUBLIC_KEY_FILE = env_str("AUDIT_ANCHOR_PUBLIC_KEY_FILE")  # Ed25519 PEM: verifies
if AUDIT_ANCHOR_KEY and len(AUDIT_ANCHOR_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_ANCHOR_KEY must be at least 32 characters")
if AUDIT_ANCHOR_WEBHOOK_URL and not AUDIT_ANCHOR_WEBHOOK_SECRET:
    raise ImproperlyConfigured("AUDIT_ANCHOR_WEBHOOK_URL needs AUDIT_ANCHOR_WEBHOOK_SECRET")
_AUDIT_ANCHOR_SCHEDULE = (
    {
        "dispatch-audit-anchor": {
            "task": "requests_app.tasks.dispatch_audit_anchor",
            "schedule": float(AUDIT_ANCHOR_INTERVAL),
            "options": {"expires": float(AUDIT_ANCHOR_INTERVAL)},
        }
    }
    if AUDIT_ANCHOR_INTERVAL > 0
    else {}
)
# Evidence bundles (requests_app/services/evidence.py): at most this many other audit events
# linked in one bundle's chain proof (~200 bytes each); 0: no limit.
EVIDENCE_MAX_LINKS = env_int("EVIDENCE_MAX_LINKS", 100_000)
if EVIDENCE_MAX_LINKS < 0:
    raise ImproperlyConfigured("EVIDENCE_MAX_LINKS must be >= 0 (0: no limit)")
# Retention (requests_app/services/retention.py; docs/deploy.md, "Retention"): reasons and
# notification bodies of requests finished more than RETENTION_PURGE_AFTER_DAYS days ago are
# replaced by purged markers (their hashes), daily on beat. 0 (the default): never purged.
RETENTION_PURGE_AFTER_DAYS = env_int("RETENTION_PURGE_AFTER_DAYS", 0)
RETENTION_PURGE_INTERVAL = env_int("RETENTION_PURGE_INTERVAL", 86400)  # seconds between runs
if RETENTION_PURGE_AFTER_DAYS < 0 or RETENTION_PURGE_INTERVAL < 1:
    raise ImproperlyConfigured(
        "RETENTION_PURGE_AFTER_DAYS must be >= 0 (0: never) and RETENTION_PURGE_INTERVAL >= 1"
    )
_RETENTION_SCHEDULE = (
    {
        "retention-purge": {
            "task": "requests_app.tasks.retention_purge_due",
            "schedule": float(RETENTION_PURGE_INTERVAL),
            "options": {"expires": float(RETENTION_PURGE_INTERVAL)},
        }
    }
    if RETENTION_PURGE_AFTER_DAYS > 0
    else {}
)
# Provisioning (requests_app/services/provisioning; docs/provisioning.md). A failed call
# is retried after PROVISION_RETRY_BACKOFF seconds, doubled per failure up to the _MAX; a
# worker's claim on an assignment lasts PROVISION_CLAIM_LEASE (longer than any call may
# take: a target's `timeout` is at most 300 s). The sweep runs due assignments every
# PROVISION_SWEEP_INTERVAL, the reconciler compares every target every
# PROVISION_RECONCILE_INTERVAL seconds.
# The environment variables a provisioning target's `*_env` setting may name besides
# PROVISION_* (docs/provisioning.md): comma-separated, e.g. LDAP_PORTAL_PASSWORD,BILLING_DSN.
ACCESSPORTAL_PROVISION_SECRET_NAMES = env_list("ACCESSPORTAL_PROVISION_SECRET_NAMES")
PROVISION_RETRY_BACKOFF = env_int("PROVISION_RETRY_BACKOFF", 30)
PROVISION_RETRY_BACKOFF_MAX = env_int("PROVISION_RETRY_BACKOFF_MAX", 3600)
PROVISION_CLAIM_LEASE = env_int("PROVISION_CLAIM_LEASE", 600)
PROVISION_SWEEP_INTERVAL = env_int("PROVISION_SWEEP_INTERVAL", 30)
PROVISION_RECONCILE_INTERVAL = env_int("PROVISION_RECONCILE_INTERVAL", 300)
if PROVISION_CLAIM_LEASE <= 300 or min(PROVISION_SWEEP_INTERVAL, PROVISION_RECONCILE_INTERVAL) < 1:
    raise ImproperlyConfigured(
        "PROVISION_CLAIM_LEASE must be longer than 300 s (the longest call to a target), and "
        "PROVISION_SWEEP_INTERVAL and PROVISION_RECONCILE_INTERVAL at least 1 s"
    )
# Health and readiness (requests_app/health; docs/operations.md): /readyz's thresholds.
HEALTH_BROKER_TIMEOUT = env_int("HEALTH_BROKER_TIMEOUT", 1)  # seconds the broker has to answer
HEALTH_HEARTBEAT_INTERVAL = env_int("HEALTH_HEARTBEAT_INTERVAL", 30)  # beat sends a heartbeat
HEALTH_HEARTBEAT_MAX_AGE = env_int("HEALTH_HEARTBEAT_MAX_AGE", 120)  # older: not ready
HEALTH_OUTBOX_BACKLOG_MAX = env_int("HEALTH_OUTBOX_BACKLOG_MAX", 1000)  # notification work due
HEALTH_OUTBOX_OLDEST_MAX_AGE = env_int("HEALTH_OUTBOX_OLDEST_MAX_AGE", 3600)  # undelivered
HEALTH_MIGRATIONS_CACHE = env_int("HEALTH_MIGRATIONS_CACHE", 60)  # keep "all applied" (s)
if not 0 < HEALTH_BROKER_TIMEOUT <= 10 or HEALTH_HEARTBEAT_INTERVAL < 1:
    raise ImproperlyConfigured(
        "HEALTH_BROKER_TIMEOUT must be between 1 and 10 s, HEALTH_HEARTBEAT_INTERVAL >= 1"
    )
if HEALTH_HEARTBEAT_MAX_AGE <= HEALTH_HEARTBEAT_INTERVAL:
    raise ImproperlyConfigured(
        "HEALTH_HEARTBEAT_MAX_AGE must be longer than HEALTH_HEARTBEAT_INTERVAL"
    )
# A load balancer or kubelet probes over plain HTTP: no redirect to HTTPS for the probes
# (production's SECURE_SSL_REDIRECT, below). Paths without their leading slash.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
CELERY_BEAT_SCHEDULE = {
    name: {
        "task": f"requests_app.tasks.{task}",
        "schedule": float(WORKER_SWEEP_INTERVAL),
        # A sweep nobody ran in time is dropped: the next one does the same work.
        "options": {"expires": float(WORKER_SWEEP_INTERVAL)},
    }
    for name, task in _SWEEPS.items()
} | {
    "resync-request-permissions": {
        "task": "requests_app.tasks.resync_request_permissions",
        "schedule": float(WORKER_RESYNC_INTERVAL),
        "options": {"expires": float(WORKER_RESYNC_INTERVAL)},
    },
    **_AUDIT_ANCHOR_SCHEDULE,
    **_RETENTION_SCHEDULE,
    # Provisioning: assignments due (lost messages, retries after backoff), and the
    # reconciler comparing every target with what should be.
    "provision-due": {
        "task": "requests_app.tasks.provision_due",
        "schedule": float(PROVISION_SWEEP_INTERVAL),
        "options": {"expires": float(PROVISION_SWEEP_INTERVAL)},
    },
    "provision-reconcile": {
        "task": "requests_app.tasks.provision_reconcile",
        "schedule": float(PROVISION_RECONCILE_INTERVAL),
        "options": {"expires": float(PROVISION_RECONCILE_INTERVAL)},
    },
    # Access reviews: scheduled starts, reminders, and the deadline (requests_app.tasks).
    "access-reviews-due": {
        "task": "requests_app.tasks.access_reviews_due",
        "schedule": float(WORKER_SWEEP_INTERVAL),
        "options": {"expires": float(WORKER_SWEEP_INTERVAL)},
    },
    # /readyz's worker and beat heartbeats: sent by beat, recorded by the worker that runs
    # it; dropped when not run within one interval (requests_app.tasks.heartbeat).
    "heartbeat": {
        "task": "requests_app.tasks.heartbeat",
        "schedule": float(HEALTH_HEARTBEAT_INTERVAL),
        "kwargs": {"sent_by": "beat"},
        "options": {"expires": float(HEALTH_HEARTBEAT_INTERVAL)},
    },
}
# Where beat remembers when each sweep last ran (Celery's default name, in the working
# directory, in production; beside the code in development).
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME",
    "celerybeat-schedule" if PRODUCTION else str(BASE_DIR / ".celery" / "beat-schedule"),
)

# --- Beat lock (docs/deploy.md "Several machines"): a second beat is a harmless standby. --
# With a Redis broker, beat keeps its schedule in Redis and holds a lock there
# (celery-redbeat, chosen over a scheduler of our own: maintained, its lock is redis-py's;
# accessportal/beat.py makes it ride out Redis outages and the loss of Redis's data). The
# leader extends the lock on every tick, at least every BEAT_LOCK_TIMEOUT/6 seconds, and
# before each send; a second beat waits for it, trying as often, and takes over within
# BEAT_LOCK_TIMEOUT × 7/6 seconds of the leader's last tick (killed, its machine gone). The
# development broker (filesystem) keeps Celery's own scheduler and schedule file
# (CELERY_BEAT_SCHEDULE_FILENAME): run one beat there.
BEAT_LOCK_TIMEOUT = env_int("BEAT_LOCK_TIMEOUT", 30)
if BEAT_LOCK_TIMEOUT < 6:
    raise ImproperlyConfigured("BEAT_LOCK_TIMEOUT must be at least 6 seconds")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BEAT_SCHEDULER = "accessportal.beat:LockedScheduler"
    CELERY_BEAT_MAX_LOOP_INTERVAL = BEAT_LOCK_TIMEOUT // 6
    # celery-redbeat's own settings (accessportal/celery.py hands them to Celery: they are
    # read by their names, outside the CELERY_ namespace).
    REDBEAT_CONF = {
        "redbeat_redis_url": CELERY_BROKER_URL,
        # Beside the broker's keys, under the same prefix (CELERY_REDIS_KEY_PREFIX).
        "redbeat_key_prefix": f"{REDIS_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}redbeat:",
        "redbeat_lock_timeout": BEAT_LOCK_TIMEOUT,
        # A tick that meets a Redis error is tried again at the next (accessportal/beat.py).
        "redbeat_redis_options": {"socket_connect_timeout": 2, "socket_timeout": 10},
    }

ACCESS_EXPIRY_WARNING = env_int("ACCESS_EXPIRY_WARNING", 15 * 60)  # warn this long before
# One-time review links in reviewers' emails (docs/notifications.md): each lives this long
# (seconds), and never past the request's pending time; 0 sends no links.
ACCESSPORTAL_REVIEW_LINK_TTL = env_int("ACCESSPORTAL_REVIEW_LINK_TTL", 8 * 3600)
# Deprovisioning (SCIM deactivation, an admin unticking "active") also makes the person's
# reviews on still-pending requests stop counting toward thresholds; off keeps them counting.
ACCESSPORTAL_DEPROVISION_VOIDS_REVIEWS = env_bool("ACCESSPORTAL_DEPROVISION_VOIDS_REVIEWS", True)
# The two-person rule for policy changes (README "Two-person rule for policy changes"): on,
# apply_policies, the admin and the API propose changes that another person approves.
POLICY_CHANGES_REQUIRE_APPROVAL = env_bool("POLICY_CHANGES_REQUIRE_APPROVAL", False)

# `accessctl login --sso` (requests_app/services/cli_login.py; README "Command-line client").
# Lifetime of the API token a CLI sign-in mints, in seconds (default 12 hours).
ACCESSPORTAL_CLI_TOKEN_TTL = env_int("ACCESSPORTAL_CLI_TOKEN_TTL", 12 * 3600)
# The loopback flow's one-time code lives this long; the device flow's codes live DEVICE_TTL.
ACCESSPORTAL_CLI_CODE_TTL = env_int("ACCESSPORTAL_CLI_CODE_TTL", 60)
ACCESSPORTAL_CLI_DEVICE_TTL = env_int("ACCESSPORTAL_CLI_DEVICE_TTL", 600)
ACCESSPORTAL_CLI_DEVICE_INTERVAL = env_int("ACCESSPORTAL_CLI_DEVICE_INTERVAL", 5)
# Wrong user codes a signed-in person may enter on /cli/device/ per 15 minutes.
ACCESSPORTAL_CLI_USER_CODE_GUESSES = env_int("ACCESSPORTAL_CLI_USER_CODE_GUESSES", 10)
# Signed access credentials (requests_app/services/credentials.py; README "Signed access
# credentials"): short-lived JWTs of a user's open access, verified downstream with the JWKS.
# The key that encrypts the signing keys at rest: 32 bytes, base64. Unset: derived from
# SECRET_KEY (HKDF), so rotating SECRET_KEY then needs `manage.py credential_keys rotate --now`.
ACCESSPORTAL_CREDENTIAL_KEY = env_str("ACCESSPORTAL_CREDENTIAL_KEY")
if ACCESSPORTAL_CREDENTIAL_KEY:
    try:
        _credential_key_bytes = base64.b64decode(ACCESSPORTAL_CREDENTIAL_KEY, validate=True)
    except (binascii.Error, ValueError):
        _credential_key_bytes = b""
    if len(_credential_key_bytes) != 32:
        raise ImproperlyConfigured(
            "ACCESSPORTAL_CREDENTIAL_KEY must be 32 bytes in base64 "
            "(python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())')"
        )
CREDENTIAL_ISSUER = env_str("CREDENTIAL_ISSUER", "accessportal")  # the `iss` claim
CREDENTIAL_AUDIENCE = env_str("CREDENTIAL_AUDIENCE", "accessportal")  # `aud` by default
# Other audiences a caller may ask for (`audience` in POST /api/v1/credentials/).
CREDENTIAL_AUDIENCES = env_list("CREDENTIAL_AUDIENCES")
# The longest a credential lives, in seconds (it ends sooner with the caller's first grant).
CREDENTIAL_MAX_LIFETIME = env_int("CREDENTIAL_MAX_LIFETIME", 300)
if not 1 <= CREDENTIAL_MAX_LIFETIME <= 3600:
    raise ImproperlyConfigured("CREDENTIAL_MAX_LIFETIME must be between 1 and 3600 seconds")
# A rotated-in key is in the JWKS this long before it signs: longer than downstream caches
# keep the JWKS (it is served with max-age CREDENTIAL_JWKS_MAX_AGE).
CREDENTIAL_KEY_PUBLISH_AHEAD = env_int("CREDENTIAL_KEY_PUBLISH_AHEAD", 600)
CREDENTIAL_JWKS_MAX_AGE = env_int("CREDENTIAL_JWKS_MAX_AGE", 300)
CREDENTIAL_ALG = env_str("CREDENTIAL_ALG", "EdDSA")  # of new keys: EdDSA (Ed25519) or ES256
if CREDENTIAL_ALG not in {"EdDSA", "ES256"}:
    raise ImproperlyConfigured("CREDENTIAL_ALG must be EdDSA or ES256")
if CREDENTIAL_KEY_PUBLISH_AHEAD < 0 or CREDENTIAL_JWKS_MAX_AGE < 0:
    raise ImproperlyConfigured(
        "CREDENTIAL_KEY_PUBLISH_AHEAD and CREDENTIAL_JWKS_MAX_AGE cannot be negative"
    )

NOTIFY_EMAIL_USERS = env_bool("NOTIFY_EMAIL_USERS", True)  # email the people concerned
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 8)
NOTIFY_RETRY_BACKOFF = env_int("NOTIFY_RETRY_BACKOFF", 30)  # doubled after each failure
NOTIFY_RETRY_BACKOFF_MAX = env_int("NOTIFY_RETRY_BACKOFF_MAX", 3600)
NOTIFY_HTTP_TIMEOUT = env_int("NOTIFY_HTTP_TIMEOUT", 10)
# --- On-call sources for review rules (README "Review rules") ------------------------------
# `oncall("schedule")` asks PagerDuty or Opsgenie; tokens come from here, never from policy
# files. The base URLs change only for tests (a fake server on 127.0.0.1) or an EU account.
ONCALL_PAGERDUTY_URL = env_str("ONCALL_PAGERDUTY_URL", "https://api.pagerduty.com")
ONCALL_PAGERDUTY_TOKEN = env_str("ONCALL_PAGERDUTY_TOKEN")  # a read-only REST API key
ONCALL_OPSGENIE_URL = env_str("ONCALL_OPSGENIE_URL", "https://api.opsgenie.com")
ONCALL_OPSGENIE_KEY = env_str("ONCALL_OPSGENIE_KEY")  # an API integration key (read)
ONCALL_CA_FILE = env_str("ONCALL_CA_FILE")  # PEM bundle to trust instead of the system's
ONCALL_TIMEOUT = env_int("ONCALL_TIMEOUT", 5)  # seconds per call; then oncall() is false
ONCALL_CACHE_SECONDS = env_int("ONCALL_CACHE_SECONDS", 60)  # how long an answer is reused
# How long a failed lookup is remembered (oncall() false at once, no new wait on the source).
ONCALL_FAILURE_CACHE_SECONDS = env_int("ONCALL_FAILURE_CACHE_SECONDS", 30)
# Review rules are applied after a request is created; the sweep catches requests whose
# message was lost once they are this old (seconds), and looks back at most a day.
REVIEW_RULES_SWEEP_GRACE = env_int("REVIEW_RULES_SWEEP_GRACE", 120)
NOTIFY_CLAIM_LEASE = env_int("NOTIFY_CLAIM_LEASE", 300)  # a killed sender's claim runs out
if NOTIFY_CLAIM_LEASE <= NOTIFY_HTTP_TIMEOUT or NOTIFY_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(
        "NOTIFY_CLAIM_LEASE must be longer than NOTIFY_HTTP_TIMEOUT, and NOTIFY_MAX_ATTEMPTS >= 1"
    )
# The link to a request in notifications; required in production (Production requirements).
NOTIFY_REQUEST_URL = env_str(
    "NOTIFY_REQUEST_URL", "" if PRODUCTION else "http://127.0.0.1:8000/requests/{id}/"
)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    # development: one log line per email, the body at DEBUG (accessportal/logs/mail.py)
    else "accessportal.logs.mail.LogEmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = NOTIFY_HTTP_TIMEOUT
EMAIL_SUBJECT_PREFIX = env_str("EMAIL_SUBJECT_PREFIX", "[Access Portal]")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Access Portal <access-portal@localhost>")

# --- Directory sync (README: "Directory sync (SCIM)") ---------------------------------------
# django-scim2 serves the protocol; accessportal/scim holds our adapters, the bearer-token
# check (one token per provider, `manage.py scim_token`), scoping and filters.
SCIM_SERVICE_PROVIDER = {
    "USER_ADAPTER": "accessportal.scim.adapters.PortalSCIMUser",
    "GROUP_ADAPTER": "accessportal.scim.adapters.PortalSCIMGroup",
    "GROUP_MODEL": "policies_app.models.DirectoryGroup",
    "USER_FILTER_PARSER": "accessportal.scim.filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "accessportal.scim.filters.GroupFilterQuery",
    "AUTH_CHECK_MIDDLEWARE": "accessportal.scim.auth.BearerTokenSCIMAuth",
    "SERVICE_PROVIDER_CONFIG_MODEL": "accessportal.scim.config.ServiceProviderConfig",
    "BASE_LOCATION_GETTER": "accessportal.scim.scoping.base_location",
    "GET_EXTRA_MODEL_FILTER_KWARGS_GETTER": "accessportal.scim.scoping.extra_filter_kwargs_getter",
    "GET_OBJECT_POST_PROCESSOR_GETTER": "accessportal.scim.scoping.object_post_processor_getter",
    "GET_QUERYSET_POST_PROCESSOR_GETTER": (
        "accessportal.scim.scoping.queryset_post_processor_getter"
    ),
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="scim"',
    "NETLOC": "unused",  # locations use the host the provider called (scoping.base_location)
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token per identity provider: manage.py scim_token <provider>",
            "primary": True,
        }
    ],
}

# --- Metrics (docs/operations.md "Metrics"; accessportal/metrics) -------------------------
# GET /metrics (Prometheus text format). Production serves it only to
# `Authorization: Bearer <METRICS_TOKEN>` and answers 404 without a token; development
# serves loopback. PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself) is where
# gunicorn's and Celery's processes write their values; each server gets its own folder.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Seconds the database-derived gauges are kept in the cache (0: read at every scrape).
METRICS_DB_CACHE = env_int("METRICS_DB_CACHE", 15)
# Counted gauges stop counting past this many rows (the value then means "more than").
METRICS_COUNT_LIMIT = env_int("METRICS_COUNT_LIMIT", 10000)
# host:port of a Celery worker's own /metrics (same token); unset: no worker exporter.
METRICS_WORKER_BIND = worker_bind(env_str("METRICS_WORKER_BIND"))
if METRICS_DB_CACHE < 0 or METRICS_COUNT_LIMIT < 1:
    raise ImproperlyConfigured("METRICS_DB_CACHE must be >= 0 and METRICS_COUNT_LIMIT >= 1")
# django-prometheus: no scan of the migrations at start-up (/readyz checks them).
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Logs (README "Logs", docs/operations.md): JSON in production, text in development; ----
# --- request ids, users and task ids on every line; secrets redacted (accessportal/logs). --
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text").lower()
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)


# --- Hardening (docs/SECURITY.md): login throttling, CSP, sessions, the rate limits' cache, -
# --- and in production mode TLS-only cookies, HSTS and the SSL redirect. ------------------
# (The apps, middleware and backends they need are in INSTALLED_APPS, MIDDLEWARE and
# AUTHENTICATION_BACKENDS above; the API's rate limits in REST_FRAMEWORK.)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production mode")

# Password guessing: after AXES_FAILURE_LIMIT failures for one user name, or from one
# address, sign-in is refused (429) for AXES_COOLOFF_MINUTES; `manage.py axes_reset` unlocks.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [
    p.split("+") if "+" in p else p
    for p in env_list("AXES_LOCKOUT_PARAMETERS", ["username", "ip_address"])
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accessportal.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accessportal.client_address.client_ip"

# Sessions end after SESSION_COOKIE_AGE seconds without a request (sliding expiry).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# JSON (`code: csrf_failed`) under /api/, Django's page elsewhere.
CSRF_FAILURE_VIEW = "requests_app.api.views.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): only this origin's scripts, styles and images; no
# plugins, no framing. A template that needs an inline script gives it
# nonce="{{ request.csp_nonce }}".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        # The sign-in buttons' forms are redirected to the identity providers.
        "form-action": [csp.SELF, *form_action_origins(ACCESSPORTAL_OIDC_PROVIDERS)],
        "frame-ancestors": [csp.NONE],
    },
}

# The API's rate limits (REST_FRAMEWORK, above) count in this cache; required in production
# (Production requirements, below). Unset in development: each process's own memory.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
        }
    }

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    # Opt-in: they commit every subdomain of the portal's domain (and, once on the
    # browsers' preload list, for months) to HTTPS, a decision for the domain's owner.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if SECURE_HSTS_PRELOAD and not SECURE_HSTS_INCLUDE_SUBDOMAINS:
        raise ImproperlyConfigured(
            "SECURE_HSTS_PRELOAD needs SECURE_HSTS_INCLUDE_SUBDOMAINS=true "
            "(the browsers' preload list accepts only domains that include subdomains)"
        )
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
    # Behind a TLS-terminating proxy: the header it sets, e.g. "X-Forwarded-Proto: https".
    # Set only when the proxy always sets (or strips) that header, or clients could fake it.
    if _proxy_ssl := env_str("SECURE_PROXY_SSL_HEADER"):
        _header, _, _value = _proxy_ssl.partition(":")
        if not _value.strip():
            raise ImproperlyConfigured(
                "SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https'"
            )
        SECURE_PROXY_SSL_HEADER = (
            "HTTP_" + _header.strip().upper().replace("-", "_"),
            _value.strip(),
        )


# --- Production requirements (docs/deploy.md): refused at start-up, all problems at once --
def _notify_request_url_problem(url: str) -> str | None:
    example = "e.g. https://access.example.com/requests/{id}/"
    if not url:
        return (
            "NOTIFY_REQUEST_URL must be set in production (the link to a request in "
            f"notifications, {example})"
        )
    try:
        url.format(id=1)
    except (IndexError, KeyError, ValueError):
        return f"NOTIFY_REQUEST_URL may hold no braces but {{id}} ({example})"
    parts = urlsplit(url)
    absolute_https = parts.scheme == "https" and parts.hostname
    if "{id}" not in url or (PRODUCTION and not absolute_https):
        kind = "an absolute https:// URL" if PRODUCTION else "a URL"
        return f"NOTIFY_REQUEST_URL must be {kind} containing {{id}} ({example})"
    return None


def _cache_url_problem(url: str) -> str | None:
    if PRODUCTION and not url:
        return "CACHE_URL must be set in production (a redis:// URL shared by all web processes)"
    if url and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        return "CACHE_URL must be a redis://, rediss:// or unix:// URL"
    return None


def _database_url_problem(url: str) -> str | None:
    # Django's backend or django-prometheus' subclass of it (METRICS_DB_QUERIES).
    if PRODUCTION and not DATABASES["default"]["ENGINE"].endswith(".backends.postgresql"):
        what = "must be set" if not url else "must be a PostgreSQL URL"
        return (
            f"DATABASE_URL {what} in production (postgres://USER:PASSWORD@HOST:5432/NAME); "
            "SQLite is for development only"
        )
    return None


def _metrics_token_problem(token: str) -> str | None:
    # Unset is allowed (no /metrics; `check` warns). Set, it guards a page anyone who can
    # reach the proxy may ask for: nothing guessable, no placeholder from the example file.
    if PRODUCTION and token and (len(token) < 24 or len(set(token)) < 8 or "change-me" in token):
        return (
            "METRICS_TOKEN is too weak for production (at least 24 random characters; "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return None


_problems = [
    problem
    for problem in (
        _database_url_problem(_database_url),
        _metrics_token_problem(METRICS_TOKEN),
        _notify_request_url_problem(NOTIFY_REQUEST_URL),
        _cache_url_problem(CACHE_URL),
    )
    if problem
]
if _problems:
    raise ImproperlyConfigured("; ".join(_problems))

SILENCED_SYSTEM_CHECKS = [
    # guardian.W001 looks for its own backend by name; ours (AUTHENTICATION_BACKENDS) is
    # its subclass.
    "guardian.W001",
    # HSTS include-subdomains and preload are opt-in (Hardening, above): `check --deploy`
    # stays clean without them.
    "security.W005",
    "security.W021",
]
