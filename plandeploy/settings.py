"""Django settings, read from environment variables only (see the README's table)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from plandeploy import embedded_db
from plandeploy.schedules import ScheduleError, resolve_schedules

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent
PLANDEPLOY_HOME = Path(env.str("PLANDEPLOY_HOME", default=".plandeploy")).resolve()
EMBEDDED_DATABASE = not env.str("DATABASE_URL", default="")


def _state_secret(file_name: str, make: callable) -> str:
    """A secret generated once into the state directory, for single-host installs."""
    path = PLANDEPLOY_HOME / file_name
    if path.exists():
        return path.read_text().strip()
    PLANDEPLOY_HOME.mkdir(parents=True, exist_ok=True)
    value = make()
    # O_EXCL: two processes starting together must agree on one value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _shared_secret(name: str, make: callable) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not EMBEDDED_DATABASE:
        raise ImproperlyConfigured(
            f"{name} must be set when DATABASE_URL is set: every host of a shared deployment "
            f"has to use the same {name}."
        )
    return _state_secret(name.lower(), make)


SECRET_KEY = _shared_secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
DB_ENCRYPTION_KEY = _shared_secret("DB_ENCRYPTION_KEY", lambda: Fernet.generate_key().decode())
try:
    Fernet(DB_ENCRYPTION_KEY.encode())
except ValueError as exc:
    raise ImproperlyConfigured(
        "DB_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)"
    ) from exc

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "plandeploy.web.views.errors.csrf_failure"

# TLS deployments: the one switch for a site served over HTTPS (by a proxy that ends TLS).
SECURE_DEPLOYMENT = env.bool("SECURE_DEPLOYMENT", default=False)
# Addresses (or networks) of the proxies whose X-Forwarded-For / X-Forwarded-Proto the web
# server believes; `plandeploy web` hands them to uvicorn. Other clients' headers are ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1"])
try:
    for _proxy in TRUSTED_PROXIES:
        if _proxy != "*":
            ipaddress.ip_network(_proxy, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc
if SECURE_DEPLOYMENT:
    # The proxy ends TLS and says so in X-Forwarded-Proto: without this every request looks
    # like plain HTTP, so secure cookies would never be sent back and redirects would go to
    # http://. The web port must then be reachable only through that proxy.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Off by default: the proxy redirects to HTTPS, and a load balancer probing /readyz over
    # plain HTTP must get an answer, not a redirect.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    # Joining the browsers' preload list is hard to undo: the operator opts in.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
    if not SECURE_SSL_REDIRECT:
        # Django's deployment check asks for its own redirect; here the proxy does it.
        SILENCED_SYSTEM_CHECKS.append("security.W008")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # The API reference's Swagger UI assets, served from our own static files.
    "drf_spectacular_sidecar",
    "parler",
    "procrastinate.contrib.django",
    "plandeploy.accounts",
    "plandeploy.catalog",
    "plandeploy.runs",
    "plandeploy.translations",
    "plandeploy.jobs",
    "plandeploy.api",
    "plandeploy.adminapi",
    "plandeploy.web",
    "plandeploy.security",
    # Sign in with Salesforce (after plandeploy.web, whose templates win over allauth's).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.salesforce",
]

MIDDLEWARE = [
    # First, so that its request id is on everything logged while a request is served.
    "plandeploy.logs.AccessLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from the web process itself, ahead of sessions and the database.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions and authentication: a refused address costs no database work.
    "plandeploy.security.middleware.AdminAllowedSubnetsMiddleware",
    # Before anything looks a cookie, a field or the path up in the database.
    "plandeploy.api.text_middleware.UnstorableTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Response headers and cookies. The session cookie may hold a scratch org (a credential):
# never readable by scripts, never sent on cross-site subrequests or POSTs.
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, their row read without compiling an ORM query per request.
SESSION_ENGINE = "plandeploy.accounts.session_store"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Our pages load scripts and styles from our own static files only: an injected inline
# script or a foreign one does not run.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "plandeploy.urls"
ASGI_APPLICATION = "plandeploy.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTHENTICATION_BACKENDS = [
    "plandeploy.accounts.backends.PasswordBackend",
    # Signs in the users of a Salesforce sign-in.
    "plandeploy.accounts.backends.SalesforceBackend",
]

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
                "plandeploy.web.context.site",
            ]
        },
    }
]

# Database: the embedded PostgreSQL of PLANDEPLOY_HOME unless DATABASE_URL names one.
EMBEDDED_DB = embedded_db.for_home(PLANDEPLOY_HOME)
DATABASE_URL = env.str("DATABASE_URL", default="") or EMBEDDED_DB.url()
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if EMBEDDED_DATABASE:
    DATABASES["default"].update(
        HOST=str(EMBEDDED_DB.socket_dir), PORT=str(embedded_db.SOCKET_PORT), OPTIONS={}
    )
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
# `plandeploy web` and `worker` default it to 300: their threads keep their connections.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# A kept connection that PostgreSQL dropped (a restart) is replaced before its next use;
# without the check, the next job on each worker thread failed on it.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Parameters bound by the server, so that psycopg prepares a query once a connection has run
# it DATABASE_PREPARE_THRESHOLD times: planning cost more than executing our hot queries
# (0.5 of 0.6 ms for a job's read). 0 turns preparing off (a pooler in transaction mode).
_PREPARE_THRESHOLD = env.int("DATABASE_PREPARE_THRESHOLD", default=2)
DATABASES["default"].setdefault("OPTIONS", {}).update(
    server_side_binding=True, prepare_threshold=_PREPARE_THRESHOLD or None)
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_plandeploy")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# Languages: LANGUAGES=en,es,fr selects the supported set; the first default is LANGUAGE_CODE.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
_LANGUAGE_NAMES = dict(
    __import__("django.conf.global_settings", fromlist=["LANGUAGES"]).LANGUAGES
)
LANGUAGES = [
    (code, _LANGUAGE_NAMES.get(code, code))
    for code in env.list("LANGUAGES", default=["en", "es", "fr", "de", "ja"])
]
if LANGUAGE_CODE not in {code for code, _name in LANGUAGES}:
    LANGUAGES.insert(0, (LANGUAGE_CODE, _LANGUAGE_NAMES.get(LANGUAGE_CODE, LANGUAGE_CODE)))
# Our catalogue before the apps': otherwise the admin's Spanish wins for words both translate.
LOCALE_PATHS = [BASE_DIR / "web" / "locale"]
PARLER_DEFAULT_LANGUAGE_CODE = LANGUAGE_CODE
PARLER_LANGUAGES = {
    None: tuple({"code": code} for code, _name in LANGUAGES),
    "default": {"fallbacks": [LANGUAGE_CODE], "hide_untranslated": False},
}
# Parler's cache would be per process (no shared cache is configured), so translations written
# by a worker or another web process would stay invisible until it expired.
PARLER_ENABLE_CACHING = False
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
# Only for `manage collectstatic`, for a separate file server; unset, nothing is collected.
STATIC_ROOT = env.str("STATIC_ROOT", default="") or None
# Static files are served from the installed packages' own static folders, found once at
# start-up: a pip-installed wheel then needs no collectstatic step before `plandeploy web`/`up`,
# and nothing is written next to site-packages, which may be read-only.
WHITENOISE_USE_FINDERS = True

# The web server: worker processes (0: one per core) and each one's request threads. A
# process serves WEB_THREADS requests at once and holds up to that many database connections.
WEB_WORKERS = env.int("WEB_WORKERS", default=0)
WEB_THREADS = env.int("WEB_THREADS", default=8)
if WEB_WORKERS < 0 or WEB_THREADS < 1:
    raise ImproperlyConfigured("WEB_WORKERS must be 0 or more and WEB_THREADS at least 1")

# Request bodies above this size get a 413/400 JSON error before any work is done.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "plandeploy.api.authentication.CatalogueVersionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # Last: CSRF for anonymous writes, whose credential is the session's scratch org.
        "plandeploy.api.authentication.AnonymousSessionCsrf",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["plandeploy.api.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "plandeploy.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "plandeploy API",
    "VERSION": "1.0.0",
    # The reference pages load their scripts from this server, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}


def _networks(name: str, default: list[str]) -> list:
    try:
        return [ipaddress.ip_network(net, strict=False) for net in env.list(name, default=default)]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from exc


# TRUSTED_PROXIES (above) as networks: X-Forwarded-For is believed only from these (see
# plandeploy/security/addresses.py), as uvicorn believes it only from them.
TRUSTED_PROXY_NETWORKS = _networks("TRUSTED_PROXIES", ["127.0.0.1"])
# The admin site and admin API answer only these client networks (others get a 400).
ADMIN_API_ALLOWED_SUBNETS = _networks("ADMIN_API_ALLOWED_SUBNETS", ["127.0.0.1/32"])
# Requests per client address and per user, counted in the database all processes share.
RATE_LIMITS = {
    "job": env.str("RATE_LIMIT_JOB", default="20/h"),
    "preflight": env.str("RATE_LIMIT_PREFLIGHT", default="60/h"),
    "scratch_org": env.str("RATE_LIMIT_SCRATCH_ORG", default="5/h"),
    "sign_in": env.str("RATE_LIMIT_SIGN_IN", default="10/m"),
    "org_connect": env.str("RATE_LIMIT_ORG_CONNECT", default="20/h"),
    "admin_api": env.str("ADMIN_API_THROTTLE", default="150/min"),
}
for _scope, _rate in RATE_LIMITS.items():
    _count, _, _period = _rate.partition("/")
    if not _count.strip().isdigit() or _period.strip()[:1].lower() not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(f"rate limit of {_scope}: {_rate!r} is not N/s|m|h|d")


# Jobs and queues.
JOB_TIMEOUT = env.int("JOB_TIMEOUT", default=3600)
SHORT_JOB_TIMEOUT = env.int("SHORT_JOB_TIMEOUT", default=60)
# Slots of a worker process: for queue `default` (and any other but `short`), and for `short`
# apart, so that long installs never hold the slots the scheduled jobs need.
WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=4)
SHORT_WORKER_CONCURRENCY = env.int("SHORT_WORKER_CONCURRENCY", default=2)
CANCEL_GRACE_SECONDS = env.float("CANCEL_GRACE_SECONDS", default=30)
SHUTDOWN_GRACE_SECONDS = env.float("SHUTDOWN_GRACE_SECONDS", default=25)
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=5)
STALLED_WORKER_SECONDS = env.float("STALLED_WORKER_SECONDS", default=20)
WORKER_POLLING_SECONDS = env.float("WORKER_POLLING_SECONDS", default=0.5)
MAX_QUEUE_LENGTH = env.int("MAX_QUEUE_LENGTH", default=15)
# /readyz fails without a live worker: a web process alone would accept runs nobody starts.
READY_REQUIRES_WORKER = env.bool("READY_REQUIRES_WORKER", default=True)

# /metrics answers a matching bearer token, or clients in these networks (default: loopback).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_SUBNETS = _networks("METRICS_ALLOWED_SUBNETS", ["127.0.0.1/32", "::1/128"])

# How long tokens, preflights, users and errors stay valid or kept.
TOKEN_LIFETIME_MINUTES = env.int("TOKEN_LIFETIME_MINUTES", default=10)
PREFLIGHT_LIFETIME_MINUTES = env.int("PREFLIGHT_LIFETIME_MINUTES", default=10)
API_TOKEN_EXPIRE_AFTER_DAYS = env.int("API_TOKEN_EXPIRE_AFTER_DAYS", default=30)
USER_RETENTION_DAYS = env.int("USER_RETENTION_DAYS", default=30)
EXCEPTION_RETENTION_DAYS = env.int("EXCEPTION_RETENTION_DAYS", default=90)
AVERAGE_JOB_WINDOW = env.int("AVERAGE_JOB_WINDOW", default=10)
MINIMUM_JOBS_FOR_AVERAGE = env.int("MINIMUM_JOBS_FOR_AVERAGE", default=5)

# Orgs.
LOCAL_ORGS_ROOT = Path(env.str("LOCAL_ORGS_ROOT", default=str(PLANDEPLOY_HOME / "orgs"))).resolve()
REPO_CACHE_ROOT = Path(
    env.str("REPO_CACHE_ROOT", default=str(PLANDEPLOY_HOME / "repos"))
).resolve()
# Checkouts unused this long are removed, and the least recently used ones while the cache
# is larger than this (each host has its own cache; it is rebuilt from the repositories).
REPO_CACHE_MAX_AGE_DAYS = env.float("REPO_CACHE_MAX_AGE_DAYS", default=14)
REPO_CACHE_MAX_MB = env.int("REPO_CACHE_MAX_MB", default=2048)
SCRATCH_ORGS_ENABLED = env.bool("SCRATCH_ORGS_ENABLED", default=True)

# Which org types this deployment offers: `local` (a workspace on the worker host: no
# Salesforce account needed, the default so that `make demo` runs anywhere) and/or
# `salesforce` (users sign in with Salesforce and plans run against their real org).
ORG_TYPES = env.list("ORG_TYPES", default=["local"])
_unknown_org_types = sorted(set(ORG_TYPES) - {"local", "salesforce"})
if _unknown_org_types or not ORG_TYPES:
    raise ImproperlyConfigured(
        f"ORG_TYPES: {', '.join(_unknown_org_types) or '(empty)'}: "
        "expected a list of local, salesforce"
    )
LOCAL_ORGS_OFFERED = "local" in ORG_TYPES
# The connected app the sign-in and the token refreshes of runs use (the names the reference
# system uses). With any of the three unset, Salesforce sign-in is off and the sign-in page
# says why.
SFDX_CLIENT_ID = env.str("SFDX_CLIENT_ID", default="")
SFDX_CLIENT_SECRET = env.str("SFDX_CLIENT_SECRET", default="")
SFDX_CLIENT_CALLBACK_URL = env.str("SFDX_CLIENT_CALLBACK_URL", default="")
_missing_sfdx = [name for name in ("SFDX_CLIENT_ID", "SFDX_CLIENT_SECRET",
                                    "SFDX_CLIENT_CALLBACK_URL") if not globals()[name]]
if "salesforce" not in ORG_TYPES:
    SALESFORCE_UNAVAILABLE_REASON = "ORG_TYPES does not include salesforce."
elif _missing_sfdx:
    SALESFORCE_UNAVAILABLE_REASON = f"{', '.join(_missing_sfdx)} not set."
else:
    SALESFORCE_UNAVAILABLE_REASON = ""
SALESFORCE_ENABLED = not SALESFORCE_UNAVAILABLE_REASON
# Where people sign in. Only the base URLs differ between production and the tests (which
# point them at a loopback fake of Salesforce).
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
SALESFORCE_SANDBOX_LOGIN_URL = env.str(
    "SALESFORCE_SANDBOX_LOGIN_URL", default="https://test.salesforce.com"
)
# A custom My Domain must be an https host under one of these suffixes (a person typing a
# domain must not be able to send our client secret and their code to any server).
SALESFORCE_MY_DOMAIN_SUFFIXES = env.list(
    "SALESFORCE_MY_DOMAIN_SUFFIXES", default=["my.salesforce.com", "my.salesforce-sites.com"]
)
# Extra hosts accepted as a custom domain, exactly (e.g. a government cloud's login host).
SALESFORCE_ALLOWED_DOMAINS = env.list("SALESFORCE_ALLOWED_DOMAINS", default=[])
# Scratch orgs from a Dev Hub (plandeploy/orgs/devhub.py): its user, signed in with the JWT
# bearer flow of the connected app, whose certificate matches SFDX_HUB_KEY (the PEM private
# key itself, or the path of a file holding it).
DEVHUB_USERNAME = env.str("DEVHUB_USERNAME", default="")
SFDX_HUB_KEY = env.str("SFDX_HUB_KEY", default="")
# How long a Dev Hub may take to make an org (at most the job's own time limit).
DEVHUB_CREATE_TIMEOUT_SECONDS = env.float("DEVHUB_CREATE_TIMEOUT_SECONDS", default=900)
# PKCE on the web server flow; turn it off only for a connected app that rejects it.
SALESFORCE_PKCE = env.bool("SALESFORCE_PKCE", default=True)

# django-allauth, for Salesforce sign-in only: a Salesforce user becomes a user here at once
# (no sign-up form, no e-mail checks: Salesforce vouches for the person); tokens go to our
# encrypted OrgConnection, not to allauth's table (plandeploy.accounts.salesforce_login).
SOCIALACCOUNT_PROVIDERS = {
    "salesforce": {
        "provider_class": "plandeploy.accounts.salesforce_login.PlandeploySalesforceProvider",
        "OAUTH_PKCE_ENABLED": SALESFORCE_PKCE,
        "APPS": [{
            "client_id": SFDX_CLIENT_ID,
            "secret": SFDX_CLIENT_SECRET,
            "key": SALESFORCE_LOGIN_URL,
        }] if SALESFORCE_ENABLED else [],
    }
}
SOCIALACCOUNT_ADAPTER = "plandeploy.accounts.salesforce_login.SocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_LOGIN_ON_GET = False
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = False
SCRATCH_ORG_DURATION_DAYS = env.int("SCRATCH_ORG_DURATION_DAYS", default=30)

try:
    SCHEDULES = resolve_schedules(env.str("CRON_SCHEDULE", default=""))
except ScheduleError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

PROCRASTINATE_AUTODISCOVER_MODULE_NAME = None
PROCRASTINATE_IMPORT_PATHS = ["plandeploy.jobs.registry"]
# Tasks are registered by plandeploy.jobs when its app is ready; the worker
# options come from plandeploy.queue.worker_options().

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be text or json")
# One line per web request at INFO; query strings are left out (they may carry secrets).
ACCESS_LOG = env.bool("ACCESS_LOG", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "plandeploy.logs.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "plandeploy.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "procrastinate": {"level": env.str("PROCRASTINATE_LOG_LEVEL", default="WARNING")},
        "django.db.backends": {"level": "INFO"},
    },
}
