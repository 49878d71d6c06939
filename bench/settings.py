"""Django settings for the benchmarks: django_activejob, the benchmark jobs and one database.

bench/run.py sets these environment variables for its child processes and
for the worker processes it starts:

BENCH_DATABASE      sqlite (default), postgres or mariadb
BENCH_SQLITE_DIR    directory of the SQLite file; required for sqlite
BENCH_ACTIVEJOB     a JSON object merged into ACTIVEJOB, e.g. {"LISTEN_NOTIFY": false}
BENCH_CONN_MAX_AGE  CONN_MAX_AGE as JSON: null keeps connections open; unset keeps Django's 0
BENCH_SAMPLES_FILE  the file that benchmark jobs append their measurements to
"""

import json
import os

from bench.databases import database_settings

SECRET_KEY = "benchmark-only-insecure-key"
DEBUG = False
# The admin workload requests pages with django.test.Client, whose host is "testserver".
ALLOWED_HOSTS = ["testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_activejob",
    "bench.benchapp",
]

# The middleware and templates of `django-admin startproject`, which the Django admin needs.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
STATIC_URL = "static/"

# Django's default CONN_MAX_AGE (0) unless BENCH_CONN_MAX_AGE is set, so the figures are
# what a project that only adds django_activejob gets.
DATABASES = {
    "default": database_settings(
        os.environ.get("BENCH_DATABASE", "sqlite"), os.environ.get("BENCH_SQLITE_DIR")
    ),
}
if os.environ.get("BENCH_CONN_MAX_AGE"):
    DATABASES["default"]["CONN_MAX_AGE"] = json.loads(os.environ["BENCH_CONN_MAX_AGE"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

ACTIVEJOB = {
    "QUEUE_ADAPTER": "database",
    **json.loads(os.environ.get("BENCH_ACTIVEJOB", "{}")),
}

BENCH_SAMPLES_FILE = os.environ.get("BENCH_SAMPLES_FILE", "")
