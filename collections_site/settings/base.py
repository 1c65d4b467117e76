"""All settings, driven by environment variables (see `.env.example`).

No `DATABASE_URL` -> a SQLite file; no `REDIS_URL` -> local-memory cache and django-q2's ORM
broker. `DEBUG` is off unless asked for, and then `SECRET_KEY` is required.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A local `.env` is a convenience for development (`make run` writes one with DEBUG on and a
# generated SECRET_KEY); real deployments set the environment. Variables already in the
# environment win over the file. ENV_FILE names another file; empty reads none (the tests).
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and (BASE_DIR / ENV_FILE).is_file():
    env.read_env(str(BASE_DIR / ENV_FILE))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not DEBUG and (not SECRET_KEY or SECRET_KEY.startswith("change-me")):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when DEBUG is off, e.g. the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'. For local development "
        "run `make run` once: it writes a .env with DEBUG=1 and a generated key."
    )
if not SECRET_KEY:
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    # Project apps first so their templates override third-party ones.
    "accounts",
    "accounts.api_keys",
    # Signed outbound webhooks to creditors' endpoints (docs/webhooks.md).
    "accounts.webhooks",
    "compliance",
    "messaging",
    "recommender",
    "portal",
    # The debtor's privacy rights across the apps (docs/privacy.md); after them, so its admin
    # extends the debtor's page as they registered it.
    "collections_site.privacy",
    # The operations cockpit in the Wagtail admin (/admin/operations/, docs/operations.md).
    "collections_site.operations",
    # Operators' daily work in the Wagtail admin: debtors, accounts, payments, plans, decisions
    # and the search that finds a debtor (docs/casework.md).
    "collections_site.casework",
    # The demo's simulated 90-day history, built by the worker (docs/demo.md).
    "collections_site.demo_history",
    # The work queues in the Wagtail admin: disputes, call-backs, failed hand-offs
    # (/admin/queues/, docs/queues.md).
    "collections_site.queues",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Trigram lookups for the casework search (its indexes: casework migration 0001).
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so static files get a policy too (collections_site/csp.py).
    "collections_site.csp.AreaCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # JSON bodies nested too deeply for any parser answer 400 before a view reads them.
    "collections_site.middleware.JsonDepthLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The second factor and the working-day limit of admin sessions (accounts/staff/).
    "accounts.staff.middleware.StaffLoginMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
    # Last: turns a login refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "collections_site.urls"
WSGI_APPLICATION = "collections_site.wsgi.application"
ASGI_APPLICATION = "collections_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        # The debtor portal's pages (portal/templating.py says why they are Jinja2).
        "NAME": "portal",
        "BACKEND": "portal.compiled_translations.PortalJinja2",
        "DIRS": [BASE_DIR / "portal" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "portal.templating.environment",
            "context_processors": [
                "django.contrib.messages.context_processors.messages",
                "portal.templating.urls",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves a web process and a worker at once: wait for locks rather
    # than fail, and use WAL so readers never block the writer. Transactions take the write
    # lock when they begin (IMMEDIATE): a deferred one that reads and then writes cannot wait
    # for the lock (SQLite answers "database is locked" at once to avoid a deadlock), while
    # one that begins by waiting for it simply waits its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A kept connection is checked (SELECT 1) before each request's first query.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "collections",
    "workers": env.int("Q_WORKERS", default=2),
    # retry must exceed timeout, or a slow task is handed to a second worker while it runs.
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": 3,
    "queue_limit": 50,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    # django-q2 checks for an `orm` key before `redis`, so it is left out entirely here.
    # Timeouts (redis-py reads them from the URL's query): a Redis that cannot be reached
    # fails a call in seconds instead of hanging a worker or the Health page. The socket
    # timeout stays above the one-second blocking read with which workers wait for tasks.
    _sep = "&" if "?" in REDIS_URL else "?"
    Q_CLUSTER["redis"] = (
        REDIS_URL
        if "socket_timeout" in REDIS_URL
        else f"{REDIS_URL}{_sep}socket_connect_timeout=2&socket_timeout=5"
    )
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    Q_CLUSTER["orm"] = "default"
# Sessions live in the database; with Redis they are also read through the shared cache, which
# saves a query per page. Never through a per-process cache: another worker would keep serving
# a session that was ended or changed. `portal.sessions` and `portal.sessions.cached_db` are
# Django's engines that refuse keys Django never issues.
SESSION_ENGINE = "portal.sessions.cached_db" if REDIS_URL else "portal.sessions"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username+IP is refused before its password is even checked. It
    # guards every login that goes through `authenticate()`: Wagtail's /admin/login/ and Django
    # admin's /django-admin/login/ alike (docs/security.md).
    "axes.backends.AxesStandaloneBackend",
    # Before ModelBackend: refuses a creditor user ("Creditor users" group) every permission
    # outside that role's list, whatever else they hold (accounts/roles.py).
    "accounts.roles.CreditorUserPermissionCap",
    "django.contrib.auth.backends.ModelBackend",
]
# Wrong passwords for one username from one client address before that pair is locked out,
# and for how long. The address is the portal's (`PORTAL_CLIENT_IP_HEADER` behind a proxy).
STAFF_LOGIN_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", default=5)
STAFF_LOGIN_LOCKOUT_MINUTES = env.int("STAFF_LOGIN_LOCKOUT_MINUTES", default=15)
AXES_FAILURE_LIMIT = STAFF_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=STAFF_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "accounts.staff.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.staff.lockout_response"
# Axes' own log lines name the path only: no usernames or addresses in the logs.
AXES_CLIENT_STR_CALLABLE = "accounts.staff.login_attempt_str"
# Two-factor login (TOTP app or recovery code) for every user of either admin: they all see
# debtors' personal data. On unless DEBUG, so the local demo signs in with admin/admin alone.
# Someone who enrolled is always asked for a code, even with this off.
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("STAFF_2FA_ISSUER", default="Collections")
# Admin sessions last one working day from the login, whatever the activity, and (unless
# turned off) end when the browser closes. The debtor portal's sessions are not affected.
STAFF_SESSION_MAX_AGE_SECONDS = env.int("STAFF_SESSION_MAX_AGE_SECONDS", default=9 * 60 * 60)
STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool(
    "STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True
)
# Creditor users (a creditor's own staff in the admins, docs/creditor-users.md) see a
# dispute's evidence (the debtor's uploaded document and free-text statement) only when this
# is on; off, they see that a dispute was raised, its reason, status and outcome.
CREDITOR_USERS_SEE_DISPUTE_EVIDENCE = env.bool("CREDITOR_USERS_SEE_DISPUTE_EVIDENCE", default=False)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production defaults when DEBUG is off) ---------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (django-csp, one policy per area picked by path in
# collections_site/csp.py; the portal sets its own, stricter one). The default is for pages of
# our own (the home page: its one inline <style> carries the request's nonce), the API, the
# tracking and webhook endpoints and static files: nothing but this site, never framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
# Both admins: the pages' inline styles (Wagtail's markup and widgets; message previews, which
# are e-mails styled inline shown in sandboxed srcdoc frames that inherit this policy), images
# drawn in the browser, and Wagtail's live preview, a frame of the admin's own.
_ADMIN_CSP = {
    **CONTENT_SECURITY_POLICY["DIRECTIVES"],
    "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:", "blob:"],
    "frame-src": [SELF],
    "frame-ancestors": [SELF],
    # The outbox's message previews pin their links with <base href="about:srcdoc">.
    "base-uri": [SELF, "about:"],
}
CSP_AREA_POLICIES = {
    # Signing in (password, lockout, second factor): no inline script at all.
    "/admin/login/": _ADMIN_CSP,
    "/admin/2fa/": _ADMIN_CSP,
    # Wagtail 8 still writes some widgets' start-up as inline <script> (choosers, inline
    # panels, date pickers: wagtail/wagtail#12940), so its admin allows inline scripts, but
    # still loads, fetches and posts nothing from anywhere else. The Django admin needs none.
    "/admin/": {**_ADMIN_CSP, "script-src": [SELF, UNSAFE_INLINE]},
    "/django-admin/": _ADMIN_CSP,
    # Swagger UI from drf-spectacular-sidecar (this site), started by a script file of its own
    # (SpectacularSwaggerSplitView), not an inline one. It styles some elements inline.
    "/api/docs/": {**CONTENT_SECURITY_POLICY["DIRECTIVES"], "style-src": [SELF, UNSAFE_INLINE]},
}
# Placements carry up to 10,000 rows of JSON; allow bodies up to this size.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=32 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# --- Django REST framework and the OpenAPI schema ------------------------------------------
# Rate limits (docs/api.md), per API key: a burst and a sustained limit, "N/second", "N/minute",
# "N/hour" or "N/day" (empty: none). Placements (up to 10,000 rows each) are counted apart.
_API_RATES = {
    "api_burst": env.str("API_RATE_BURST", default="60/min"),
    "api_sustained": env.str("API_RATE_SUSTAINED", default="5000/day"),
    "placements_burst": env.str("API_PLACEMENT_RATE_BURST", default="10/min"),
    "placements_sustained": env.str("API_PLACEMENT_RATE_SUSTAINED", default="1000/day"),
}
_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}
for _name, _rate in _API_RATES.items():
    _number, _, _period = _rate.partition("/")
    if _rate and not (
        _number.isascii() and _number.isdigit() and int(_number) > 0 and _period in _PERIODS
    ):
        raise ImproperlyConfigured(
            f"The API rate {_name} is {_rate!r}: write it as N/second, N/minute, N/hour or "
            "N/day (e.g. 60/minute), or leave it empty for no limit."
        )

REST_FRAMEWORK = {
    # `Authorization: Token <key>` or `Bearer <key>`; keys are stored hashed (accounts/api_keys).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_keys.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsCreditorUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.apis.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {name: rate or None for name, rate in _API_RATES.items()},
    "COERCE_DECIMAL_TO_STRING": True,
}
# The reference's opening (`/api/docs/`): what a creditor's engineer needs before the first
# call. docs/api.md and docs/webhooks.md say the same at length.
_API_DESCRIPTION = """Place accounts with their debtors, follow their status, timeline and \
payments, recall them, and receive what happens to them as signed webhooks.

