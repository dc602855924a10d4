"""Muster settings. Everything a deployment changes comes from the environment (see docs/deployment.md)."""

import re
from logging.handlers import SysLogHandler
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from muster.core.env import env_bool, env_choice, env_int, env_list, env_rate, env_str, env_syslog

BASE_DIR = Path(__file__).resolve().parent
# ./var/ beside the working directory holds the SQLite file, so the demo and the CLI agree on one database.
VAR_DIR = Path(env_str("MUSTER_VAR_DIR", str(Path.cwd() / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

MODE = env_choice("MUSTER_MODE", "development", {"development", "production"})
PRODUCTION = MODE == "production"

_DEFAULT_SECRET = "insecure-development-key-do-not-use-in-production"  # noqa: S105 (refused in production)
SECRET_KEY = env_str("MUSTER_SECRET_KEY", _DEFAULT_SECRET)
DEBUG = env_bool("MUSTER_DEBUG", not PRODUCTION)

if PRODUCTION:
    if SECRET_KEY == _DEFAULT_SECRET or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("Production mode needs MUSTER_SECRET_KEY set to a random value of 50+ characters")
    if DEBUG:
        raise ImproperlyConfigured("Production mode refuses MUSTER_DEBUG=true")

ALLOWED_HOSTS = env_list("MUSTER_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("MUSTER_CSRF_TRUSTED_ORIGINS", [])


def _base_url() -> str:
    """Where people reach Muster (scheme://host[:port]): e-mailed links are made absolute with it. Production
    without MUSTER_BASE_URL uses https:// and the first real host name of MUSTER_ALLOWED_HOSTS."""
    value = env_str("MUSTER_BASE_URL")
    if value is None:
        if not PRODUCTION:
            return "http://127.0.0.1:8000"
        hosts = [host for host in ALLOWED_HOSTS if host != "*" and not host.startswith(".")]
        if not hosts:
            raise ImproperlyConfigured("Production mode needs MUSTER_BASE_URL, e.g. https://muster.example.org")
        return f"https://{hosts[0]}"
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise ImproperlyConfigured(
            f"MUSTER_BASE_URL={value!r} is not a site address; give scheme://host[:port] with no path, "
            "e.g. https://muster.example.org"
        )
    return f"{parts.scheme}://{parts.netloc}"


MUSTER_BASE_URL = _base_url()

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
    "drf_spectacular_sidecar",
    "django_filters",
    "huey.contrib.djhuey",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "muster.core",
    "muster.members",
    "muster.training",
    "muster.custody",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "muster.core.middleware.AuditMiddleware",  # the request for core.audit; records refused (403/404) web requests
    "muster.core.middleware.SessionRecordMiddleware",  # each account's sessions: key and last seen (core.sessions)
    "muster.core.changelog.RequestIdMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): has this session passed the second factor
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "muster.core.middleware.AbsoluteSessionTimeoutMiddleware",
    "muster.core.middleware.TwoFactorMiddleware",
    # The web pages' request rates (core.throttling), counted in process_view (the route picks the rate) before the
    # view. After the two-factor gate: a session that has the password but not yet the second factor is turned
    # away there and reaches only the sign-in steps, which are counted per address, so it cannot use up its
    # account's rate and lock the owner out of the counter. The API's paths are left to DRF's throttles.
    "muster.core.throttling.WebRateMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers locked-out logins
]

ROOT_URLCONF = "muster.urls"
WSGI_APPLICATION = "muster.wsgi.application"

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
                "muster.core.views_notifications.unread_notifications",  # the navbar badge, counted lazily
            ],
        },
    },
]


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if url is None:
        url = f"sqlite:///{VAR_DIR / 'muster.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("MUSTER_DB_CONN_MAX_AGE", 0, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this build understands: {exc}") from None
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock at BEGIN, so two writers never both read then collide on upgrade;
        # busy_timeout makes the second one wait instead of failing.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("MUSTER_SQLITE_TIMEOUT", 20, minimum=1),
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                f"PRAGMA busy_timeout={env_int('MUSTER_SQLITE_TIMEOUT', 20, minimum=1) * 1000};"
            ),
        }
        config["TEST"] = {"NAME": str(VAR_DIR / "test-muster.sqlite3")}
    elif engine == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
    else:
        raise ImproperlyConfigured(f"DATABASE_URL names {engine}; Muster supports SQLite and PostgreSQL")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "members.Account"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Passwords: at least 10 characters, not close to the username or names, not among the common passwords, not built
