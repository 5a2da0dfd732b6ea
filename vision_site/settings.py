"""The one settings module of vision_site, driven by environment variables.

Defaults work on a developer machine (local PostgreSQL with trust auth, local Redis).
With ``VISION_ENV=production`` the secrets have no defaults and start-up fails
without them. Every variable is documented in docs/configuration.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django_stubs_ext

from vision_site.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
    parse_database_url,
)

# Lets classes such as ``admin.ModelAdmin[Task]`` be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

VISION_ENV = env_str("VISION_ENV", "development")
PRODUCTION = VISION_ENV == "production"

if PRODUCTION:
    SECRET_KEY = env_required("SECRET_KEY")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        env_required("ALLOWED_HOSTS")
else:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

DEBUG = env_bool("DEBUG", default=False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "psqlextra",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "ml_models",
    "predictions",
    "sql_shards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "vision_site.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vision_site.urls"
WSGI_APPLICATION = "vision_site.wsgi.application"

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

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Databases -------------------------------------------------------------------
# The leader holds everything plus the partitioned ``predictions`` parent; remainders
# 1-3 of the hash live on three shard servers reached through postgres_fdw. Each shard
# is also a Django alias so that ``migrate --database shard_N`` builds its real table.
# That is a fresh install's layout; ``shards split|move|add-server`` change it, and the
# live layout is read from the leader's catalog, never from here.
PREDICTION_PARTITIONS = 4
SHARD_ALIASES = ["shard_1", "shard_2", "shard_3"]
SHARD_CONNECT_TIMEOUT = env_int("SHARD_CONNECT_TIMEOUT", 5)
SHARD_FDW_BATCH_SIZE = env_int("SHARD_FDW_BATCH_SIZE", 500)

_leader = parse_database_url(
    "DATABASE_URL",
    env_required("DATABASE_URL")
    if PRODUCTION
    else env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vision_site"),
)


# Lets parallel test runs on one server use separate test databases.
_TEST_DATABASE_PREFIX = env_str("TEST_DATABASE_PREFIX", "test_")


def _database(url: Any, *, engine: str, test: dict[str, Any]) -> dict[str, Any]:
    return {
        "ENGINE": engine,
        "NAME": url.name,
        "USER": url.user,
        "PASSWORD": url.password,
        "HOST": url.host,
        "PORT": str(url.port),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": SHARD_CONNECT_TIMEOUT},
        "TEST": {"NAME": f"{_TEST_DATABASE_PREFIX}{url.name}", **test},
    }


# Shards are created (and migrated) before the leader in tests, because the leader's
# foreign servers are built from the shards' (test) database names.
DATABASES: dict[str, dict[str, Any]] = {
    "default": _database(_leader, engine="psqlextra.backend", test={"DEPENDENCIES": SHARD_ALIASES}),
}
for _index, _alias in enumerate(SHARD_ALIASES, start=1):
    _shard = parse_database_url(
        f"SHARD_{_index}_URL",
        env_required(f"SHARD_{_index}_URL")
        if PRODUCTION
        else env_str(
            f"SHARD_{_index}_URL",
            f"postgres://{_leader.user}@{_leader.host}:{_leader.port}/{_leader.name}_shard_{_index}",
        ),
    )
    DATABASES[_alias] = _database(
        _shard, engine="django.db.backends.postgresql", test={"DEPENDENCIES": []}
    )
    # The host the *leader's PostgreSQL server* uses to reach this shard; in
    # containers it can differ from the host the application uses.
    DATABASES[_alias]["FDW_HOST"] = env_str(f"SHARD_{_index}_FDW_HOST", _shard.host)
    DATABASES[_alias]["FDW_PORT"] = str(env_int(f"SHARD_{_index}_FDW_PORT", _shard.port))
    DATABASES[_alias]["PARTITION_REMAINDER"] = _index

DATABASE_ROUTERS = ["sql_shards.routers.ShardRouter"]
POSTGRES_EXTRA_DB_BACKEND_BASE = "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery ------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
CELERY_INFERENCE_QUEUE = "inference"
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
# The worker gathers up to this many queued tasks into one inference batch.
INFERENCE_BATCH_SIZE = env_int("INFERENCE_BATCH_SIZE", 16)
INFERENCE_BATCH_WAIT_MS = env_int("INFERENCE_BATCH_WAIT_MS", 5)
# Threads that decode a batch's images for the models; 0: one where the models run on
# the CPU, all cores but one where they run on a GPU (ml_models.inference.prefetch).
INFERENCE_DECODE_THREADS = env_int("INFERENCE_DECODE_THREADS", 0)
# A claimed task whose worker has not renewed its lease (every third of it, while it
# works) is taken back: a dead worker's tasks return within this many seconds.
TASK_LEASE_SECONDS = env_int("TASK_LEASE_SECONDS", 30)
# A queued task whose message has not been consumed after this long is sent again.
TASK_REQUEUE_AFTER_SECONDS = env_int("TASK_REQUEUE_AFTER_SECONDS", 300)
# A few queries and two Redis reads: cheap enough to notice a lost broker in seconds.
TASK_SWEEP_INTERVAL_SECONDS = env_float("TASK_SWEEP_INTERVAL_SECONDS", 5.0)
TASK_MAX_ATTEMPTS = env_int("TASK_MAX_ATTEMPTS", 5)
TASK_WAIT_MAX_SECONDS = env_float("TASK_WAIT_MAX_SECONDS", 10.0)

# --- Files and uploads -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# Development serves static files straight from the apps' folders.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 500)
# A request declaring a larger body is refused (413) before it is read. The upload page
# sends up to four images (or one archive) per request, so keep it above 4 x the above.
UPLOAD_MAX_REQUEST_BYTES = env_int("UPLOAD_MAX_REQUEST_BYTES", 100 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Models ------------------------------------------------------------------------
# Where model weights live; the shipped defaults sit in ml_models/weights.
MODEL_WEIGHTS_DIR = Path(env_str("MODEL_WEIGHTS_DIR", str(BASE_DIR / "ml_models" / "weights")))
TORCH_THREADS = env_int("TORCH_THREADS", 0)  # 0: one thread per core of this process
# freed memory glibc keeps mapped for the next batch instead of returning it to the
# kernel (ml_models/inference/host.py: 20 % faster on CPU); 0 leaves glibc alone
INFERENCE_HEAP_PAD_MB = env_int("INFERENCE_HEAP_PAD_MB", 512)
# auto: bf16 on CUDA and on CPUs that compute bf16 natively (AMX, AVX512-BF16), else fp32
INFERENCE_PRECISION = env_choice("INFERENCE_PRECISION", "auto", ("auto", "fp32", "bf16", "fp16"))
# torch.compile the models: each batch shape compiles on first use (seconds with a warm
# inductor cache, about a minute cold), and on the 2-core machine it is no faster than
# eager mode with the padded heap (docs/performance.md, "Model speed"), so it is opt-in.
INFERENCE_COMPILE = env_bool("INFERENCE_COMPILE", default=False)
# Detections at or above this score are stored (the detail page's slider starts here);
# at or above the second they count as present (object counts, gallery filters).
PREDICTION_STORE_THRESHOLD = env_float("PREDICTION_STORE_THRESHOLD", 0.05)
OBJECT_PRESENT_THRESHOLD = env_float("OBJECT_PRESENT_THRESHOLD", 0.5)

# --- API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "vision_site.pagination.CheckedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "vision_site.schema.ApiAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "vision_site.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "vision_site API",
    "DESCRIPTION": "Submit images, read detected primitives and scene labels.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request components, so that an uploaded file is ``format: binary`` (what a
    # client must send) rather than the ``uri`` a response would carry.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "predictions.api.schema.task_submit_needs_a_file",
    ],
}

# --- Security (production) ----------------------------------------------------------
# On by default in production, where the site sits behind a TLS-terminating proxy;
# each can be turned off to try the stack over plain HTTP (docs/configuration.md).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
# The header by which the proxy says the client spoke HTTPS. The proxy must set it on
# every request (overwriting what a client sent), or a client could claim HTTPS itself.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if PRODUCTION else "")
SECURE_PROXY_SSL_HEADER = (
    (f"HTTP_{_proxy_ssl_header.strip().upper().replace('-', '_')}", "https")
    if _proxy_ssl_header.strip()
    else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# The container's health check GETs /healthz on the local port, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# security.W021 asks for the HSTS preload directive. Preloading is the domain owner's
# decision (anyone may submit a domain whose header carries it, and leaving the list
# takes months), so it stays an explicit SECURE_HSTS_PRELOAD=1, not a default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
