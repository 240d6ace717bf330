"""Django settings, read from the environment only, with safe defaults for `make run`.

Production (`QUORUM_PRODUCTION=1`) refuses to start with the development secret key and turns
on the HTTPS-only settings that `manage.py check --deploy` asks for.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from quorum.env import (
    EMBEDDED_REDIS_URL,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(env_str("QUORUM_VAR_DIR", str(BASE_DIR / "var")))

PRODUCTION = env_bool("QUORUM_PRODUCTION", False)
DEV_SECRET_KEY = "quorum-development-key-not-for-production"
SECRET_KEY = env_secret("SECRET_KEY", DEV_SECRET_KEY)
if PRODUCTION and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("QUORUM_PRODUCTION=1 needs SECRET_KEY (50+ random characters).")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# Reverse proxies in front of gunicorn; the audit trail trusts that many X-Forwarded-For hops.
QUORUM_PROXY_COUNT = env_int("QUORUM_PROXY_COUNT", 0)

# Solutions are Django apps that register themselves in solutions.registry from their AppConfig.
# By default every solution app shipped in solutions/; QUORUM_SOLUTIONS picks a subset.
_SHIPPED_SOLUTIONS = sorted(p.parent.name for p in (BASE_DIR / "solutions").glob("*/apps.py"))
SOLUTIONS = env_list("QUORUM_SOLUTIONS", ",".join(_SHIPPED_SOLUTIONS))
for _name in SOLUTIONS:
    if not (BASE_DIR / "solutions" / _name / "apps.py").exists():
        raise ImproperlyConfigured(f"QUORUM_SOLUTIONS names {_name!r}, which has no app.")
EXTRA_APPS = env_list("QUORUM_EXTRA_APPS", "")  # tests add their own test solution this way

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "quorum.tenancy",
    "quorum.audit",
    "quorum.jobs",
    "quorum.web",
    "quorum.api",
    "quorum.adapters",
    *[f"solutions.{name}" for name in SOLUTIONS],
    *EXTRA_APPS,
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "quorum.tenancy.middleware.TenantMiddleware",
    "quorum.web.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "quorum.urls"
WSGI_APPLICATION = "quorum.wsgi.application"

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
                "quorum.web.context_processors.platform",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'quorum.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and a worker write the same file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if env_str("S3_BUCKET"):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "access_key": env_secret("S3_ACCESS_KEY_ID"),
            "secret_key": env_secret("S3_SECRET_ACCESS_KEY"),
            "region_name": env_str("S3_REGION", "us-east-1"),
            "file_overwrite": False,
        },
    }

# Uploads: one cap for every file a user sends; larger requests are refused before storage.
QUORUM_MAX_UPLOAD_BYTES = env_int("QUORUM_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Redis and Celery. `make run` starts an embedded redis-server on this port unless REDIS_URL is set.
REDIS_URL = env_str("REDIS_URL", EMBEDDED_REDIS_URL)
QUORUM_JOB_TIME_LIMIT = env_int("QUORUM_JOB_TIME_LIMIT", 3600)  # seconds; the longest job
QUORUM_JOB_LEASE_SECONDS = env_int("QUORUM_JOB_LEASE_SECONDS", 30)
QUORUM_JOB_MAX_ATTEMPTS = env_int("QUORUM_JOB_MAX_ATTEMPTS", 3)
# Webhooks: a failed delivery is retried after RETRY_SECONDS, doubling each time, up to the cap.
QUORUM_WEBHOOK_MAX_ATTEMPTS = env_int("QUORUM_WEBHOOK_MAX_ATTEMPTS", 6)
QUORUM_WEBHOOK_RETRY_SECONDS = env_float("QUORUM_WEBHOOK_RETRY_SECONDS", 30.0)
QUORUM_WEBHOOK_TIMEOUT_SECONDS = env_float("QUORUM_WEBHOOK_TIMEOUT_SECONDS", 10.0)
# Webhooks to loopback, private and reserved addresses are refused (SSRF) unless this is set.
QUORUM_WEBHOOK_ALLOW_PRIVATE = env_bool("QUORUM_WEBHOOK_ALLOW_PRIVATE", False)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than the longest job, so a running job's message is not handed out twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", QUORUM_JOB_TIME_LIMIT + 600),
    "unacked_restore_interval": env_float("CELERY_UNACKED_RESTORE_INTERVAL", 10.0),
    "unacked_restore_throttle": env_float("CELERY_UNACKED_RESTORE_THROTTLE", 10.0),
    "socket_connect_timeout": 5,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "quorum.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["quorum.api.permissions.IsTenantMember"],
    "DEFAULT_THROTTLE_CLASSES": ["quorum.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env_str("QUORUM_API_RATE", "600/min")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "quorum.api.errors.problem_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "quorum.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "DESCRIPTION": "Jobs, results and adapters of Quorum's vertical AI solutions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "quorum.api.schema.document_problem_responses"],
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "quorum.jobs.models.JobStatus",
        "WebhookDeliveryStatusEnum": "quorum.jobs.models.DeliveryStatus",
        "InspectionDecisionEnum": [("pass", "Pass"), ("fail", "Fail"), ("review", "Review")],
    },
}

# Per-key API throttling counts in this cache: set CACHE_REDIS_URL when running several web
# processes, so they share one count.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if env_str("CACHE_REDIS_URL"):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_REDIS_URL"),
    }

# Engine: where the shipped base checkpoints live and how workers batch requests.
QUORUM_MODELS_DIR = Path(env_str("QUORUM_MODELS_DIR", str(BASE_DIR / "models")))
QUORUM_BATCH_MAX_SIZE = env_int("QUORUM_BATCH_MAX_SIZE", 64)
QUORUM_BATCH_MAX_WAIT_MS = env_float("QUORUM_BATCH_MAX_WAIT_MS", 5.0)
# Tenant adapters: training jobs a tenant may run at once, and adapter versions it may keep;
# local folder where workers cache adapter files read from storage (under this machine's
# QUORUM_VAR_DIR, so two workers with their own folders never share one).
QUORUM_ADAPTER_MAX_CONCURRENT_TRAINING = env_int("QUORUM_ADAPTER_MAX_CONCURRENT_TRAINING", 1)
QUORUM_ADAPTER_MAX_VERSIONS = env_int("QUORUM_ADAPTER_MAX_VERSIONS", 20)
QUORUM_ADAPTER_CACHE_DIR = Path(env_str("QUORUM_ADAPTER_CACHE_DIR", str(VAR_DIR / "adapter-cache")))

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
