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
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django_activejob",
    "bench.benchapp",
]

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