# around a word of this site (core.passwords). No composition rules. The common-password list is Django's (the
# 20,000 most common passwords of the Pwned Passwords breach corpus); MUSTER_COMMON_PASSWORDS_FILE names a longer
# list kept on the server (one lowercase password per line, plain or gzipped) to use instead.
MUSTER_COMMON_PASSWORDS_FILE = env_str("MUSTER_COMMON_PASSWORDS_FILE")
if MUSTER_COMMON_PASSWORDS_FILE is not None and not Path(MUSTER_COMMON_PASSWORDS_FILE).is_file():
    raise ImproperlyConfigured(f"MUSTER_COMMON_PASSWORDS_FILE={MUSTER_COMMON_PASSWORDS_FILE!r} is not a readable file")
# Words a password may not be built around, besides Muster, the roles, the units and the host names.
MUSTER_PASSWORD_WORDS = env_list("MUSTER_PASSWORD_WORDS", [])
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {
        "NAME": "django.contrib.auth.password_validation.CommonPasswordValidator",
        "OPTIONS": {"password_list_path": MUSTER_COMMON_PASSWORDS_FILE} if MUSTER_COMMON_PASSWORDS_FILE else {},
    },
    {"NAME": "muster.core.passwords.ContextWordsValidator"},
]


def _breached_passwords_file() -> str | None:
    """MUSTER_BREACHED_PASSWORDS_FILE, once its first line reads as Pwned Passwords' SHA-1 list ordered by hash."""
    path = env_str("MUSTER_BREACHED_PASSWORDS_FILE")
    if path is None:
        return None
    try:
        with open(path, "rb") as listing:
            first = listing.readline(256)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"MUSTER_BREACHED_PASSWORDS_FILE={path!r} cannot be read: {exc.strerror or exc}"
        ) from None
    if not re.fullmatch(rb"[0-9A-F]{40}:[0-9]+\r?\n?", first):
        raise ImproperlyConfigured(
            f"MUSTER_BREACHED_PASSWORDS_FILE={path!r} is not the Pwned Passwords SHA-1 list ordered by hash: its first "
            "line should read HASH:COUNT (40 upper-case hex digits, a colon, a count), as haveibeenpwned-downloader "
            "writes it"
        )
    return path


# Breached passwords: MUSTER_BREACHED_PASSWORDS_FILE names a local copy of Have I Been Pwned's Pwned Passwords (SHA-1,
# ordered by hash), searched on disk at every password set (core.passwords.BreachedPasswordValidator, no network); a
# password seen MUSTER_BREACHED_PASSWORDS_MIN_COUNT times or more is refused. Unset: no such check.
MUSTER_BREACHED_PASSWORDS_FILE = _breached_passwords_file()
MUSTER_BREACHED_PASSWORDS_MIN_COUNT = env_int("MUSTER_BREACHED_PASSWORDS_MIN_COUNT", 1, minimum=1)
if MUSTER_BREACHED_PASSWORDS_FILE:
    AUTH_PASSWORD_VALIDATORS.append(
        {
            "NAME": "muster.core.passwords.BreachedPasswordValidator",
            "OPTIONS": {"path": MUSTER_BREACHED_PASSWORDS_FILE, "min_count": MUSTER_BREACHED_PASSWORDS_MIN_COUNT},
        }
    )

