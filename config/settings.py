"""Touchstone settings: everything from the environment, refusing unsafe production defaults."""

import os
import ssl
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.email_url import parse_email_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    """Read a setting from the environment; with no default it must be set."""
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# With DEBUG off this is production: no silent fallback secret.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", "insecure-development-key-never-used-with-debug-off")
else:
    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random string of at least 32 characters when DEBUG "
            "is off. For local development run with DEBUG=true (make run does)."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "accounts",
    "core",
    "journeys",
    "touchpoints",
    "scoring",
    "alerts",
    "feedback",
    "notify",
    "team",
    "web",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Early, so every later middleware's log lines and the response carry the id.
    "config.request_id.RequestIdMiddleware",
    # A lost database gives the pages a 503 with Retry-After instead of a 500.
    "core.database_unavailable.DatabaseUnavailableMiddleware",
    # An open page's "unchanged?" check answered with one query, before sessions, auth,
    # CSRF, messages, CSP and htmx (web/live.py); anything else passes on.
    "web.live.LiveCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.csp.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so a locked-out login never reaches the view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# The development server (`manage.py runserver`, `make run`) serves each request on a new
# thread, and a persistent connection belongs to its thread: with a max age every request
# would leave one open until PostgreSQL refused new clients (it did, after 15 minutes of
# browsing). Django's docs: don't enable persistent connections under runserver. Gunicorn
# and the workers keep DATABASE_CONN_MAX_AGE.
RUNSERVER = sys.argv[1:2] == ["runserver"]
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/touchstone"),
        conn_max_age=0 if RUNSERVER else env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Transactions are explicit, in services: ATOMIC_REQUESTS would hide their boundaries
# and delay on_commit hooks until the view returns.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5)
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Looks the email up by the normalised identifier the lockout counts under.
    "accounts.backends.EmailBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The staff pages are in English; the public feedback page speaks these (feedback/locale).
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development and tests, serve straight from the source folders (no collectstatic).
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Request bodies: 1 MB is plenty for 500 evaluations; larger bodies are refused.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1_048_576)

# --- Celery -----------------------------------------------------------------
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
# kombu's Redis transport, fixed so a broker restart cannot end a worker (issue 20).
CELERY_BROKER_TRANSPORT = "config.redis_transport:Transport"
if CELERY_BROKER_URL.startswith("rediss://"):
    # Naming the transport class hides the URL's scheme from kombu, so say TLS here (and
    # verify the certificate, which kombu's own rediss default does not).
    CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged after it ran, so a worker that dies mid-task leaves it queued.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must never hang a request that already committed its evaluation
# (celery/celery#4296): bound the connection and the retries; the sweep catches up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than the longest task (full recompute), so late acks do not double-run it.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    "max_retries": 1,
}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_DEFAULT_QUEUE = "scoring"
CELERY_WORKER_SEND_TASK_EVENTS = False
SCORING_SWEEP_SECONDS = env_int("SCORING_SWEEP_SECONDS", 30)
# How long a burst of evaluations on one touch point waits before one recompute covers it.
SCORING_DEBOUNCE_SECONDS = float(env("SCORING_DEBOUNCE_SECONDS", "1.0"))
# The window slides with time: snapshots older than this are refreshed by the sweep.
SCORING_REFRESH_SECONDS = env_int("SCORING_REFRESH_SECONDS", 3600)
# Fault injection for the worker-kill tests only; never set in production.
SCORING_TEST_PAUSE_SECONDS = float(env("SCORING_TEST_PAUSE_SECONDS", "0"))
SCORING_TEST_PAUSE_MARKER = env("SCORING_TEST_PAUSE_MARKER", "")
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-touch-points": {
        "task": "scoring.tasks.sweep_stale",
        "schedule": SCORING_SWEEP_SECONDS,
    },
    "send-unsent-email": {
        "task": "notify.tasks.sweep_unsent",
        "schedule": 60,
    },
    "purge-idempotency-records": {
        "task": "core.tasks.purge_idempotency_records",
        "schedule": 3600,
    },
    # Events from the recompute's and the submissions' outboxes, verdicts of actions,
    # webhook retries that came due, digests whose hour has come.
    "alerts-process": {
        "task": "alerts.tasks.process",
        "schedule": env_int("ALERTS_PROCESS_SECONDS", 10),
    },
}