- **Authentication**: every request carries an API key, `Authorization: Token ck_...` (or \
`Bearer`); press *Authorize* and paste `Token ` and the key. A key sees its own creditor's \
data only: another creditor's account answers 404, like one that does not exist.
- **Placing is idempotent**: `POST /api/v1/placements/` upserts by `external_ref`, so a \
file sent twice creates nothing twice. Each row is checked on its own: the valid rows are \
saved and the others come back with their field errors.
- **Money** is a decimal string with at most the currency's decimals (`"240.00"`, never a \
float); **times** are ISO 8601 in UTC; dates are `YYYY-MM-DD`.
- **Lists** page with a cursor, oldest first: follow `next` until it is null; a `*_since` \
parameter (`updated_since`, `received_since`, `created_since`) reads only what is newer.
- **Errors**: 400 names each field (`{"url": ["The URL must use https."]}`); 401 a missing, \
wrong, expired or revoked key; 404 not yours or not there; 409 a change the account's state \
does not allow; 429 too many requests, with `Retry-After`.
- **Webhooks**: add an endpoint under `/api/v1/webhook-endpoints/`; each event is POSTed as \
JSON, signed with the endpoint's secret (the `Collections-Signature` header); \
`GET /api/v1/events/` catches up after an outage.
"""
SPECTACULAR_SETTINGS = {
    "TITLE": "Collections platform creditor API",
    "DESCRIPTION": _API_DESCRIPTION,
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets are served from this project (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["collections_site.openapi.only_creditor_api"],
    # Accounts and payments both have a `status`: each enum keeps its own name.
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.AccountStatus",
        "PaymentStatusEnum": "accounts.models.PaymentStatus",
        "WebhookEventTypeEnum": "accounts.webhooks.models.EventType",
        "WebhookDeliveryStatusEnum": "accounts.webhooks.models.DeliveryStatus",
        "PaymentMethodEnum": "accounts.models.PaymentMethod",
        # A failed portal payment (`payment.failed`) is always by card.
        "PaymentAttemptMethodEnum": [("card", "Card")],
    },
}

# --- Wagtail ----------------------------------------------------------------------------------
WAGTAIL_SITE_NAME = "Collections"
WAGTAILADMIN_BASE_URL = SITE_URL
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "pdf", "txt"]
# The admin calls no outside service from the staff's browsers (the admin CSP allows none):
# no avatars from Gravatar (which would also send a hash of each staff e-mail there), no
# release check against releases.wagtail.org.
WAGTAIL_GRAVATAR_PROVIDER_URL = None
WAGTAIL_ENABLE_UPDATE_CHECK = False

# --- Email ----------------------------------------------------------------------------------
# Where the file channel backends write (e-mail without EMAIL_URL, SMS/WhatsApp JSON files,
# letter batches).
MESSAGING_OUTBOX_DIR = env.path("MESSAGING_OUTBOX_DIR", default=BASE_DIR / "outbox")
# Where the file-based mail backend writes (set below without EMAIL_URL); blank: no mail files.
EMAIL_FILE_PATH = ""
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    # No mail server configured: each e-mail is written to a file under the outbox, like SMS
    # and letters, never printed to the console (that would put debtors' data in the logs).
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.path.join(str(MESSAGING_OUTBOX_DIR), "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="collections@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Product settings -----------------------------------------------------------------------
PLACEMENT_MAX_ROWS = 10_000

# --- Webhooks (docs/webhooks.md) ------------------------------------------------------------
# Development and tests only: lets webhook endpoints be on loopback and private addresses and
# use plain http (a local receiver). Off, every target must be https (unless DEBUG) on a
# public address, checked when the endpoint is saved and again at each delivery (SSRF).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
# Seconds a worker holds a claimed delivery (renewed before each POST) before another worker
# may take it back: far longer than one attempt (10 s), so a delivery is never POSTed by two
# workers at once, and a killed worker's deliveries are sent again after it.
WEBHOOKS_CLAIM_LEASE_SECONDS = env.int("WEBHOOKS_CLAIM_LEASE_SECONDS", default=120)
# Days events are kept for `GET /api/v1/events/` (with their delivery log); older are deleted
# daily by the `webhooks.events_prune` schedule.
WEBHOOKS_EVENT_RETENTION_DAYS = env.int("WEBHOOKS_EVENT_RETENTION_DAYS", default=30)

# --- Logging: no personal data in logs; log ids, never names, emails or phones. -------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Libraries that log every task step, request or page edit at INFO. `make run` sets
        # LOG_LIBRARY_LEVEL=WARNING so the console keeps the project's own one-line progress
        # (each task that did something) and every problem.
        **{
            name: {
                "handlers": ["console"],
                "level": env.str("LOG_LIBRARY_LEVEL", default=LOG_LEVEL),
                "propagate": False,
            }
            for name in ("django-q", "django_tasks", "wagtail", "django.server", "axes")
        },
    },
}

# --- Portal links ---------------------------------------------------------------------------
# How long a portal link in an email or text message stays valid, and a letter's code (a short
# link to type from paper, valid longer since the post takes days; accounts/links.py).
PORTAL_LINK_MAX_AGE_DAYS = env.int("PORTAL_LINK_MAX_AGE_DAYS", default=14)
PORTAL_LETTER_LINK_MAX_AGE_DAYS = env.int("PORTAL_LETTER_LINK_MAX_AGE_DAYS", default=45)

# --- Messaging ------------------------------------------------------------------------------
# Channel backends are private to `messaging` (docs/messaging.md). Email goes through Django's
# email backends: EMAIL_URL (SMTP) unless MESSAGING_EMAIL_BACKEND names another, e.g. an ESP's
# "anymail.backends.mailgun.EmailBackend" (its keys in ANYMAIL_SETTINGS, JSON).
INSTALLED_APPS += ["anymail"]
MESSAGING_EMAIL_BACKEND = env.str("MESSAGING_EMAIL_BACKEND", default="")
# The email *channel* backend: Django email (default) or one JSON file per message.
MESSAGING_EMAIL_CHANNEL_BACKEND = env.str(
    "MESSAGING_EMAIL_CHANNEL_BACKEND", default="messaging.backends.email.EmailBackend"
)
MESSAGING_FROM_EMAIL = env.str("MESSAGING_FROM_EMAIL", default=DEFAULT_FROM_EMAIL)
# mailto: address for List-Unsubscribe next to the one-click URL (empty: URL only).
MESSAGING_UNSUBSCRIBE_MAILTO = env.str("MESSAGING_UNSUBSCRIBE_MAILTO", default="")
MESSAGING_SMS_BACKEND = env.str(
    "MESSAGING_SMS_BACKEND", default="messaging.backends.sms.FileSmsBackend"
)
MESSAGING_WHATSAPP_BACKEND = env.str(
    "MESSAGING_WHATSAPP_BACKEND", default="messaging.backends.sms.FileSmsBackend"
)
MESSAGING_LETTER_BACKEND = env.str(
    "MESSAGING_LETTER_BACKEND", default="messaging.backends.letter.LetterBatchBackend"
)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_WHATSAPP_FROM = env.str("TWILIO_WHATSAPP_FROM", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
ANYMAIL = env.json("ANYMAIL_SETTINGS", default={})
if env.str("ANYMAIL_WEBHOOK_SECRET", default=""):
    ANYMAIL["WEBHOOK_SECRET"] = env.str("ANYMAIL_WEBHOOK_SECRET")
# An ESP event whose signed timestamp (Mailgun, SendGrid) is older than this is refused:
# longer than the ESPs' retry windows (Mailgun 8 hours), replays within it are no-ops.
MESSAGING_WEBHOOK_MAX_AGE_SECONDS = env.int("MESSAGING_WEBHOOK_MAX_AGE_SECONDS", default=86400)
# A payment or plan this many days after a message was opened or clicked converts it.
MESSAGING_ATTRIBUTION_WINDOW_DAYS = env.int("MESSAGING_ATTRIBUTION_WINDOW_DAYS", default=7)
MESSAGING_DISPATCH_BATCH = env.int("MESSAGING_DISPATCH_BATCH", default=500)
# Seconds a dispatcher holds claimed messages before another may take them back.
MESSAGING_CLAIM_LEASE_SECONDS = env.int("MESSAGING_CLAIM_LEASE_SECONDS", default=300)
# A message compliance would delay by more than this (hours after its planned time) is
# cancelled instead: the planner plans again with fresh facts.
MESSAGING_MAX_DELAY_HOURS = env.int("MESSAGING_MAX_DELAY_HOURS", default=72)
# Channels that need the debtor's recorded consent on top of the region's rules.
MESSAGING_CONSENT_REQUIRED = env.list("MESSAGING_CONSENT_REQUIRED", default=["whatsapp"])
MESSAGING_CONTACT = {
    "phone": env.str("MESSAGING_CONTACT_PHONE", default=""),
    "email": env.str("MESSAGING_CONTACT_EMAIL", default=DEFAULT_FROM_EMAIL),
}
# Values for the `{fields}` of compliance disclosures that are facts about this deployment.
# A required disclosure whose field has no value refuses the message (audited), never a gap.
MESSAGING_DISCLOSURE_VALUES = {
    "collector_name": env.str("MESSAGING_COLLECTOR_NAME", default=""),
    "collector_address": env.str("MESSAGING_COLLECTOR_ADDRESS", default=""),
    "creditor_address": env.str("MESSAGING_CREDITOR_ADDRESS", default=""),
    "ca_license_number": env.str("MESSAGING_CA_LICENSE_NUMBER", default=""),
    "supervisory_authority": env.str("MESSAGING_SUPERVISORY_AUTHORITY", default=""),
    "interest_calculation": env.str("MESSAGING_INTEREST_CALCULATION", default=""),
    "collection_costs": env.str("MESSAGING_COLLECTION_COSTS", default=""),
    "vat_statement": env.str("MESSAGING_VAT_STATEMENT", default=""),
    "address_source": env.str("MESSAGING_ADDRESS_SOURCE", default=""),
    "payment_methods": env.str("MESSAGING_PAYMENT_METHODS", default=""),
}
# Regions the admin previews an untagged (any-region) variant for, by language.
MESSAGING_PREVIEW_REGIONS = {"en": ["US", "GB"], "fr": ["FR", "CA-QC"], "de": ["DE"]}

# --- Portal (the debtor's self-service site, docs/portal.md) --------------------------------
# Payment gateway: "sandbox" (default, offline, test cards) or "stripe".
PORTAL_GATEWAY = env.str("PORTAL_GATEWAY", default="sandbox")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Stripe's hosted payment page and its 3-D Secure pages are reached by a redirect after a form
# post: allow them in CSP.
PORTAL_CSP_FORM_ACTION = (
    ["https://checkout.stripe.com", "https://hooks.stripe.com"]
    if PORTAL_GATEWAY == "stripe"
    else []
)
# A portal session ends after this many idle seconds.
PORTAL_SESSION_IDLE_SECONDS = env.int("PORTAL_SESSION_IDLE_SECONDS", default=30 * 60)
# Wrong identity answers before a link is locked. Each lock of the same link lasts longer (the
# minutes of each step); one more lock after the last step switches the link off for good, and
# the debtor asks for a fresh one, sent to the contact details on file (docs/portal.md).
PORTAL_LOCKOUT_ATTEMPTS = 5
PORTAL_LOCKOUT_STEPS_MINUTES = env.list(
    "PORTAL_LOCKOUT_STEPS_MINUTES", cast=int, default=[15, 60, 24 * 60]
)
# Wrong answers from one client IP within this many minutes lock that IP for as long, but only
# when PORTAL_CLIENT_IP_HEADER says where the client's address is: behind a proxy the socket
# address is the proxy's, shared by every debtor (system check portal.W001).
PORTAL_LOCKOUT_IP_ATTEMPTS = env.int("PORTAL_LOCKOUT_IP_ATTEMPTS", default=5)
PORTAL_LOCKOUT_MINUTES = 15
# Where the client's IP is: a header set by a proxy that appends the real client address (e.g.
# HTTP_X_FORWARDED_FOR; its last hop is used), or REMOTE_ADDR when clients connect directly.
# Empty: unknown, and the per-IP lockout is off.
PORTAL_CLIENT_IP_HEADER = env.str("PORTAL_CLIENT_IP_HEADER", default="")
# An expired link younger than this can still ask for a fresh one.
PORTAL_RELINK_MAX_AGE_DAYS = 90
PORTAL_SETTLEMENT_OFFER_DAYS = env.int("PORTAL_SETTLEMENT_OFFER_DAYS", default=7)
PORTAL_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
# Unpaid instalments become missed this many days after their due date; a plan breaks (the
# account returns to the contact cycle) when a missed instalment is this many days overdue.
PORTAL_MISSED_AFTER_DAYS = env.int("PORTAL_MISSED_AFTER_DAYS", default=3)
PORTAL_PLAN_BREAK_AFTER_DAYS = env.int("PORTAL_PLAN_BREAK_AFTER_DAYS", default=14)
# Days the operators give themselves to answer a dispute, by region (the longest matching
# prefix of the debtor's region wins: "US-MA" uses "US"), from when it was raised; the queue
# sorts by it and marks it overdue after. Collection stays paused until the dispute is resolved
# however long it takes. US: no statutory deadline to verify (FDCPA 809(b)); 30 days is our
# service level. GB: eight weeks for a final response (FCA DISP 1.6.2R). AU: 30 days for an
# internal dispute resolution answer (ASIC RG 271). docs/queues.md.
PORTAL_DISPUTE_RESPONSE_DAYS = {"default": 30, "US": 30, "GB": 56, "AU": 30}
# A promise to pay taken on a call counts as kept when the account received at least the
# promised amount between the promise and the promised day plus this many days of grace
# (debtor's calendar); otherwise it is broken and a follow-up call back is booked.
PORTAL_PROMISE_GRACE_DAYS = env.int("PORTAL_PROMISE_GRACE_DAYS", default=2)

# --- Recommender (docs/recommender.md) ------------------------------------------------------
# Share of decisions made uniformly at random (the control arm the uplift is measured against).
RECOMMENDER_CONTROL_SHARE = env.float("RECOMMENDER_CONTROL_SHARE", default=0.10)
# Share of decisions in the send-time arm: the policy's kind of message at a send-hour bucket
# drawn at random, to measure what choosing the hour is worth (the simulator turns it on; a
# cost in production, so off by default). Control share plus this must stay below 1.
RECOMMENDER_SEND_TIME_SHARE = env.float("RECOMMENDER_SEND_TIME_SHARE", default=0.0)
# Seeds the arm and variant draws when set (tests, benchmarks); unset: fresh randomness.
RECOMMENDER_RANDOM_SEED = None
# Accounts per planning batch (one transaction, one messages_send call each).
RECOMMENDER_PLAN_BATCH = 500
# After planning this many messages in one run, refresh the outbox statistics the
# dispatcher's claim is planned with (PostgreSQL).
RECOMMENDER_STATISTICS_AFTER = 1000
# Messages per debtor in any 24 hours / 7 days, across all of their accounts.
RECOMMENDER_DAILY_BUDGET = env.int("RECOMMENDER_DAILY_BUDGET", default=1)
RECOMMENDER_WEEKLY_BUDGET = env.int("RECOMMENDER_WEEKLY_BUDGET", default=3)
# Days between messages per journey stage: overrides merged over
# recommender.selectors.STAGE_CADENCE_DAYS, e.g. {"early": 2}.
RECOMMENDER_CADENCE_DAYS = {}
# Journey-stage boundaries and notice periods: overrides of recommender.selectors.StageRules
# fields, e.g. {"early_until": 14}.
RECOMMENDER_STAGE_RULES = {}
# Retraining: only decisions older than the attribution window, newest rows first, read in chunks.
RECOMMENDER_REWARD_DELAY_DAYS = env.float("RECOMMENDER_REWARD_DELAY_DAYS", default=7)
RECOMMENDER_TRAIN_MAX_ROWS = env.int("RECOMMENDER_TRAIN_MAX_ROWS", default=200_000)
RECOMMENDER_TRAIN_CHUNK = env.int("RECOMMENDER_TRAIN_CHUNK", default=5_000)
RECOMMENDER_MIN_TRAIN_ROWS = env.int("RECOMMENDER_MIN_TRAIN_ROWS", default=500)
# Newest share of the logs kept out of training to evaluate the candidate on.
RECOMMENDER_HOLDOUT_SHARE = 0.2
# Reward of a click that did not convert (a conversion is 1).
RECOMMENDER_CLICK_REWARD = 0.0
# Overrides of recommender.learning.LearnerConfig fields; empty: the learner's tuned defaults.
RECOMMENDER_LEARNER_CONFIG = {}
# The candidate is compared with the live model on the holdout rows newer than the live
# model's training data (neither was fitted on them); with fewer than this many it stays a
# candidate until a later night has them.
RECOMMENDER_MIN_LIVE_COMPARISON_ROWS = env.int("RECOMMENDER_MIN_LIVE_COMPARISON_ROWS", default=200)
# A candidate that passed the comparison goes live refitted on every row read (the holdout
# too), so the live model is not always missing the newest share of the logs.
RECOMMENDER_REFIT_ON_PROMOTION = env.bool("RECOMMENDER_REFIT_ON_PROMOTION", default=True)
# Each night's fit is blended with the live model (this weight on the fit, the rest on the
# live model: a moving average of the nightly reward models); 1 turns blending off.
RECOMMENDER_BLEND_WEIGHT = env.float("RECOMMENDER_BLEND_WEIGHT", default=0.5)
# Retraining waits until the logs hold at least this share of the live model's training
# rows in decisions newer than its training data (0: a new fit every night).
RECOMMENDER_RETRAIN_MIN_NEW_SHARE = env.float("RECOMMENDER_RETRAIN_MIN_NEW_SHARE", default=0.2)
# A candidate is rejected only when its off-policy value is surely (95%) below the live
# model's by more than this; otherwise the fresher model goes live.
RECOMMENDER_PROMOTION_TOLERANCE = env.float("RECOMMENDER_PROMOTION_TOLERANCE", default=0.0)
# Planners the hourly job runs side by side, each on its own debtors (one per django-q2
# worker is the most that helps; keep 1 on SQLite, which takes one writer at a time).
RECOMMENDER_PLAN_PARTS = env.int("RECOMMENDER_PLAN_PARTS", default=1)
# Seconds between a worker's checks for a newly promoted model.
RECOMMENDER_MODEL_RECHECK_SECONDS = env.float("RECOMMENDER_MODEL_RECHECK_SECONDS", default=5)
# Seconds the live model's id stays in the shared cache before it is read from the database.
RECOMMENDER_MODEL_CHECK_SECONDS = 60

# The uplift report shows an uplift only once both arms have the sends a two-sided test
# (alpha 0.05, power 0.8) needs to detect this relative uplift over the control's rate:
# 0.2 is a 20% lift, e.g. a 2.0% conversion rate to 2.4%.
RECOMMENDER_UPLIFT_MIN_DETECTABLE = env.float("RECOMMENDER_UPLIFT_MIN_DETECTABLE", default=0.2)
# The control rate assumed per metric until the control arm has both a success and a failure.
RECOMMENDER_UPLIFT_BASELINE_RATE = {"conversion": 0.02, "click": 0.05}

# --- Compliance (docs/compliance.md) --------------------------------------------------------
# Seconds a process trusts its cached rules before re-checking the rule-set version (the
# process that edits rules drops its cache at once).
COMPLIANCE_RULES_RECHECK_SECONDS = env.float("COMPLIANCE_RULES_RECHECK_SECONDS", default=2.0)

# --- Operations cockpit (docs/operations.md) -------------------------------------------------
# The thresholds of the Health page's verdict (/admin/operations/): past any of them it reads
# "Needs attention" with the reason. Counts are "more than N", over the last 24 hours.
# The oldest planned message due now may wait this long: the dispatcher runs every minute, so
# ten minutes late means it is stopped, failing or far behind.
OPERATIONS_DUE_LAG_WARN_SECONDS = 600
# Failed messages (providers refused them after every retry): a few a day are bounces.
OPERATIONS_FAILED_MESSAGES_WARN = 25
# Unconfirmed hand-offs are never re-sent automatically: each one needs a person to look.
OPERATIONS_HANDOFF_UNCONFIRMED_WARN = 0
# django-q2 tasks that raised: any one is worth reading.
OPERATIONS_FAILED_TASKS_WARN = 0
# Tasks waiting in the queue: far more than the workers clear in a minute means they stopped.
OPERATIONS_QUEUED_TASKS_WARN = 200
# Hours since the hourly planning schedule last succeeded.
OPERATIONS_PLAN_STALE_HOURS = 2
# Hours since the nightly retraining schedule last succeeded.
OPERATIONS_RETRAIN_STALE_HOURS = 36

# --- Privacy (docs/privacy.md) --------------------------------------------------------------
# Retention periods per region, over the shipped defaults (collections_site/privacy/
# retention.py), as JSON: {"GB": {"message_content": {"days": 730, "citation": "..."}}}.
PRIVACY_RETENTION = env.json("PRIVACY_RETENTION", default={})
# Rows per transaction when retention removes content, decisions or erases debtors.
PRIVACY_RETENTION_BATCH = env.int("PRIVACY_RETENTION_BATCH", default=500)

# --- Demo history (docs/demo.md) --------------------------------------------------------------
# The worker builds a simulated history for the demo (`make run`) through the real pipeline:
# only with DEBUG on unless set; refused whenever a channel would reach a real provider.
DEMO_HISTORY = env.bool("DEMO_HISTORY", default=DEBUG)
# Its size: simulated days (ending today) and debtors.
DEMO_HISTORY_DAYS = env.int("DEMO_HISTORY_DAYS", default=90)
DEMO_HISTORY_DEBTORS = env.int("DEMO_HISTORY_DEBTORS", default=2000)
