"""Settings for the demo blog, read from the environment with django-environ.

DATABASE_URL  default: a SQLite file under demo_project/var/
EMAIL_URL     default: smtp://127.0.0.1:1025 (an SMTP server on loopback)
SITE_URL      default: http://127.0.0.1:8000, used in confirmation links
"""

from pathlib import Path

import django
import environ

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="demo-only-insecure-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_activejob",
    "demo_project.blog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

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


def database_from_env(url_variable: str = "DATABASE_URL") -> dict:
    """Return the DATABASES entry for DATABASE_URL, tuned for a job queue.

    SQLite gets WAL journaling (readers don't block the writer), a 20 s busy
    timeout and IMMEDIATE transactions, so a web process and several workers
    can share one file without "database is locked" errors. MySQL/MariaDB
    gets utf8mb4.
    """
    url = env.str(url_variable, default="") or f"sqlite:///{VAR_DIR / 'demo.sqlite3'}"
    database = environ.Env.db_url_config(url)
    engine = database["ENGINE"]
    if engine.endswith("sqlite3"):
        database.setdefault("OPTIONS", {}).update({
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        })
    elif engine.endswith("mysql"):
        database.setdefault("OPTIONS", {}).update({"charset": "utf8mb4"})
        database["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    return database


DATABASES = {"default": database_from_env()}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    VAR_DIR.mkdir(exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"



def email_settings(url: str, timeout: int = 10) -> dict:
    """Return the settings that send email through ``url``, such as ``smtp://127.0.0.1:1025``.

    Django 6.1 replaced the EMAIL_* settings with MAILERS and warns about
    the old ones, so the shape depends on the installed version.
    """
    config = environ.Env.email_url_config(url)
    if django.VERSION < (6, 1):
        return {"EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False, **config, "EMAIL_TIMEOUT": timeout}

    options = {}
    if config["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
        options = {"host": config["EMAIL_HOST"], "port": config["EMAIL_PORT"], "timeout": timeout}
        if config.get("EMAIL_HOST_USER"):
            options.update(username=config["EMAIL_HOST_USER"], password=config["EMAIL_HOST_PASSWORD"])
        for flag in ("use_tls", "use_ssl"):
            if config.get(f"EMAIL_{flag.upper()}"):
                options[flag] = True
    return {"MAILERS": {"default": {"BACKEND": config["EMAIL_BACKEND"], "OPTIONS": options}}}


vars().update(email_settings(env.str("EMAIL_URL", default="smtp://127.0.0.1:1025"),
                             timeout=env.int("EMAIL_TIMEOUT", default=10)))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Demo Blog <noreply@blog.example>")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "blog:post_list"

ACTIVEJOB = {
    "QUEUE_ADAPTER": env.str("ACTIVEJOB_QUEUE_ADAPTER", default="database"),
    "SLEEP_DELAY": env.float("ACTIVEJOB_SLEEP_DELAY", default=5.0),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_activejob": {
            "handlers": ["console"],
            "level": env.str("ACTIVEJOB_LOG_LEVEL", default="INFO"),
        },
        "demo_project": {"handlers": ["console"], "level": "INFO"},
    },
}
