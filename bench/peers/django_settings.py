"""Django settings for the Django-based peers, django-tasks-db and django-q2.

Everything not set here is Django's default, CONN_MAX_AGE = 0 among them,
unless PEERS_CONN_MAX_AGE is "None" (persistent connections) or a number of seconds.
"""

from __future__ import annotations

import os
import warnings

from bench.peers import servers

_conn_max_age = os.environ.get("PEERS_CONN_MAX_AGE", "0")

SECRET_KEY = "bench-peers-not-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_tasks_db", "django_q"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": servers.POSTGRES_HOST,
        "PORT": servers.POSTGRES_PORT,
        "USER": servers.POSTGRES_USER,
        "NAME": servers.POSTGRES_DATABASE,
        "CONN_MAX_AGE": None if _conn_max_age == "None" else int(_conn_max_age),
    }
}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# The ORM broker on the same database, with one worker process per core of the 2-core host.
Q_CLUSTER = {"name": "bench-peers", "workers": 2, "orm": "default"}
# django-q2 1.11 warns on every start unless "timeout" is set, and its default is None (no timeout).
warnings.filterwarnings("ignore", message="Retry and timeout are misconfigured")
