"""System checks for the ACTIVEJOB settings and the database that stores jobs."""

from __future__ import annotations

import difflib
import math
from typing import Any

from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connections

from . import conf
from .queues import MAX_PRIORITY, MIN_PRIORITY, validate_priority

# Upper bounds keep timed waits and date arithmetic in range: one day between
# polls, and about 31 years for a lock.
_POSITIVE_NUMBERS = {
    "SLEEP_DELAY": 86400, "MAX_RUN_TIME": 10**9, "INTERRUPT_GRACE": 86400,
    "HEARTBEAT_INTERVAL": 86400, "HEARTBEAT_TIMEOUT": 10**9,
}
_POSITIVE_INTS = ("MAX_ATTEMPTS", "MAX_ERROR_BYTES")
_BOOLS = ("DESTROY_FAILED_JOBS", "DELAY_JOBS", "LOG_ARGUMENTS", "LISTEN_NOTIFY")


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Report every invalid ``ACTIVEJOB`` key and value, with the fix."""
    errors: list = []
    user = conf.user_settings()
    if not isinstance(user, dict):
        return [Error(f"ACTIVEJOB must be a dict, not {type(user).__name__}.", id="activejob.E001")]

    for name in sorted(set(user) - set(conf.DEFAULTS)):
        close = difflib.get_close_matches(str(name), conf.DEFAULTS, n=1)
        suggestion = f"Did you mean {close[0]!r}? " if close else ""
        errors.append(Error(
            f"ACTIVEJOB[{name!r}] is not a known setting.",
            hint=f"{suggestion}Remove it, or use one of: {', '.join(sorted(conf.DEFAULTS))}.",
            id="activejob.E002",
        ))

    for name, maximum in _POSITIVE_NUMBERS.items():
        value = conf.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < maximum:
            expected = f"a number of seconds greater than 0 and less than {maximum:g}"
            errors.append(_invalid(name, value, expected))
    shutdown = conf.get("SHUTDOWN_TIMEOUT")
    if isinstance(shutdown, bool) or not isinstance(shutdown, (int, float)) or not 0 <= shutdown < 86400:
        errors.append(_invalid("SHUTDOWN_TIMEOUT", shutdown, "a number of seconds from 0 to less than 86400"))
    errors += _check_heartbeat()
    for name in _POSITIVE_INTS:
        value = conf.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(_invalid(name, value, "an int of 1 or more"))
    read_ahead = conf.get("READ_AHEAD")
    if read_ahead is not None and (
        isinstance(read_ahead, bool) or not isinstance(read_ahead, int) or read_ahead < 1
    ):
        expected = "an int of 1 or more, or None for batches sized by the worker"
        errors.append(_invalid("READ_AHEAD", read_ahead, expected))
    for name in _BOOLS:
        if not isinstance(conf.get(name), bool):
            errors.append(_invalid(name, conf.get(name), "True or False"))
    try:
        validate_priority(conf.get("DEFAULT_PRIORITY"))
    except (TypeError, ValueError):
        errors.append(_invalid("DEFAULT_PRIORITY", conf.get("DEFAULT_PRIORITY"),
                               f"an int from {MIN_PRIORITY} to {MAX_PRIORITY}"))

    if conf.get("ENQUEUE_AFTER_TRANSACTION_COMMIT") not in ("auto", True, False):
        errors.append(_invalid("ENQUEUE_AFTER_TRANSACTION_COMMIT",
                               conf.get("ENQUEUE_AFTER_TRANSACTION_COMMIT"), "'auto', True or False"))
    for name in ("QUEUE_NAME_PREFIX", "QUEUE_NAME_DELIMITER"):
        value = conf.get(name)
        if not isinstance(value, str) or value != value.strip() or "," in value:
            errors.append(_invalid(name, value, "a str without commas or surrounding whitespace"))

    errors += _check_queue_name()
    errors += _check_adapter()
    if conf.get("DATABASE") not in connections.settings:
        errors.append(_invalid("DATABASE", conf.get("DATABASE"), "an alias from DATABASES"))
    return errors


def _check_heartbeat() -> list:
    interval, timeout = conf.get("HEARTBEAT_INTERVAL"), conf.get("HEARTBEAT_TIMEOUT")
    numbers = all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in (interval, timeout)
    )
    if not numbers or timeout >= 2 * interval:
        # Wrong types are reported with the other numbers.
        return []
    return [Error(
        f"ACTIVEJOB['HEARTBEAT_TIMEOUT'] = {timeout!r} is less than twice "
        f"ACTIVEJOB['HEARTBEAT_INTERVAL'] = {interval!r}, so one late heartbeat would make a live "
        f"worker look dead and its running job would run a second time.",
        hint=f"Set HEARTBEAT_TIMEOUT to at least {2 * interval:g}; six times the interval is a good value.",
        id="activejob.E007",
    )]


def _invalid(name: str, value: Any, expected: str) -> Error:
    return Error(
        f"ACTIVEJOB[{name!r}] = {value!r} is invalid.",
        hint=f"Set it to {expected}.",
        id="activejob.E003",
    )


def _check_queue_name() -> list:
    from .queues import validate_queue_name

    try:
        validate_queue_name(conf.get("DEFAULT_QUEUE_NAME"))
    except (TypeError, ValueError) as exc:
        return [Error(str(exc), hint="Fix ACTIVEJOB['DEFAULT_QUEUE_NAME'].", id="activejob.E004")]
    return []


def _check_adapter() -> list:
    from django.core.exceptions import ImproperlyConfigured

    from .adapters import resolve_adapter

    try:
        resolve_adapter(conf.get("QUEUE_ADAPTER"))
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Fix ACTIVEJOB['QUEUE_ADAPTER'].", id="activejob.E005")]
    return []


@register(Tags.database)
def check_mysql_charset(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """Warn when the DelayedJob table on MySQL/MariaDB is not utf8mb4.

    The handler is ASCII, so jobs always load. But last_error can't keep
    characters such as emoji in a 3-byte utf8 table, so the worker escapes them.
    """
    from .models import DelayedJob

    alias = conf.get("DATABASE")
    if databases is None or alias not in databases or connections[alias].vendor != "mysql":
        return []
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT CCSA.character_set_name FROM information_schema.TABLES T "
                "JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA "
                "ON CCSA.collation_name = T.table_collation "
                "WHERE T.table_schema = DATABASE() AND T.table_name = %s",
                [DelayedJob._meta.db_table],
            )
            row = cursor.fetchone()
    except DatabaseError:
        return []
    if row is None or row[0] == "utf8mb4":
        return []
    return [Warning(
        f"The {DelayedJob._meta.db_table} table uses the {row[0]} character set, which can't "
        f"store 4-byte UTF-8 characters such as emoji in last_error.",
        hint=f"ALTER TABLE {DelayedJob._meta.db_table} CONVERT TO CHARACTER SET utf8mb4 "
             f"COLLATE utf8mb4_unicode_ci;",
        id="activejob.W001",
    )]


@register(Tags.database)
def check_sqlite_settings(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """Warn when a file SQLite database lacks the settings that concurrent workers and requests need.

    Workers switch the file to WAL mode when they start. What they can't
    change is how the web process opens its transactions: a deferred
    transaction that reads and then writes fails at once with "database is
    locked" when a worker wrote in between.
    """
    alias = conf.get("DATABASE")
    if databases is None or alias not in databases or connections[alias].vendor != "sqlite":
        return []
    settings_dict = connections[alias].settings_dict
    if connections[alias].is_in_memory_db():
        return []
    options = settings_dict.get("OPTIONS", {})
    warnings = []
    if options.get("transaction_mode") != "IMMEDIATE":
        warnings.append(Warning(
            f"The SQLite database {alias!r} opens deferred transactions, so an enqueue inside "
            f"transaction.atomic() can fail with 'database is locked' while a worker writes.",
            hint=f"Add 'transaction_mode': 'IMMEDIATE' to DATABASES[{alias!r}]['OPTIONS'].",
            id="activejob.W002",
        ))
    timeout = options.get("timeout", 5)
    if not isinstance(timeout, (int, float)) or timeout < 5:
        warnings.append(Warning(
            f"The SQLite database {alias!r} waits only {timeout!r} s for the write lock; workers, "
            f"heartbeats and requests share that lock.",
            hint=f"Set DATABASES[{alias!r}]['OPTIONS']['timeout'] to 5 or more (seconds), or leave it out.",
            id="activejob.W003",
        ))
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
    except DatabaseError:
        return warnings
    if mode.lower() != "wal":
        warnings.append(Warning(
            f"The SQLite database {alias!r} is in {mode} journal mode, in which readers and the "
            f"writer block each other. jobs_worker switches it to WAL when it starts.",
            hint=f"Add 'init_command': 'PRAGMA journal_mode=WAL;' to DATABASES[{alias!r}]['OPTIONS'], "
                 f"or run jobs_worker once.",
            id="activejob.W004",
        ))
    return warnings


@register(Tags.compatibility)
def check_serializers(app_configs: Any = None, **kwargs: Any) -> list:
    """Report every ``ACTIVEJOB["SERIALIZERS"]`` entry that can't be loaded or clashes with another's tag."""
    from .serialization import find_serializer_setting_errors

    if not isinstance(conf.user_settings(), dict):
        # check_settings reports E001 for this.
        return []
    return [
        Error(error.message, hint=error.hint, id="activejob.E006")
        for error in find_serializer_setting_errors(conf.get("SERIALIZERS"))
    ]


@register(Tags.compatibility)
def check_mail_delivery(app_configs: Any = None, **kwargs: Any) -> list:
    """Report invalid mail delivery settings, and a delivery backend that would enqueue again."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    from .mail import delivery

    user = conf.user_settings()
    if not isinstance(user, dict):
        # check_settings reports E001 for this.
        return []
    backend = conf.get("MAIL_DELIVERY_BACKEND")
    mailer = conf.get("MAIL_DELIVERY_MAILER")
    errors: list = []
    if backend is not None and (not isinstance(backend, str) or not backend):
        errors.append(Error(
            f"ACTIVEJOB['MAIL_DELIVERY_BACKEND'] = {backend!r} is invalid.",
            hint="Set it to the dotted path of an email backend, or None to use EMAIL_BACKEND.",
            id="activejob.E010",
        ))
    if not isinstance(mailer, str) or not mailer:
        errors.append(Error(
            f"ACTIVEJOB['MAIL_DELIVERY_MAILER'] = {mailer!r} is invalid.",
            hint="Set it to an alias from MAILERS.",
            id="activejob.E011",
        ))
    if errors:
        return errors

    if delivery.uses_mailers():
        if backend is not None:
            errors.append(Warning(
                "ACTIVEJOB['MAIL_DELIVERY_BACKEND'] is ignored, because MAILERS is set.",
                hint="Remove it, and set ACTIVEJOB['MAIL_DELIVERY_MAILER'] to the alias of the "
                     "mailer that MailDeliveryJob sends through.",
                id="activejob.W010",
            ))
        if mailer not in settings.MAILERS:
            # Django's own checks report a missing "default" mailer, so only a chosen alias is checked.
            if "MAIL_DELIVERY_MAILER" in user:
                errors.append(Error(
                    f"ACTIVEJOB['MAIL_DELIVERY_MAILER'] = {mailer!r} is not an alias in MAILERS.",
                    hint=f"Set it to one of {sorted(settings.MAILERS)}.",
                    id="activejob.E011",
                ))
            return errors

    path = delivery.delivery_backend_path()
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        errors.append(Error(
            f"The email backend {path!r} that MailDeliveryJob sends through could not be imported: {exc}",
            hint=f"Fix {delivery.delivery_setting()}.",
            id="activejob.E010",
        ))
        return errors
    try:
        delivery.reject_job_backend(backend_class)
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="activejob.E012"))
    return errors


@register(Tags.compatibility)
def check_async_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Report invalid ``ASYNC_MAX_THREADS`` and ``ASYNC_SHUTDOWN_TIMEOUT`` values for the async adapter."""
    if not isinstance(conf.user_settings(), dict):
        # check_settings reports E001 for this.
        return []
    errors = []
    threads = conf.get("ASYNC_MAX_THREADS")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        errors.append(Error(
            f"ACTIVEJOB['ASYNC_MAX_THREADS'] = {threads!r} is invalid.",
            hint="Set it to an int of 1 or more, or None for the number of CPUs.",
            id="activejob.E020",
        ))
    timeout = conf.get("ASYNC_SHUTDOWN_TIMEOUT")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < math.inf:
        errors.append(Error(
            f"ACTIVEJOB['ASYNC_SHUTDOWN_TIMEOUT'] = {timeout!r} is invalid.",
            hint="Set it to a finite number of seconds, 0 or more.",
            id="activejob.E021",
        ))
    return errors