# --- Alerts and webhooks (alerts/) --------------------------------------------------
# Where emails link to (no request to take the host from in a worker).
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# How long after "done" an action's evidence may arrive (PRODUCT.md method step 9).
ACTIONS_REVIEW_DAYS = env_int("ACTIONS_REVIEW_DAYS", 30)
# One webhook request may take this long (connect and answer) before it counts as failed.
WEBHOOK_TIMEOUT_SECONDS = float(env("WEBHOOK_TIMEOUT_SECONDS", "5"))
# Seconds between a failed attempt and the next: about a day in all, then the delivery
# fails for good. Tests shorten it.
WEBHOOK_RETRY_SCHEDULE = [
    float(s)
    for s in env("WEBHOOK_RETRY_SCHEDULE", "5,60,300,1800,7200,18000,28800,28800").split(",")
]
# An endpoint whose deliveries have failed without a success for this long is disabled.
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 24 * 3600)
# Endpoints on loopback, private or link-local addresses (server-side request forgery):
# refused unless DEBUG, where a developer's receiver on 127.0.0.1 is the normal case.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = DEBUG
# Plain http:// endpoints: a development receiver only.
WEBHOOK_ALLOW_HTTP = DEBUG

# --- Cache -------------------------------------------------------------------------
# Throttle counters only. Per process on purpose: the API must keep answering while Redis
# is down (evaluations are stored in PostgreSQL), so nothing on the request path may
# depend on Redis. Limits are therefore per gunicorn worker.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Counters that must be shared by every process (limits on the open internet, failed
    # authentications across gunicorn workers). Short socket timeouts: code reading it must
    # fail open when Redis is away, as the request path never waits on Redis. Django's
    # backend, keeping its Redis client (core/redis_cache.py).
    "throttle": {
        "BACKEND": "core.redis_cache.RedisCache",
        "LOCATION": env("THROTTLE_CACHE_URL", REDIS_URL),
        # Apart per deployment (or per test server) when several share one Redis database.
        "KEY_PREFIX": env("THROTTLE_KEY_PREFIX", "throttle"),
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    },
}

# --- Exports (RELIABILITY S13) ------------------------------------------------------
# Managers only; each organization may start this many CSV/PDF exports in any window of
# this many seconds (counted in the "throttle" cache, shared by every process); past it, a
# 429 with Retry-After (web/reports.py).
EXPORTS_PER_ORGANIZATION = env_int("EXPORTS_PER_ORGANIZATION", 10)
EXPORTS_WINDOW_SECONDS = env_int("EXPORTS_WINDOW_SECONDS", 60)

# --- Proxies ---------------------------------------------------------------------
# ONE setting says how many trusted proxies stand in front of the web service (each
# appending to X-Forwarded-For; the first terminating TLS and setting X-Forwarded-Proto).
# It decides both what Django trusts about the scheme (SECURE_PROXY_SSL_HEADER) and which
# address the throttles and the sign-in lockout count (NUM_PROXIES, axes): trusting a
# proxy's scheme while counting its address as the client's made 100 failed sign-ins from
# anyone lock everyone behind it out. 0 trusts only the socket. Production (DEBUG off)
# defaults to 1: the documented shape is gunicorn behind one TLS proxy. API_NUM_PROXIES is
# the old name, still read. config/checks.py warns when the two are set apart.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", env_int("API_NUM_PROXIES", 0 if DEBUG else 1))
if TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("TRUSTED_PROXIES must be 0 or more.")
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST framework ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "core.api.tenancy.RolePermission",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only: the usual Accept headers skip DRF's media-type matching (issue 18).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.negotiation.JSONFirstNegotiation",
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.NestingSafeJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    # The client's address behind TRUSTED_PROXIES proxies (None: the socket's).
    "NUM_PROXIES": TRUSTED_PROXIES or None,
    "DEFAULT_THROTTLE_RATES": {
        "writes": env("API_WRITE_RATE", "600/min"),
        "evaluations": env("API_EVALUATION_RATE", "600/min"),
        # The OpenAPI document, per client (core/api/schema.py builds it once per process).
        "schema": env("API_SCHEMA_RATE", "60/min"),
    },
}
# Failed token authentications per client address (then 429 with Retry-After).
AUTH_FAILURE_RATE = env("AUTH_FAILURE_RATE", "30/min")

SPECTACULAR_SETTINGS = {
    "TITLE": "Touchstone API",
    "DESCRIPTION": "Customer journeys, touch points, evaluations and their scores.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (no CDN), its init script served as a file
    # (SpectacularSwaggerSplitView) so the strict CSP needs no inline script.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: a nullable reference is oneOf [the schema, null]; 3.0 has no way to say it
    # (nullable beside allOf is ignored by validators and generators alike).
    "OAS_VERSION": "3.1.0",
    "ENUM_NAME_OVERRIDES": {
        "EmailModeEnum": "alerts.models.EmailMode",
        "RoleEnum": "accounts.models.Role",  # members and invitations: one set of roles
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema_hooks.add_common_responses",
        "alerts.api_schema.add_webhook_examples",
        # What every parameter of a kind accepts, and links from creates (issue 19).
        "core.api.schema_hooks.state_request_contract",
    ],
    # What Touchstone POSTs to webhook endpoints, one entry per event type (alerts/).
    # (tests/alerts/test_api.py checks this list names every event type.)
    "WEBHOOKS": [
        "alerts.api_schema.WEAK_LINK_ENTERED",
        "alerts.api_schema.WEAK_LINK_LEFT",
        "alerts.api_schema.BLIND_SPOT_SCORED",
        "alerts.api_schema.JOURNEY_TARGET_CROSSED",
        "alerts.api_schema.EVALUATION_CRITICAL_FAILURE",
        "alerts.api_schema.ACTION_OPENED",
        "alerts.api_schema.ACTION_DONE",
        "alerts.api_schema.ACTION_VERIFYING",
        "alerts.api_schema.ACTION_VERIFIED",
        "alerts.api_schema.ACTION_NOT_SHOWN_TO_WORK",
        "alerts.api_schema.WEBHOOK_TEST",
    ],
}

