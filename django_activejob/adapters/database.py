"""The database adapter: store each job as a DelayedJob row for jobs_worker."""

from __future__ import annotations

import datetime
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
        row = self._row(job, run_at=run_at)
        row.save(using=conf.get("DATABASE"), force_insert=True)
        job.provider_job_id = row.pk

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

    def _row(self, job: Job, run_at: datetime.datetime | None):
        from ..models import DelayedJob

        now = timezone.now()
        values = self._values(job, run_at or now, now, class_facts(type(job)))
        return DelayedJob(**dict(zip(ROW_FIELDS, values, strict=True)))

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
    """What every row of one job class stores: its path and its limits."""

    path: str
    max_attempts: int | None
    max_run_time: float | None


def class_facts(job_class: type[Job]) -> ClassFacts:
    """Return what rows of ``job_class`` store; raise EnqueueError if a worker couldn't load it."""
    from ..job import max_run_time_seconds

    check_importable(job_class)
    return ClassFacts(registry.class_path(job_class), job_class.max_attempts, max_run_time_seconds(job_class))


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
