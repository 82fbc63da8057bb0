"""Settings shared by every environment. Deltas live in dev.py, test.py and production.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab

from portal.env import BASE_DIR, VAR_DIR, env

# GENERAL ------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PORT = env.int("PORT", default=8000)
# The portal's public address, for links in emails.
PORTAL_URL = env.str("PORTAL_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "America/New_York"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "captcha",
    "csp",
    "audit",
    "delivery",
    "accounts",
    "safecode",
    "twofactor",
    "guests",
    "servicedesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.errors.FailureAnswersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.sessions.SessionLifetimeMiddleware",
    "accounts.middleware.SignedInRequirementsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

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
                "portal.context_processors.institution",
            ],
        },
    },
]

# DATABASES ----------------------------------------------------------------------------------------
# Embedded default: a SQLite file under var/. Production: DATABASE_URL=postgres://...
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
else:
    # Concurrent requests and the background delivery thread share one SQLite file. Every
    # transaction takes the write lock when it begins (IMMEDIATE), so none fails half-way with
    # "database is locked" when it tries to upgrade a read lock; waiting writers queue for up to
    # ``timeout`` seconds; WAL lets readers go on while one request writes.
    _sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite_options.setdefault("timeout", 20)
    _sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
    _sqlite_options.setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )

# AUTHENTICATION -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTHENTICATION_BACKENDS = ["accounts.backends.DirectoryBackend"]
# What a signed-in person must do before anything else, in this order (accounts.requirements):
# until the first one not met is done, only its pages, help and sign-out are reachable.
ACCOUNTS_SIGNED_IN_REQUIREMENTS = [
    "safecode.requirements.SafeCodeRegistration",
    "twofactor.requirements.TwoFactorEnrollment",
]
# What a forgotten-password reset asks for after the SafeCode when the account has it
# (accounts.reset_proofs): a SafeCode alone never resets an account with a second factor.
ACCOUNTS_RESET_PROOFS = ["twofactor.recovery.SecondFactorResetProof"]
# Two-factor: who must enroll ("all", or affiliations such as "faculty,staff"; empty for
# nobody but staff), and how long "Remember me" lasts.
_required_for = env.list("TWOFACTOR_REQUIRED_FOR", default=["all"])
TWOFACTOR_REQUIRED_FOR = "all" if _required_for == ["all"] else tuple(_required_for)
TWOFACTOR_REMEMBER_DAYS = env.int("TWOFACTOR_REMEMBER_DAYS", default=30)
# How long the bypass codes the service desk issues work, unless the agent chooses (at most 7 days).
TWOFACTOR_BYPASS_CODE_TTL_MINUTES = env.int("TWOFACTOR_BYPASS_CODE_TTL_MINUTES", default=60)
# What happens between the password and the session, in this order (accounts.stages): the
# second factor first, so nothing of the account shows before it.
ACCOUNTS_SIGNIN_STAGES = [
    "twofactor.stages.SecondFactorStage",
    "accounts.stages.ExpiredPasswordStage",
]

# Argon2id first with OWASP's parameters; PBKDF2 stays readable for imported hashes and is
# upgraded on the next successful sign-in.
PASSWORD_HASHERS = [
    "portal.hashers.PortalArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
PASSWORD_MIN_LENGTH = 12
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.validators.ContextWordsValidator"},
    {"NAME": "accounts.validators.PasswordHistoryValidator", "OPTIONS": {"history": 5}},
]
# Passwords expire after this many days (0: never). NIST SP 800-63B advises against periodic
# expiry; the institution requires it, so it is kept as a documented, switchable deviation.
ACCOUNTS_PASSWORD_EXPIRY_DAYS = env.int("PASSWORD_EXPIRY_DAYS", default=365)
# Failed sign-ins, or accounts locked, across the portal in one hour that raise an alert to the
# service desk (accounts.services.alerts): password spraying and credential stuffing.
ACCOUNTS_ALERT_FAILED_SIGNINS_PER_HOUR = env.int("ALERT_FAILED_SIGNINS_PER_HOUR", default=500)
ACCOUNTS_ALERT_LOCKOUTS_PER_HOUR = env.int("ALERT_LOCKOUTS_PER_HOUR", default=20)
# Failed sign-ins across the portal in 15 minutes from which every sign-in answers a CAPTCHA
# before its password is checked, but from a browser known for the name (a spray from many IPs).
ACCOUNTS_SIGNIN_PRESSURE_FAILURES = env.int("SIGNIN_PRESSURE_FAILURES", default=300)

# GUESTS -------------------------------------------------------------------------------------------
# Sponsored guest access (guests.app_settings): the longest stay from the start date to the end
# date included, and how long an unused guest key works after it is issued.
GUESTS_MAX_DURATION_DAYS = env.int("GUESTS_MAX_DURATION_DAYS", default=365)
GUESTS_KEY_TTL_DAYS = env.int("GUESTS_KEY_TTL_DAYS", default=30)

# TWO-FACTOR PUSH ----------------------------------------------------------------------------------
# Web Push (VAPID, RFC 8292) wakes the portal's authenticator app (/m/) when a push is sent
# (twofactor.webpush). Empty private key (the default): Web Push is off and the app learns of a
# push by polling while it is open. `manage.py vapid_keys` prints a key pair in this format:
# base64url of the raw P-256 public point and of the raw private scalar. Changing the pair
# invalidates every phone's subscription until the app subscribes again.
TWOFACTOR_VAPID_PUBLIC_KEY = env.str("TWOFACTOR_VAPID_PUBLIC_KEY", default="")
TWOFACTOR_VAPID_PRIVATE_KEY = env.str("TWOFACTOR_VAPID_PRIVATE_KEY", default="")
# The contact push services may write to (mailto: or https:); the sender address by default.
TWOFACTOR_VAPID_SUBJECT = env.str("TWOFACTOR_VAPID_SUBJECT", default="")

# SECURITY KEYS ------------------------------------------------------------------------------------
# WebAuthn (twofactor.security_keys): the relying-party id is the portal's host name and the
# origin its URL, both from PORTAL_URL unless set here. A key registered under one RP id works
# only there: set it once, to the name people use (an IP address never works in a browser).
TWOFACTOR_WEBAUTHN_RP_ID = env.str("TWOFACTOR_WEBAUTHN_RP_ID", default="")
TWOFACTOR_WEBAUTHN_ORIGINS = env.list("TWOFACTOR_WEBAUTHN_ORIGINS", default=[])

# SESSIONS -----------------------------------------------------------------------------------------
# Enforced by portal.sessions.SessionLifetimeMiddleware: a signed-in session ends after
# SESSION_IDLE_SECONDS without activity (ADMIN_SESSION_IDLE_SECONDS for a request to the admin)
# and SESSION_ABSOLUTE_SECONDS after sign-in however active it is; its stored expiry is fixed at
# that end, so the cookie and the stored session do not outlive it.
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=12 * 60 * 60)
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
ADMIN_SESSION_IDLE_SECONDS = env.int("ADMIN_SESSION_IDLE_SECONDS", default=10 * 60)
# Sessions live in the database (the service desk ends them), with fewer round trips than
# Django's own db store: portal/session_store.py.
SESSION_ENGINE = "portal.session_store"
# Sessions not yet signed in (a sign-in or recovery flow under way) keep Django's sliding expiry.
# It is the absolute lifetime, no shorter, or it would end signed-in sessions early where the
# backend applies it (signed cookies); a signed-in session's own expiry is its absolute end.
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# SECURITY -----------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Number of reverse proxies in front of the portal whose X-Forwarded-For entries are trusted.
# 0 (the default) means the client IP is REMOTE_ADDR and no header is believed.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# CAPTCHA ------------------------------------------------------------------------------------------
# django-simple-captcha guards unlock, password change and forgotten password. The picture has an
# audio alternative only where the flite speech synthesiser is installed; without it, the pages
# offer the service desk's phone instead.
# The picture is drawn to defeat stock OCR (accounts.captcha says how; `python -m bench
# captcha_ocr` measures it): large characters without look-alikes, curves through them, blots,
# and a bend. The answer is not case-sensitive.
CAPTCHA_CHALLENGE_FUNCT = "accounts.captcha.challenge"
CAPTCHA_LENGTH = 6
CAPTCHA_FONT_SIZE = 50
CAPTCHA_IMAGE_SIZE = (340, 110)
CAPTCHA_LETTER_ROTATION = (-20, 21)
CAPTCHA_LETTER_COLOR_FUNCT = "accounts.captcha.letter_color"
CAPTCHA_BACKGROUND_COLOR = "#fbfaf5"
CAPTCHA_FOREGROUND_COLOR = "#222222"
CAPTCHA_NOISE_FUNCTIONS = ("accounts.captcha.noise_strokes", "accounts.captcha.noise_blots")
CAPTCHA_FILTER_FUNCTIONS = ("accounts.captcha.filter_thicken", "accounts.captcha.filter_warp")
CAPTCHA_PUNCTUATION = ""  # no character is drawn joined to the one before it
CAPTCHA_2X_IMAGE = False  # the page shows one size; the library's 2x ignores CAPTCHA_IMAGE_SIZE
CAPTCHA_TIMEOUT = 10  # minutes
CAPTCHA_FLITE_PATH = "/usr/bin/flite" if Path("/usr/bin/flite").exists() else None
# Lets browser tests answer any CAPTCHA with the word PASSED. Only allowed with DEBUG on: a system
# check refuses to start otherwise, and the field raises ImproperlyConfigured when used.
CAPTCHA_TEST_MODE = env.bool("CAPTCHA_TEST_MODE", default=False)

# STATIC FILES -------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# CELERY -------------------------------------------------------------------------------------------
# Without a broker URL there is no worker and Celery runs tasks eagerly; messages then leave
# through the portal's own background thread (delivery.inprocess), never inside a request.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=env.str("REDIS_URL", default=""))
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers keep their database connection between tasks, by Django's CONN_MAX_AGE and health
# checks (portal/celery.py); Celery's fixup then closes it only every 2,000 tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 15 * 60,
    "socket_connect_timeout": 3,
    "socket_timeout": 5,
}
CELERY_BEAT_SCHEDULE = {
    "delivery-sweep-queued": {
        "task": "delivery.tasks.sweep_queued_messages",
        "schedule": timedelta(minutes=1),
    },
    "accounts-password-expiry-reminders": {
        "task": "accounts.tasks.send_password_expiry_reminders",
        "schedule": crontab(hour=7, minute=0),
    },
    # Guest access ends at midnight after the end date; the job closes it within minutes.
    "guests-end-due": {
        "task": "guests.tasks.end_due_guests",
        "schedule": crontab(minute="*/10"),
    },
    "guests-ending-reminders": {
        "task": "guests.tasks.send_guest_ending_reminders",
        "schedule": crontab(hour=7, minute=15),
    },
}

# DELIVERY -----------------------------------------------------------------------------------------
_SMS_BACKENDS = {
    "outbox": "delivery.backends.outbox.OutboxBackend",
    "locmem": "delivery.backends.locmem.LocmemBackend",
    "twilio": "delivery.backends.twilio.TwilioBackend",
}
_EMAIL_BACKENDS = {
    "outbox": "delivery.backends.outbox.OutboxBackend",
    "locmem": "delivery.backends.locmem.LocmemBackend",
    "smtp": "delivery.backends.smtp.SMTPBackend",
}


def _backend(name: str, variable: str, choices: dict[str, str]) -> str:
    if name not in choices:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{variable} must be one of {', '.join(choices)}; got {name!r}.")
    return choices[name]


DELIVERY_SMS_BACKEND = _backend(
    env.str("SMS_BACKEND", default="outbox"), "SMS_BACKEND", _SMS_BACKENDS
)
DELIVERY_EMAIL_BACKEND = _backend(
    env.str("EMAIL_BACKEND", default="outbox"), "EMAIL_BACKEND", _EMAIL_BACKENDS
)

TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)

# Django's SMTP connection, used by the smtp delivery backend.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="HMS IT Service Desk <noreply@hms.harvard.edu>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# INSTITUTION --------------------------------------------------------------------------------------
INSTITUTION_NAME = env.str("INSTITUTION_NAME", default="Harvard Medical School")
INSTITUTION_SHORT_NAME = env.str("INSTITUTION_SHORT_NAME", default="HMS")
# The issuer an authenticator app shows beside the account name.
OTP_TOTP_ISSUER = INSTITUTION_NAME
INSTITUTION_EMAIL_DOMAINS = env.list(
    "INSTITUTION_EMAIL_DOMAINS",
    default=["hms.harvard.edu", "hsdm.harvard.edu", "med.harvard.edu"],
)
AFFILIATE_EMAIL_DOMAINS = env.list(
    "AFFILIATE_EMAIL_DOMAINS",
    default=[
        "partners.org",
        "mgb.org",
        "bidmc.harvard.edu",
        "bwh.harvard.edu",
        "mgh.harvard.edu",
        "childrens.harvard.edu",
        "dfci.harvard.edu",
    ],
)
SERVICE_DESK_PHONE = env.str("SERVICE_DESK_PHONE", default="617-432-2000")
SERVICE_DESK_EMAIL = env.str("SERVICE_DESK_EMAIL", default="itservicedesk@hms.harvard.edu")
SERVICE_DESK_LOCATION = env.str(
    "SERVICE_DESK_LOCATION",
    default="Second floor of the Tosteson Medical Education Center, 260 Longwood Avenue, Boston",
)

# Help page: who answers Harvard ID questions, and where the university's own pages are.
HARVARD_ID_CONTACTS = [
    {
        "office": "HMS Human Resources (faculty and staff)",
        "phone": "617-432-2042",
        "email": "hr@hms.harvard.edu",
    },
    {
        "office": "HMS Registrar (medical students)",
        "phone": "617-432-1515",
        "email": "registrar@hms.harvard.edu",
    },
    {
        "office": "HSDM Registrar (dental students)",
        "phone": "617-432-1443",
        "email": "registrar@hsdm.harvard.edu",
    },
    {
        "office": "Harvard Chan School Registrar (public health students)",
        "phone": "617-432-1032",
        "email": "registrar@hsph.harvard.edu",
    },
]
HARVARD_PIN_URL = env.str("HARVARD_PIN_URL", default="https://www.pin.harvard.edu/")
HARVARDKEY_URL = env.str("HARVARDKEY_URL", default="https://key.harvard.edu/")

# SAFECODE -----------------------------------------------------------------------------------------
# Countries (ISO 3166 alpha-2, e.g. "GB,FR") whose mobile numbers may be registered as SafeCode
# phones in addition to the United States and Canada, which are always allowed. Empty by default.
SAFECODE_PHONE_COUNTRIES = env.list("SAFECODE_PHONE_COUNTRIES", default=[])

# LOGGING ------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"twilio.http_client": {"level": "WARNING"}},
}
