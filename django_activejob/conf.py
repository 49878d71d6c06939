"""The ``ACTIVEJOB`` settings dict and its defaults.

Settings are read when needed, never at import time, so ``override_settings``
works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

#: Defaults follow delayed_job where it has the same setting.
DEFAULTS: dict[str, Any] = {
    # "database", "inline", "async", "test", or the dotted path of a QueueAdapter subclass.
    "QUEUE_ADAPTER": "database",
    # The database alias of the DelayedJob table.
    "DATABASE": "default",
    "SERIALIZERS": [],  # dotted paths of ArgumentSerializer subclasses, tried before the built-ins
    "DEFAULT_QUEUE_NAME": "default",
    "DEFAULT_PRIORITY": 0,
    "MAX_ATTEMPTS": 25,
    # Seconds a job may hold its lock before other workers treat it as stale.
    "MAX_RUN_TIME": 4 * 60 * 60,
    # Seconds an idle worker waits between polls.
    "SLEEP_DELAY": 5.0,
    # Rows a worker reserves in one query; None sizes each batch to about 0.1 s of work (at most 100).
    "READ_AHEAD": None,
    # Seconds a stopping worker lets its running job finish before it interrupts it.
    "SHUTDOWN_TIMEOUT": 25.0,
    # Seconds an interrupted job (timed out or stopped) gets to unwind before its process exits.
    "INTERRUPT_GRACE": 10.0,
    # Seconds between a worker's heartbeats, and the age after which a silent worker counts as dead.
    "HEARTBEAT_INTERVAL": 10.0,
    "HEARTBEAT_TIMEOUT": 60.0,
    # On PostgreSQL, wake idle workers with LISTEN/NOTIFY instead of waiting for the next poll.
    "LISTEN_NOTIFY": True,
    # Delete a row that has used up max_attempts instead of setting failed_at.
    "DESTROY_FAILED_JOBS": False,
    # False runs every perform_later inline, as delayed_job's delay_jobs does.
    "DELAY_JOBS": True,
    # Cap on the UTF-8 size of the stored last_error; the tail is kept.
    "MAX_ERROR_BYTES": 64 * 1024,
    # "auto": wait for the commit only with adapters that can't write through
    # the default database's transaction. True: always wait. False: never.
    "ENQUEUE_AFTER_TRANSACTION_COMMIT": "auto",
    # Put job arguments in log lines; False for projects whose arguments carry secrets.
    "LOG_ARGUMENTS": True,
    # Prepended with the delimiter to every queue name, e.g. "shop" makes "shop_default".
    "QUEUE_NAME_PREFIX": "",
    "QUEUE_NAME_DELIMITER": "_",
    "ASYNC_MAX_THREADS": None,  # pool size of the async adapter; None uses the number of CPUs
    "ASYNC_SHUTDOWN_TIMEOUT": 10.0,  # seconds the async adapter waits for running jobs at exit
    # Backend path MailDeliveryJob sends through when MAILERS is not set; None uses EMAIL_BACKEND.
    "MAIL_DELIVERY_BACKEND": None,
    # MAILERS alias MailDeliveryJob sends through on Django 6.1+ when MAILERS is set.
    "MAIL_DELIVERY_MAILER": "default",
}


def get(name: str) -> Any:
    """Return the ``ACTIVEJOB[name]`` setting, or its default."""
    user = getattr(settings, "ACTIVEJOB", None) or {}
    if name in user:
        return user[name]
    return DEFAULTS[name]


def user_settings() -> dict[str, Any]:
    """Return the ``ACTIVEJOB`` dict as the project set it."""
    value = getattr(settings, "ACTIVEJOB", None)
    return {} if value is None else value
