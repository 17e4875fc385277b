"""Settings for every environment, driven by environment variables (see .env.example).

With no environment at all Kefu runs on the embedded default: SQLite in WAL mode, the
in-memory channel layer and background tasks on an in-process thread pool. Setting
DATABASE_URL and REDIS_URL switches to PostgreSQL (psycopg 3 pool), channels-redis and
Celery. With DEBUG off the process refuses to start on an unsafe configuration.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DEBUG", default=True)


def _development_secret() -> str:
    """A random key kept in var/ so sessions survive restarts of the dev server."""
    path = VAR_DIR / "dev-secret-key"
    if path.is_file():
        return path.read_text().strip()
    VAR_DIR.mkdir(exist_ok=True)
    key = secrets.token_urlsafe(64)
    path.write_text(key)
    path.chmod(0o600)
    return key


SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if DEBUG:
    SECRET_KEY = SECRET_KEY or _development_secret()
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
else:
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "daphne",
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "kefu.apps.KefuConfig",
    "bots.apps.BotsConfig",
    "bots.knowledge.apps.KnowledgeConfig",
    "analytics.apps.AnalyticsConfig",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "kefu.tracing.TraceIdMiddleware",
    "kefu.api.errors.JsonErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kefu.middleware.ActiveAgentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "kefu.urls"
WSGI_APPLICATION = "kefu.wsgi.application"
ASGI_APPLICATION = "kefu.asgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    _db = env.db_url("DATABASE_URL")
    if _db["ENGINE"] in ("django.db.backends.postgresql", "django_prometheus.db.backends.postgresql"):
        # Pooled connections; CONN_MAX_AGE > 0 leaks connections under ASGI.
        _db["ENGINE"] = "django.db.backends.postgresql"
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=1),
            "max_size": env.int("DB_POOL_MAX", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
        _db["OPTIONS"].setdefault("connect_timeout", 5)
else:
    VAR_DIR.mkdir(exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "kefu.sqlite3")),
        "OPTIONS": {
            # WAL lets readers work while a writer commits; IMMEDIATE takes the write
            # lock at BEGIN so concurrent senders queue instead of failing mid-transaction.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

# --- Redis, channel layer, cache, tasks ------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)

if REDIS_URL:
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's pool refuses (does not wait) past max_connections; bursts of
                # group_send from a busy process need more than its default of 100.
                "hosts": [
                    {"address": REDIS_URL, "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000)}
                ],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="kefu"),
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_PREFIX", default="kefu"),
            "OPTIONS": {
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                "pool_class": "kefu.redis_pool.SharedConnectionPool",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# CHANNEL_LAYER=pubsub (the default with Redis): pub/sub pushes to each process instead of
# every process popping one message per round trip; nothing is queued for an absent
# process, which the protocol tolerates (clients resume from the database). "core" keeps
# channels-redis' list-based layer. Compared in bench/chat (bench/results/chat-*.json).
if REDIS_URL and env.str("CHANNEL_LAYER", default="pubsub") == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {"address": REDIS_URL, "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000)}
                ],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="kefu"),
            },
        }
    }

# "celery": a real broker and worker; "thread": in-process pool (embedded default, never
# blocks the server); "eager": run inline (tests that want determinism).
KEFU_TASKS_MODE = env.str("KEFU_TASKS_MODE", default="celery" if CELERY_BROKER_URL else "thread")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 3}
# A key prefix lets several installations (or test runs) share one Redis without
# workers taking each other's tasks.
if env.str("CELERY_KEY_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env.str("CELERY_KEY_PREFIX")
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="kefu")
# Keep Django's LOGGING (JSON with trace ids) in the worker too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# Live chat housekeeping (kefu/tasks.py). In thread/eager mode the server runs these
# itself on its event loop (kefu/consumers/base.py), so no beat process is needed.
CELERY_BEAT_SCHEDULE.update(
    {
        "kefu-route-queues": {"task": "kefu.route_all_queues", "schedule": 30.0},
        "kefu-reassign-unanswered": {"task": "kefu.reassign_unanswered", "schedule": 15.0},
        "kefu-close-inactive": {"task": "kefu.close_inactive", "schedule": 60.0},
        "kefu-presence-sweep": {"task": "kefu.presence_sweep", "schedule": 30.0},
        "kefu-webhook-sweep": {"task": "kefu.webhook_sweep", "schedule": 30.0},
    }
)

# --- Auth, i18n, static -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/console/"

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "kefu" / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request otherwise

FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
KEFU_MAX_UPLOAD_BYTES = env.int("KEFU_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
KEFU_MAX_IMAGE_PIXELS = env.int("KEFU_MAX_IMAGE_PIXELS", default=40_000_000)
KEFU_MAX_MESSAGE_CHARS = env.int("KEFU_MAX_MESSAGE_CHARS", default=10_000)
KEFU_VISITOR_TOKEN_MAX_AGE = env.int("KEFU_VISITOR_TOKEN_MAX_AGE", default=7 * 24 * 3600)
KEFU_PUBLIC_URL = env.str("KEFU_PUBLIC_URL", default="http://127.0.0.1:8000")

# --- Live chat (kefu/consumers, kefu/ratelimit.py) ---------------------------------------
# Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); empty = none.
KEFU_TRUSTED_PROXIES = env.list("KEFU_TRUSTED_PROXIES", default=[])
# An agent whose last socket closed stays "online" this long (page reloads, flaky Wi-Fi).
KEFU_PRESENCE_GRACE_SECONDS = env.int("KEFU_PRESENCE_GRACE_SECONDS", default=30)
# Threads per server process for the sockets' database work (each holds a pooled connection).
KEFU_SOCKET_DB_THREADS = env.int("KEFU_SOCKET_DB_THREADS", default=8)
# Shared per-minute limits; 0 disables one. Benchmarks from one address raise the IP ones.
KEFU_RL_IP_CONNECTS_PER_MINUTE = env.int("KEFU_RL_IP_CONNECTS_PER_MINUTE", default=120)
KEFU_RL_VISITOR_CONNECTS_PER_MINUTE = env.int("KEFU_RL_VISITOR_CONNECTS_PER_MINUTE", default=30)
KEFU_RL_IP_MESSAGES_PER_MINUTE = env.int("KEFU_RL_IP_MESSAGES_PER_MINUTE", default=240)
KEFU_RL_IP_BOOTSTRAPS_PER_MINUTE = env.int("KEFU_RL_IP_BOOTSTRAPS_PER_MINUTE", default=60)
KEFU_RL_IP_UPLOADS_PER_MINUTE = env.int("KEFU_RL_IP_UPLOADS_PER_MINUTE", default=20)

# Keys for credentials encrypted at rest (first encrypts, all decrypt); SECRET_KEY if unset.
KEFU_ENCRYPTION_KEYS = env.list("KEFU_ENCRYPTION_KEYS", default=[])

# Bots: a provider's circuit opens after this many consecutive failures and lets one
# trial call through after the pause (seconds). Timeouts are per provider call.
KEFU_BREAKER_THRESHOLD = env.int("KEFU_BREAKER_THRESHOLD", default=5)
KEFU_BREAKER_PAUSE = env.float("KEFU_BREAKER_PAUSE", default=30.0)
KEFU_BOT_TIMEOUTS = {
    "connect": env.float("KEFU_BOT_CONNECT_TIMEOUT", default=5.0),
    "first_token": env.float("KEFU_BOT_FIRST_TOKEN_TIMEOUT", default=15.0),
    "idle": env.float("KEFU_BOT_IDLE_TIMEOUT", default=20.0),
    "total": env.float("KEFU_BOT_TOTAL_TIMEOUT", default=90.0),
}
# One bot turn's deadline from its start (hooks, transcription, the provider chain), in
# seconds; a turn still queued after it is handed to a human instead of answered late.
KEFU_BOT_TURN_DEADLINE = env.float("KEFU_BOT_TURN_DEADLINE", default=60.0)
# Per worker process: turns of one tenant running at once (the rest wait on the queue,
# not in a thread), and business-hook calls of one tenant in flight. 0: no bound on turns.
KEFU_BOT_TURNS_PER_TENANT = env.int("KEFU_BOT_TURNS_PER_TENANT", default=50)
KEFU_HOOK_CALLS_PER_TENANT = env.int("KEFU_HOOK_CALLS_PER_TENANT", default=32)
# "aiohttp": provider HTTP goes through the OpenAI SDK's aiohttp transport (measured
# cheaper per answer); "httpx" keeps httpx2's default transport.
KEFU_BOT_HTTP_BACKEND = env.str("KEFU_BOT_HTTP_BACKEND", default="aiohttp")
if KEFU_BOT_HTTP_BACKEND not in ("aiohttp", "httpx"):
    raise ImproperlyConfigured("KEFU_BOT_HTTP_BACKEND must be aiohttp or httpx")

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kefu.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kefu.api.auth.IsTenantMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kefu.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["kefu.api.throttling.IdentityRateThrottle"],
}
# Requests per minute: per API key, per signed-in agent, per IP for anonymous calls
# (0 disables one). Widget HTTP calls: per visitor and per IP.
KEFU_API_RATE_KEY_PER_MINUTE = env.int("KEFU_API_RATE_KEY_PER_MINUTE", default=6000)
KEFU_API_RATE_SESSION_PER_MINUTE = env.int("KEFU_API_RATE_SESSION_PER_MINUTE", default=1200)
KEFU_API_RATE_IP_PER_MINUTE = env.int("KEFU_API_RATE_IP_PER_MINUTE", default=120)
KEFU_RL_VISITOR_HTTP_PER_MINUTE = env.int("KEFU_RL_VISITOR_HTTP_PER_MINUTE", default=120)
KEFU_RL_IP_HTTP_PER_MINUTE = env.int("KEFU_RL_IP_HTTP_PER_MINUTE", default=600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Kefu API",
    "DESCRIPTION": (BASE_DIR / "kefu" / "api" / "description.md").read_text(encoding="utf-8"),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN. (Redoc is not served:
    # its page loads web fonts and a logo from the internet.)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": True},
}

# --- Outbound webhooks (kefu/services/webhooks.py) --------------------------------------
KEFU_WEBHOOK_TIMEOUT_SECONDS = env.float("KEFU_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
KEFU_WEBHOOK_MAX_ATTEMPTS = env.int("KEFU_WEBHOOK_MAX_ATTEMPTS", default=10)
# Backoff: a random delay between the base and base * 2^(attempt-1), capped (full jitter).
KEFU_WEBHOOK_RETRY_BASE_SECONDS = env.float("KEFU_WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
KEFU_WEBHOOK_RETRY_MAX_SECONDS = env.float("KEFU_WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# Consecutive failed attempts (over all its deliveries) that disable a subscription.
KEFU_WEBHOOK_DISABLE_AFTER = env.int("KEFU_WEBHOOK_DISABLE_AFTER", default=50)

# --- Observability ----------------------------------------------------------------------
# /metrics is served only to these client addresses, or to a request bearing METRICS_TOKEN.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"trace": {"()": "kefu.tracing.TraceIdLogFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {"format": "%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "console",
            "filters": ["trace"],
        }
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        "jieba": {"level": "WARNING"},
    },
}

# --- Email (offline-message notifications) ----------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="kefu@localhost")

# --- Outbound requests (SSRF guard) -----------------------------------------------------
# Hosts a tenant may point webhooks and AI providers at even though they are private
# (an on-premises model server). Comma-separated host names or CIDR ranges.
KEFU_OUTBOUND_ALLOWLIST = env.list("KEFU_OUTBOUND_ALLOWLIST", default=[])

# --- Production hardening ---------------------------------------------------------------
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
    # Probes come over plain HTTP from inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
