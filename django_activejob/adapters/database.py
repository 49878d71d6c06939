"""The database adapter: store each job as a DelayedJob row for jobs_worker."""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.utils import timezone

from .. import conf, registry
from ..exceptions import EnqueueError
from .base import QueueAdapter

if TYPE_CHECKING:
    from ..job import Job


class DatabaseAdapter(QueueAdapter):
    """Insert a DelayedJob row on the ``ACTIVEJOB["DATABASE"]`` alias.

    The insert runs on the caller's connection, inside any open transaction,
    so a job enqueued in a block that rolls back is never stored and a
    worker can't see it before the commit.
    """

    name = "database"

    def transaction_alias(self) -> str | None:
        return conf.get("DATABASE")

    def enqueue(self, job: Job) -> None:
        self.enqueue_at(job, None)

    def enqueue_at(self, job: Job, run_at: datetime.datetime | None) -> None:
        now = timezone.now()
        values = self._values(job, run_at or now, now, class_facts(type(job)))
        job.provider_job_id = insert_row(connections[conf.get("DATABASE")], values)

    def enqueue_all(self, jobs: list[Job]) -> None:
        """Insert every job with one statement.

        On PostgreSQL with psycopg 3 the rows go in with COPY, after one
        query that takes their ids from the table's sequence. Elsewhere
        Django's bulk_create sends one INSERT, split where SQLite's variable
        limit requires.
        """
        from ..models import DelayedJob

        using = conf.get("DATABASE")
        now = timezone.now()
        # Looked up once per class for the whole call.
        facts: dict[type[Job], ClassFacts] = {}
        values = []
        for job in jobs:
            job_facts = facts.get(type(job)) or facts.setdefault(type(job), class_facts(type(job)))
            values.append(self._values(job, job.scheduled_at or now, now, job_facts))
        connection = connections[using]
        if connection.vendor == "postgresql" and copy_supported(connection):
            ids = copy_rows(connection, values)
        else:
            rows = [DelayedJob(**dict(zip(ROW_FIELDS, row, strict=True))) for row in values]
            DelayedJob.objects.using(using).bulk_create(rows)
            ids = [row.pk for row in rows]
        for job, pk in zip(jobs, ids, strict=True):
            job.provider_job_id = pk

    def _values(self, job: Job, run_at: datetime.datetime, now: datetime.datetime,
                facts: ClassFacts) -> tuple:
        """Return the job's column values in ROW_FIELDS order."""
        return (
            job.priority, encode_payload(job.serialize()), run_at, job.queue_name, now, now,
            job.job_id, facts.path, facts.max_attempts, facts.max_run_time, 0,
        )


#: The DelayedJob fields that an enqueue writes; the others are NULL. COPY sets no
#: Django defaults, so attempts is here too.
ROW_FIELDS = (
    "priority", "handler", "run_at", "queue", "created_at", "updated_at",
    "job_id", "job_class", "max_attempts", "max_run_time", "attempts",
)


@dataclass(frozen=True)
class ClassFacts:
    """The values that every row of one job class stores: its path and its limits."""

    path: str
    max_attempts: int | None
    max_run_time: float | None


def class_facts(job_class: type[Job]) -> ClassFacts:
    """Return what rows of ``job_class`` store; raise EnqueueError if a worker couldn't load it."""
    from ..job import max_run_time_seconds

    check_importable(job_class)
    return ClassFacts(registry.class_path(job_class), job_class.max_attempts, max_run_time_seconds(job_class))


def insert_row(connection: Any, values: tuple) -> int:
    """Insert one row with ``values`` in ROW_FIELDS order and return its id.

    One INSERT through Django's cursor, with each value prepared by its
    model field as Model.save() would. save() itself costs more than the
    INSERT on a fast database: its signals, field loops and SQL compiler run
    for every job, while this statement is built once per database vendor.
    DelayedJob's pre_save and post_save signals are not sent.
    """
    from ..models import DelayedJob

    meta = DelayedJob._meta
    fields = _row_fields()
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    sql = _insert_statement(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if connection.features.can_return_columns_from_insert:
            return cursor.fetchone()[0]
        return connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)


@functools.cache
def _row_fields() -> list[Any]:
    from ..models import DelayedJob

    return [DelayedJob._meta.get_field(name) for name in ROW_FIELDS]


#: The INSERT of insert_row() by database vendor and RETURNING support (MariaDB has it, MySQL not).
_INSERT_STATEMENTS: dict[tuple[str, bool], str] = {}


def _insert_statement(connection: Any) -> str:
    key = (connection.vendor, connection.features.can_return_columns_from_insert)
    sql = _INSERT_STATEMENTS.get(key)
    if sql is None:
        from ..models import DelayedJob

        meta = DelayedJob._meta
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in _row_fields())
        placeholders = ", ".join(["%s"] * len(ROW_FIELDS))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
        if key[1]:
            sql = f"{sql} RETURNING {quote(meta.pk.column)}"
        _INSERT_STATEMENTS[key] = sql
    return sql


def copy_supported(connection: Any) -> bool:
    """Return True if the connection's driver is psycopg 3, whose cursors have copy()."""
    connection.ensure_connection()
    return hasattr(connection.connection, "pipeline")


def copy_rows(connection: Any, values: list[tuple]) -> list[int]:
    """Write rows with COPY on PostgreSQL and return their ids, in order.

    The ids come first, from the table's sequence, so each job learns its
    provider_job_id without a RETURNING clause, which COPY doesn't have.
    """
    from ..models import DelayedJob

    meta = DelayedJob._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = [meta.pk.column, *(meta.get_field(name).column for name in ROW_FIELDS)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(values)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        statement = f"COPY {table} ({', '.join(quote(column) for column in columns)}) FROM STDIN"
        # The cursor wrapper converts the driver's errors for execute() only.
        with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            for pk, row in zip(ids, values, strict=True):
                copy.write_row((pk, *row))
    return ids


def encode_payload(payload: dict[str, Any]) -> str:
    """Encode a payload as ASCII-only JSON, so any column character set stores it exactly."""
    return json.dumps(payload, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def check_importable(job_class: type) -> None:
    """Raise EnqueueError for a class that a worker process could never load."""
    path = registry.class_path(job_class)
    if "<locals>" in job_class.__qualname__:
        problem = "it is defined inside a function"
    elif not registry.belongs_to_installed_app(job_class.__module__):
        problem = f"its module {job_class.__module__!r} is not part of an app in INSTALLED_APPS"
    else:
        return
    raise EnqueueError(
        f"Job class {path!r} can't be enqueued to the database, because a worker process "
        f"could not load it: {problem}. Move it to a module of an installed app, such as "
        f"myapp/jobs.py."
    )
