"""Settings shared by every environment; the defaults serve a laptop.

Every value comes from the environment (django-environ). With nothing set the
project runs on SQLite, the local-memory cache and the bundled WooCommerce
sandbox (``manage.py woocommerce_sandbox``). Every variable is documented in
``deploy/.env.example``.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

# --- Django core -----------------------------------------------------------
# The default key is for a laptop only; production.py refuses to start without one.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-local-development-key-not-for-production")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here: /api/docs/ works offline
    "common",
    "catalog",
    "sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.memory.MemoryMonitorMiddleware",
    "common.middleware.query_count.QueryCountDebugMiddleware",  # removes itself unless DEBUG
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.cache_control.CacheControlMiddleware",
    # Under /api/: a database outage (or a full pool) answers 503 JSON with Retry-After, not an HTML 500.
    "common.middleware.database_unavailable.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires: turns a login its backend refused (locked out, before any password
    # hash) into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crushme_project.urls"
WSGI_APPLICATION = "crushme_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database --------------------------------------------------------------
# SQLite by default; PostgreSQL (psycopg 3) with DATABASE_URL=postgres://...
# An empty DATABASE_URL counts as unset (as does an empty REDIS_URL below).
DATABASES = {"default": env.db_url_config(env("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the API read while a sync writes; IMMEDIATE avoids lock-upgrade deadlocks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast (health answers 503) instead of hanging on an unreachable server.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    # The catalog's reads (common.db.repeated_statements_cursor) are prepared on a connection once it has run
    # the same text this many times, and then no longer planned; Django's own statements never are. "off"
    # behind a PgBouncer in transaction mode, whose server connections do not keep a client's statements.
    _prepare_threshold = (env("DB_PREPARE_THRESHOLD", default="").strip() or "2").lower()
    if _prepare_threshold != "off" and not (_prepare_threshold.isdigit() and int(_prepare_threshold) >= 1):
        raise ImproperlyConfigured(
            f"DB_PREPARE_THRESHOLD must be a positive integer or 'off', got {_prepare_threshold!r}"
        )
    _db_options.setdefault("prepare_threshold", None if _prepare_threshold == "off" else int(_prepare_threshold))
# Under gevent each greenlet holds its own persistent connection, so 150 clients exceeded
# PostgreSQL's 100. A bounded psycopg pool caps them; gunicorn_config.py turns it on for the web
# workers, management commands (the sync) keep one plain connection. Sizing rule (docs/operations.md):
# workers x DB_POOL_MAX_SIZE <= max_connections - (sync + admin + headroom).
DB_POOL_ENABLED = env.bool("DB_POOL_ENABLED", default=False)
if DB_POOL_ENABLED and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses a pool with persistent connections.
    # CONN_HEALTH_CHECKS (above) makes Django create the pool with check=ConnectionPool.check_connection:
    # a connection is tested before a request gets it; gunicorn's workers swap in a check without a round
    # trip (common/db.py: database_pool_check_cheaply). A failed check costs psycopg a 1, 2, 4 s back-off
    # before the next idle connection is tried, so a request that meets a database error discards every
    # idle connection at once (common/db.py: database_pool_discard_idle), which are all dead after a restart.
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        # Seconds a request waits for a connection: also how long an uncached request and /api/health/
        # take to answer 503 while PostgreSQL is down.
        "timeout": env.float("DB_POOL_TIMEOUT", default=1.5),
        # A lost connection is retried in the background for this long (back-off 1, 2, 4 s...), then given
        # up: the next request that waits opens a new one at once instead of waiting for a late retry.
        "reconnect_timeout": env.float("DB_POOL_RECONNECT_TIMEOUT", default=2.0),
        # Connections are replaced after this many seconds (psycopg adds 5% jitter), and closed after
        # max_idle seconds unused (down to min_size).
        "max_lifetime": env.float("DB_POOL_MAX_LIFETIME", default=600.0),
        "max_idle": env.float("DB_POOL_MAX_IDLE", default=300.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache -----------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="crushme"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=1.0),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "crushme",
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="crushme"),
        }
    }

# --- Auth, i18n, static ----------------------------------------------------
# django-axes first: a locked-out admin login is refused before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Admin login (django-axes, database handler: attempts are rows, visible in the admin, reset with
# `manage.py axes_reset`). A client that fails AXES_FAILURE_LIMIT times for one user name is refused (429)
# for AXES_COOLOFF_MINUTES, even with the right password; another user name or another client is not
# affected, so an attacker cannot lock the staff out from elsewhere. Failures also count in the per-client
# counter of the API's failed tokens (THROTTLE_RATE_AUTH_FAILURES), whatever the user name
# (common/login_limits.py). The client address is the one the API's throttles use (NUM_PROXIES).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "common.login_limits.ClientLimitedAxesHandler"
AXES_CLIENT_IP_CALLABLE = "common.throttling.client_ident"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no start-up banner in every process's log; failures and lockouts are still logged
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
STATIC_URL = "static/"
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

# --- REST framework --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Explicit, and no Basic: a Basic header would cost a password hash (~230 ms) per request, before
    # any throttle. Browsers of staff use the admin session; scripts and staff tools use a token
    # (`Authorization: Token <key>`, rest_framework.authtoken), whose failures are throttled per client.
    # An `Authorization: Basic ...` header is ignored: the request is anonymous.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "common.authentication.ThrottledTokenAuthentication",
    ],
    # One counter per client and window (common/throttling.py); health and schema views opt out.
    "DEFAULT_THROTTLE_CLASSES": ["common.throttling.RoleRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_RATE_ANON", default="100/hour"),
        "user": env("THROTTLE_RATE_USER", default="1000/hour"),
        "staff": env("THROTTLE_RATE_STAFF", default="5000/hour"),
        # Failed token authentications per client; beyond it every token attempt gets 429 until the window ends.
        "auth_failure": env("THROTTLE_RATE_AUTH_FAILURES", default="20/hour"),
    },
    # Proxies in front of gunicorn (nginx: 1): the client IP is that many hops from the end of X-Forwarded-For.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=1),
    # WooCommerce-shaped errors ({code, message, data: {status}}) from every DRF view, health and schema too.
    "EXCEPTION_HANDLER": "catalog.apis.catalog_exception_handler",
}

# --- Catalog API caching -----------------------------------------------------
# Server-side TTLs (seconds) of cached responses; a write that changes products invalidates the
# answers that depend on what changed before the TTL (catalog/cache.py).
CATALOG_CACHE_TTL_CATEGORIES = env.int("CATALOG_CACHE_TTL_CATEGORIES", default=3600)
CATALOG_CACHE_TTL_PRODUCT_LIST = env.int("CATALOG_CACHE_TTL_PRODUCT_LIST", default=300)
CATALOG_CACHE_TTL_PRODUCT_DETAIL = env.int("CATALOG_CACHE_TTL_PRODUCT_DETAIL", default=300)
# No cached answer shows stock or a price older than this after the mirror changed: product lists and
# facets, which a stock or price change of a product they show does not always orphan, live at most this long.
CATALOG_MAX_STALENESS_SECONDS = env.int("CATALOG_MAX_STALENESS_SECONDS", default=60)
# Fields each cached response carries per model, e.g. {"product": ["name", "price"]}; unset = all.
CATALOG_CACHE_FIELDS = env.json("CATALOG_CACHE_FIELDS", default={})
# Browser/proxy max-age per endpoint (common/middleware/cache_control.py). Short: a version bump
# cannot reach copies held by browsers; after it they revalidate with If-None-Match (304).
CACHE_CONTROL_MAX_AGE = {
    "catalog:category-list": env.int("CACHE_CONTROL_MAX_AGE_CATEGORIES", default=300),
    "catalog:category-detail": env.int("CACHE_CONTROL_MAX_AGE_CATEGORIES", default=300),
    "catalog:product-list": env.int("CACHE_CONTROL_MAX_AGE_PRODUCTS", default=60),
    "catalog:product-facets": env.int("CACHE_CONTROL_MAX_AGE_PRODUCTS", default=60),
    "catalog:product-detail": env.int("CACHE_CONTROL_MAX_AGE_PRODUCTS", default=60),
    # The same detail by id: served by sync's view, which adds the staff PATCH (sync/apis.py).
    "sync:product-detail": env.int("CACHE_CONTROL_MAX_AGE_PRODUCTS", default=60),
    "catalog:product-variations": env.int("CACHE_CONTROL_MAX_AGE_PRODUCTS", default=60),
}
# After a cache error, answer from the database without trying the cache for this long.
CACHE_FAILURE_BACKOFF_SECONDS = env.float("CACHE_FAILURE_BACKOFF_SECONDS", default=5.0)
CATALOG_PRICE_DECIMALS = env.int("CATALOG_PRICE_DECIMALS", default=2)  # the store's decimals
CATALOG_EXPORT_CHUNK_SIZE = env.int("CATALOG_EXPORT_CHUNK_SIZE", default=2000)
# warmup_cache: how many listing pages per common sort and how many popular product details.
CATALOG_WARMUP_LIST_PAGES = env.int("CATALOG_WARMUP_LIST_PAGES", default=3)
CATALOG_WARMUP_PRODUCTS = env.int("CATALOG_WARMUP_PRODUCTS", default=200)
# QueryCountDebugMiddleware (DEBUG only) logs requests above this many queries.
QUERY_COUNT_WARNING_THRESHOLD = env.int("QUERY_COUNT_WARNING_THRESHOLD", default=10)
SPECTACULAR_SETTINGS = {
    "TITLE": "CrushMe catalog API",
    "DESCRIPTION": "Read-only catalog mirrored from WooCommerce.",
    "VERSION": "1.0.0",
    "ENUM_NAME_OVERRIDES": {"StockStatusEnum": "catalog.models.StockStatus"},
    # Swagger UI from the installed package (static files), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- WooCommerce -----------------------------------------------------------
# Laptop defaults point at the bundled sandbox and its demo credentials, which
# open nothing but the sandbox. production.py requires real ones.
WOOCOMMERCE_URL = env("WOOCOMMERCE_URL", default="http://127.0.0.1:8800")
WOOCOMMERCE_CONSUMER_KEY = env("WOOCOMMERCE_CONSUMER_KEY", default="ck_sandbox_demo")
WOOCOMMERCE_CONSUMER_SECRET = env("WOOCOMMERCE_CONSUMER_SECRET", default="cs_sandbox_demo")
WOOCOMMERCE_API_VERSION = env("WOOCOMMERCE_API_VERSION", default="wc/v3")
WOOCOMMERCE_TIMEOUT = env.float("WOOCOMMERCE_TIMEOUT", default=30.0)  # read timeout, seconds
WOOCOMMERCE_CONNECT_TIMEOUT = env.float("WOOCOMMERCE_CONNECT_TIMEOUT", default=5.0)
WOOCOMMERCE_MAX_RETRIES = env.int("WOOCOMMERCE_MAX_RETRIES", default=2)
WOOCOMMERCE_BACKOFF_SECONDS = env.float("WOOCOMMERCE_BACKOFF_SECONDS", default=1.0)  # first retry delay
WOOCOMMERCE_BACKOFF_MAX_SECONDS = env.float("WOOCOMMERCE_BACKOFF_MAX_SECONDS", default=30.0)
WOOCOMMERCE_VERIFY_SSL = env.bool("WOOCOMMERCE_VERIFY_SSL", default=True)
# A PEM file of the CA that signed the store's certificate, trusted instead of the system's CAs
# (a store with a private CA, or the sandbox's generated one); empty: the system's CAs.
WOOCOMMERCE_CA_BUNDLE = env("WOOCOMMERCE_CA_BUNDLE", default="")
# Over https, send the key and secret as ?consumer_key=&consumer_secret= instead of Basic auth, for
# web servers that do not pass the Authorization header to PHP. Ignored over http (OAuth 1.0a).
WOOCOMMERCE_QUERY_STRING_AUTH = env.bool("WOOCOMMERCE_QUERY_STRING_AUTH", default=False)

# --- Sync ------------------------------------------------------------------
WOOCOMMERCE_SYNC_BATCH_SIZE = env.int("WOOCOMMERCE_SYNC_BATCH_SIZE", default=50)
# Incremental --products re-reads this many seconds before the last good run's start
# (modified_after is strict to the second and store clocks drift).
SYNC_INCREMENTAL_OVERLAP_SECONDS = env.int("SYNC_INCREMENTAL_OVERLAP_SECONDS", default=300)
# --full refuses to soft-delete more than this share of the live catalog in one run
# (unless --allow-mass-delete); below SYNC_MASS_DELETE_MIN_COUNT rows it never refuses.
SYNC_MASS_DELETE_MAX_SHARE = env.float("SYNC_MASS_DELETE_MAX_SHARE", default=0.10)
SYNC_MASS_DELETE_MIN_COUNT = env.int("SYNC_MASS_DELETE_MIN_COUNT", default=10)
# Pages commit as they go; during a long run the API's caches are invalidated at most this often
# (and always at the end of a run that changed something).
SYNC_CACHE_BUMP_INTERVAL_SECONDS = env.int("SYNC_CACHE_BUMP_INTERVAL_SECONDS", default=60)

# --- Webhooks and the sync queue (near-real-time mirror) ---------------------
# The secret WooCommerce signs deliveries with (set the same one in every webhook: `manage.py
# woocommerce_webhooks --install`). Empty: every delivery is refused with 401.
WOOCOMMERCE_WEBHOOK_SECRET = env("WOOCOMMERCE_WEBHOOK_SECRET", default="")
# Where the store delivers (this site's /api/webhooks/woocommerce/ behind nginx, on 443: WordPress
# delivers only to ports 80, 443 and 8080); `woocommerce_webhooks` installs and checks against it.
WOOCOMMERCE_WEBHOOK_DELIVERY_URL = env("WOOCOMMERCE_WEBHOOK_DELIVERY_URL", default="")
# Larger bodies are refused with 413 (a product payload is ~5 KB; nginx has its own limit).
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=2 * 1024 * 1024)
# An operation is given up ("dead") after this many failed attempts; retries back off
# exponentially from SYNC_QUEUE_RETRY_BASE_SECONDS up to SYNC_QUEUE_RETRY_MAX_SECONDS, with jitter.
SYNC_QUEUE_MAX_ATTEMPTS = env.int("SYNC_QUEUE_MAX_ATTEMPTS", default=8)
SYNC_QUEUE_RETRY_BASE_SECONDS = env.float("SYNC_QUEUE_RETRY_BASE_SECONDS", default=10.0)
SYNC_QUEUE_RETRY_MAX_SECONDS = env.float("SYNC_QUEUE_RETRY_MAX_SECONDS", default=1800.0)
# Operations one processor claims at a time, and how long its claim (lease) lasts: a processor
# killed mid-batch loses nothing, its operations are claimed again once the lease runs out.
SYNC_QUEUE_BATCH_SIZE = env.int("SYNC_QUEUE_BATCH_SIZE", default=200)
SYNC_QUEUE_LEASE_SECONDS = env.int("SYNC_QUEUE_LEASE_SECONDS", default=300)
# How often an idle processor looks for due operations.
SYNC_QUEUE_POLL_SECONDS = env.float("SYNC_QUEUE_POLL_SECONDS", default=0.5)
# Done operations older than this are pruned (the processor does it hourly; --prune-days by hand).
SYNC_QUEUE_PRUNE_DAYS = env.int("SYNC_QUEUE_PRUNE_DAYS", default=14)
# /api/health/ says "degraded" past any of these: pending operations, age of the oldest due one, dead ones.
SYNC_QUEUE_DEGRADED_DEPTH = env.int("SYNC_QUEUE_DEGRADED_DEPTH", default=5000)
SYNC_QUEUE_DEGRADED_AGE_SECONDS = env.int("SYNC_QUEUE_DEGRADED_AGE_SECONDS", default=300)
SYNC_QUEUE_DEGRADED_DEAD = env.int("SYNC_QUEUE_DEGRADED_DEAD", default=1)
# Stock imports (manage.py import_stock, POST /api/stock-imports/): larger files are refused with 413
# (100,000 lines are about 3 MB; nginx's limit for that location is in deploy/nginx).
STOCK_IMPORT_MAX_BYTES = env.int("STOCK_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
# Pushing staff edits and stock imports to WooCommerce: write requests in flight at once (one
# processor), and how a field edited on both sides is resolved: "field=rule,..." with the rules max,
# min, concat (text fields), central (WooCommerce wins) and last_write (the default). Stock is always
# merged as deltas. A rule that makes no sense for its field stops start-up (check sync.E001).
SYNC_QUEUE_CONCURRENCY = env.int("SYNC_QUEUE_CONCURRENCY", default=5)
SYNC_FIELD_RULES = env.str("SYNC_FIELD_RULES", default="")

# --- WooCommerce reads inside an API request (live stock, on-demand products) -------
# ?real_time_stock=true: total time budget, then the answer comes from the mirror.
LIVE_STOCK_TIMEOUT_SECONDS = env.float("LIVE_STOCK_TIMEOUT_SECONDS", default=2.0)
# A product's live stock is fetched at most once per this many seconds (stampede guard).
LIVE_STOCK_CACHE_SECONDS = env.int("LIVE_STOCK_CACHE_SECONDS", default=30)
# Time budget of the on-demand fetch of a product the mirror does not have.
ON_DEMAND_TIMEOUT_SECONDS = env.float("ON_DEMAND_TIMEOUT_SECONDS", default=3.0)
# A product WooCommerce does not have (404) is not asked for again for this long.
ON_DEMAND_NOT_FOUND_CACHE_SECONDS = env.int("ON_DEMAND_NOT_FOUND_CACHE_SECONDS", default=300)
# After this many failed live reads, stop calling WooCommerce from requests for this long.
LIVE_WOOCOMMERCE_CIRCUIT_FAILURES = env.int("LIVE_WOOCOMMERCE_CIRCUIT_FAILURES", default=3)
LIVE_WOOCOMMERCE_CIRCUIT_OPEN_SECONDS = env.int("LIVE_WOOCOMMERCE_CIRCUIT_OPEN_SECONDS", default=60)

# --- Memory discipline -----------------------------------------------------
# Share of requests whose worker RSS/VMS is logged, and the RSS (MB) above which it logs a warning
# (MemoryMonitorMiddleware) and `manage.py check_memory` exits non-zero.
MEMORY_SAMPLE_RATE = env.float("MEMORY_SAMPLE_RATE", default=0.01)
MEMORY_ALERT_MB = env.int("MEMORY_ALERT_MB", default=1536)

# --- Logging ---------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