# Login throttling (django-axes): 5 failures for one username from one address lock that pair for 15 minutes, so
# an attacker elsewhere cannot lock a user out from everywhere. It guards every authenticate() call, including a
# commander's countersign password at the counter and the password typed again before changing a credential.
# core.auth's backend is Django's ModelBackend that also audits a countersign that succeeded.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "muster.core.auth.AuditedModelBackend"]
AXES_ENABLED = env_bool("MUSTER_LOGIN_THROTTLING", True)
AXES_FAILURE_LIMIT = env_int("MUSTER_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("MUSTER_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = None
# The client's address (axes, the audit trail, API throttling): django-ipware. MUSTER_PROXY_COUNT is the number of
# reverse proxies in front of Muster, each adding the address it saw to X-Forwarded-For. 0: REMOTE_ADDR alone (a
# header sent by the client is ignored). N: the header must hold N entries (the last proxy is REMOTE_ADDR), and the
# first is the client; a header with more or fewer (a client adding its own) is not trusted, REMOTE_ADDR is used.
# core.audit.client_ip applies these; axes calls it (AXES_CLIENT_IP_CALLABLE), so both always agree.
MUSTER_PROXY_COUNT = env_int("MUSTER_PROXY_COUNT", 0, minimum=0, maximum=10)
AXES_IPWARE_PROXY_ORDER = "left-most"
AXES_IPWARE_PROXY_COUNT = MUSTER_PROXY_COUNT - 1 if MUSTER_PROXY_COUNT else None
AXES_IPWARE_PROXY_TRUSTED_IPS = None
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if MUSTER_PROXY_COUNT else ("REMOTE_ADDR",)
IPWARE_STRICT = True
AXES_CLIENT_IP_CALLABLE = "muster.core.audit.client_ip"
AXES_VERBOSE = False  # no "AXES: BEGIN version …" banner on every command's stderr

# Sessions end after 8 idle hours and at the latest 12 hours after login (core.middleware); a disabled account's
# sessions stop working at once (Django refuses inactive users on every request).
SESSION_COOKIE_AGE = env_int("MUSTER_SESSION_IDLE_MINUTES", 8 * 60, minimum=5) * 60
SESSION_SAVE_EVERY_REQUEST = True
MUSTER_SESSION_ABSOLUTE_SECONDS = env_int("MUSTER_SESSION_MAX_HOURS", 12, minimum=1) * 3600

# Two-factor sign-in (TOTP, django-otp): commanders, armorers, duty officers, auditors and superusers must enrol an
# authenticator app and give its 6-digit code after the password; anyone else may enrol and is then asked too
# (core/otp.py). false switches the role requirement off (the demo does; production mode refuses it); accounts that
# have enrolled are still asked.
MUSTER_REQUIRE_TOTP = env_bool("MUSTER_REQUIRE_TOTP", True)
if PRODUCTION and not MUSTER_REQUIRE_TOTP:
    raise ImproperlyConfigured("Production mode refuses MUSTER_REQUIRE_TOTP=false: staff sign in with two factors")
OTP_TOTP_ISSUER = "Muster"  # the name an authenticator app shows beside the code
# Wrong codes slow the next try: 1, 2, 4, 8 ... seconds after 1, 2, 3, 4 ... failures in a row (0 would switch it off).
OTP_TOTP_THROTTLE_FACTOR = 1
# The admin never shows a device's secret (a superuser could otherwise copy a commander's second factor).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

LOGIN_URL = "login"
LOGIN_URL_PATH = "/login/"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("MUSTER_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("MUSTER_STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Outside production, serve straight from the source folders so the demo needs no collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION

# API tokens last this many days from their creation (core.authentication): then 401 token_expired, and the token
# endpoint or `muster user token` hands out a new one.
MUSTER_API_TOKEN_DAYS = env_int("MUSTER_API_TOKEN_DAYS", 30, minimum=1, maximum=365)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "muster.core.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "muster.core.api.exception_handler",
    # Request rates (core.throttling): per account, per address for callers not signed in, and tighter on the token
    # endpoint and the PDFs. Over the rate: 429 {"code": "throttled"} with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "muster.core.throttling.AccountRateThrottle",
        "muster.core.throttling.AnonymousRateThrottle",
        "muster.core.throttling.RouteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "account": env_rate("MUSTER_API_RATE", "1200/minute"),
        "anonymous": env_rate("MUSTER_API_RATE_ANONYMOUS", "120/minute"),
        "token": env_rate("MUSTER_API_RATE_TOKEN", "10/minute"),
        "documents": env_rate("MUSTER_API_RATE_DOCUMENTS", "30/minute"),
    },
}
# On by default; off where MUSTER_LOGIN_THROTTLING is off (load tests), unless set itself.
MUSTER_API_THROTTLING = env_bool("MUSTER_API_THROTTLING", AXES_ENABLED)
# The web pages' request rates (core.throttling.WebRateMiddleware; every path but /api/): per account on every page,
# tighter on the pages that answer a file (the PDFs, the ledger's files, the CSV and XLSX exports), per address for
# callers not signed in and on the sign-in steps. Over a rate: a 429 page with Retry-After, the view not run. The
# switch follows MUSTER_API_THROTTLING unless set itself.
MUSTER_WEB_THROTTLE_RATES = {
    "web": env_rate("MUSTER_WEB_RATE", "600/minute"),
    "web_documents": env_rate("MUSTER_WEB_RATE_DOCUMENTS", "30/minute"),
    "web_anonymous": env_rate("MUSTER_WEB_RATE_ANONYMOUS", "120/minute"),
}
MUSTER_WEB_THROTTLING = env_bool("MUSTER_WEB_THROTTLING", MUSTER_API_THROTTLING)
# The throttles' counts live in the cache: in each server process (LocMemCache) by default, shared by every process
# in Redis when MUSTER_REDIS_URL is set.
SPECTACULAR_SETTINGS = {
    "TITLE": "Muster API",
    "DESCRIPTION": "Roster and custody of controlled equipment. Rule refusals answer 409 {code, detail}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc served from our own static files: units may run without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_HSTS_SECONDS = env_int("MUSTER_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("MUSTER_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env_bool("MUSTER_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

EMAIL_BACKEND = env_str(
    "MUSTER_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("MUSTER_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("MUSTER_EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("MUSTER_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("MUSTER_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("MUSTER_EMAIL_TLS", False)
# Seconds an SMTP connect, read or write may take before the send fails (and is retried later). Mail is sent by
# the worker, never in a request, but a hung server must not hold a worker thread for ever either.
EMAIL_TIMEOUT = env_int("MUSTER_EMAIL_TIMEOUT", 10, minimum=1, maximum=300)
DEFAULT_FROM_EMAIL = env_str("MUSTER_EMAIL_FROM", "muster@localhost")

# Background jobs (huey): SQLite file under var/ by default, Redis when MUSTER_REDIS_URL is set.
_REDIS_URL = env_str("MUSTER_REDIS_URL")
HUEY = {
    "name": "muster",
    "immediate": False,
    "utc": True,
    "consumer": {"workers": env_int("MUSTER_WORKERS", 2, minimum=1), "worker_type": "thread", "periodic": True},
}


def _redis_url(url: str) -> str:
    """The queue's URL with socket timeouts unless it sets its own: a request queues e-mail and webhooks on commit,
    and a Redis that stopped answering must fail that quickly (it is logged; the worker's sweep catches up), not
    hang the request. The consumer's blocking reads wait 1 second, well inside them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", "5")
    query.setdefault("socket_timeout", "10")
    return urlunsplit(parts._replace(query=urlencode(query)))


if _REDIS_URL:
    HUEY.update({"huey_class": "huey.RedisHuey", "connection": {"url": _redis_url(_REDIS_URL)}})
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(_REDIS_URL),
            "KEY_PREFIX": "muster-cache",
        }
    }
else:
    HUEY.update({"huey_class": "huey.SqliteHuey", "filename": str(VAR_DIR / "jobs.sqlite3")})

# The Ed25519 key that signs ledger checkpoints; keep it outside the database (and its backups).
MUSTER_LEDGER_KEY_FILE = env_str("MUSTER_LEDGER_KEY_FILE", str(VAR_DIR / "ledger-signing.key"))
# Every checkpoint is also written as a file here: a folder another system owns (a mounted share, a synced or
# write-once store), so that copies leave the server without anyone remembering to carry them.
MUSTER_CHECKPOINT_DIR = env_str("MUSTER_CHECKPOINT_DIR", "")

# Two-person handover: the receiving member confirms every issue with their PIN.
MUSTER_REQUIRE_HANDOVER_PIN = env_bool("MUSTER_REQUIRE_HANDOVER_PIN", True)

# Loss cases must be reported to the authorities within this many hours, or they are escalated.
MUSTER_LOSS_REPORT_HOURS = env_int("MUSTER_LOSS_REPORT_HOURS", 24, minimum=1)

# Expiry warnings: members and their commanders are told this many days before a vetting or qualification expires.
MUSTER_EXPIRY_WARNING_DAYS = env_int("MUSTER_EXPIRY_WARNING_DAYS", 30, minimum=1, maximum=365)

# Overdue items: armorers are told at once, commanders this many hours later.
MUSTER_OVERDUE_ESCALATION_HOURS = env_int("MUSTER_OVERDUE_ESCALATION_HOURS", 12, minimum=0)

# Count discrepancies left unresolved this many hours remind the armorers; twice as long, the commanders.
MUSTER_DISCREPANCY_REMINDER_HOURS = env_int("MUSTER_DISCREPANCY_REMINDER_HOURS", 24, minimum=1)

# Content Security Policy: scripts and styles only from our own origin — no inline script anywhere (a test reads
# every template), and the API docs load their start-up script from a URL of their own.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Custody: default due-back period for an issue when the caller gives none.
MUSTER_DEFAULT_LOAN_HOURS = env_int("MUSTER_DEFAULT_LOAN_HOURS", 24 * 7, minimum=1)

# Every log line is one JSON object with its time in UTC (ISO 8601), level, logger and message, and the fields of
# an audit record (core.logformat.JsonFormatter); MUSTER_LOG_FORMAT=text writes plain lines (with the UTC time) for
# people reading a terminal. MUSTER_LOG_SYSLOG sends the same JSON lines to a syslog collector as well, off the
# server (docs/deployment.md *Logs*).
MUSTER_LOG_FORMAT = env_choice("MUSTER_LOG_FORMAT", "json", {"json", "text"})
MUSTER_LOG_SYSLOG = env_syslog("MUSTER_LOG_SYSLOG")
MUSTER_LOG_SYSLOG_FACILITY = env_choice("MUSTER_LOG_SYSLOG_FACILITY", "local0", set(SysLogHandler.facility_names))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "muster.core.logformat.JsonFormatter"},
        "text": {"()": "muster.core.logformat.TextFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": MUSTER_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("MUSTER_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},  # PDF font subsetting is chatty at INFO
        # Who exported which personal data: kept whatever MUSTER_LOG_LEVEL says.
        "muster.audit": {"level": "INFO"},
    },
}
if MUSTER_LOG_SYSLOG:
    LOGGING["handlers"]["syslog"] = {
        "()": "muster.core.logformat.syslog_handler",
        "address": MUSTER_LOG_SYSLOG,
        "facility": MUSTER_LOG_SYSLOG_FACILITY,
        "formatter": "json",
    }
    LOGGING["root"]["handlers"].append("syslog")