# --- Security headers ------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe health over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Brute force (django-axes) ----------------------------------------------------
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures from one address across all usernames before it is locked out too
# (accounts/brute_force.py); addresses as the API throttle sees them (TRUSTED_PROXIES).
AXES_IP_FAILURE_LIMIT = env_int("AXES_IP_FAILURE_LIMIT", 100)
AXES_HANDLER = "accounts.brute_force.LoginLockoutHandler"
AXES_CLIENT_IP_CALLABLE = "accounts.brute_force.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.brute_force.lockout_response"
AXES_USERNAME_CALLABLE = "accounts.brute_force.attempted_username"
# Log failed sign-ins with the client address (not masked); the typed username stays masked.
AXES_SENSITIVE_PARAMETERS = ["username"]

# --- Logging ------------------------------------------------------------------------
LOG_JSON = env_bool("LOG_JSON", not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every record gets request_id (config/request_id.py): the web request's, or in a
    # worker the one the task was queued under; None when neither applies.
    "filters": {"request_id": {"()": "config.request_id.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_JSON else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # WeasyPrint narrates every step of a PDF at INFO; its warnings still show.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Customer feedback links (feedback/) ---------------------------------------------
# Answers one link takes per window, and one client address across all links (addresses
# as sign-in sees them: API_NUM_PROXIES). Counted in caches["throttle"] by django-ratelimit;
# when Redis is away the limits fail open (the page keeps answering).
FEEDBACK_LINK_RATE = env("FEEDBACK_LINK_RATE", "1000/h")
FEEDBACK_ADDRESS_RATE = env("FEEDBACK_ADDRESS_RATE", "30/h")
# A device that answered a link gets the thank-you page for this long (a signed cookie).
FEEDBACK_REPEAT_SECONDS = env_int("FEEDBACK_REPEAT_SECONDS", 6 * 3600)
# A public answer is a few fields: anything bigger is refused (413) before it is parsed.
FEEDBACK_MAX_BODY_BYTES = env_int("FEEDBACK_MAX_BODY_BYTES", 16_384)
RATELIMIT_USE_CACHE = "throttle"
RATELIMIT_FAIL_OPEN = True

# --- Touchstone ---------------------------------------------------------------------
# Largest CSV file `manage.py import_evaluations` takes (20 MB, about 280,000 rows). The
# file is read as a stream, but all-or-none needs every row parsed before the first is
# stored: about 4 bytes of memory per byte of file (bench/csv_import_memory.py), so the
# cap is what bounds the memory (about 85 MB at 20 MB; docs/import-evaluations.md).
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 20 * 1024 * 1024)
DEMO_PASSWORD = env("DEMO_PASSWORD", "touchstone-demo")

# --- Email ----------------------------------------------------------------------------
# One variable (config/email_url.py): smtp://user:password@host:587/?tls=true, smtps://…,
# console://. Invitations (team/) and password reset send email, and both are always on,
# so production refuses to start without EMAIL_URL; `console://` is an explicit choice
# that prints messages (and their links) to the worker's log instead. With DEBUG on the
# default is console://, so `make run` prints invitation links in its terminal.
_email_url = os.environ.get("EMAIL_URL", "")
if not _email_url:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set EMAIL_URL (e.g. smtp://user:password@mail.example.com:587/?tls=true): "
            "invitations and password reset send email. EMAIL_URL=console:// prints them "
            "to the log instead."
        )
    _email_url = "console://"
_email = parse_email_url(_email_url)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _email.get("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("EMAIL_FROM", "Touchstone <touchstone@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Delivery (notify/): a message is tried this many times in all, transient SMTP errors
# only (a 4xx answer, a dropped or refused connection), waiting EMAIL_RETRY_SECONDS,
# then twice as long each time. A message that finally fails is logged and listed for
# the organization's managers on the Team page.
EMAIL_MAX_ATTEMPTS = 5
EMAIL_RETRY_SECONDS = 30
# Invitation links (team/) stop working after this many days.
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)
