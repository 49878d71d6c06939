"""Test settings: the demo project plus a test app, on DATABASE_URL.

The suite runs on SQLite (default), PostgreSQL or MySQL/MariaDB, chosen by
DATABASE_URL. Worker subprocesses started by the tests import these settings
with ACTIVEJOB_TEST_WORKER=1, which points them at the test database that
pytest-django created instead of the one named in DATABASE_URL.
"""

import json
import os

from demo_project.settings import *  # noqa: F403
from demo_project.settings import BASE_DIR, DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

_database = DATABASES["default"]
if _database["ENGINE"].endswith("sqlite3"):
    # A file, not pytest-django's in-memory default, so worker processes share
    # it. The name carries the pytest process id, so parallel runs don't share
    # a file; worker processes inherit it through the environment.
    (BASE_DIR.parent / "tests" / "var").mkdir(exist_ok=True)
    _test_name = os.environ.setdefault(
        "ACTIVEJOB_TEST_SQLITE_NAME", str(BASE_DIR.parent / "tests" / "var" / f"test-{os.getpid()}.sqlite3")
    )
else:
    _test_name = "test_" + _database["NAME"]
_database.setdefault("TEST", {})["NAME"] = _test_name
if os.environ.get("ACTIVEJOB_TEST_WORKER"):
    _database["NAME"] = _test_name

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SITE_URL = "http://testserver"

ACTIVEJOB = {
    "QUEUE_ADAPTER": "database",
    "SLEEP_DELAY": 0.1,
    # Worker subprocesses take extra settings as JSON, e.g. short heartbeats.
    **json.loads(os.environ.get("ACTIVEJOB_TEST_SETTINGS", "{}")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_activejob": {"handlers": ["console"], "level": "INFO"}},
}
