"""The database adapter: store each job as a DelayedJob row for jobs_worker."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

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
        row = self._row(job, run_at=None)
        row.save(using=conf.get("DATABASE"), force_insert=True)
        job.provider_job_id = row.pk

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        row = self._row(job, run_at=run_at)
        row.save(using=conf.get("DATABASE"), force_insert=True)
        job.provider_job_id = row.pk

    def enqueue_all(self, jobs: list[Job]) -> None:
        """Insert every job with one INSERT (Django splits it where SQLite's variable limit requires)."""
        from ..models import DelayedJob

        rows = [self._row(job, run_at=job.scheduled_at) for job in jobs]
        DelayedJob.objects.using(conf.get("DATABASE")).bulk_create(rows)
        for job, row in zip(jobs, rows, strict=True):
            job.provider_job_id = row.pk

    def _row(self, job: Job, run_at: datetime.datetime | None):
        from ..job import max_run_time_seconds
        from ..models import DelayedJob

        check_importable(type(job))
        now = timezone.now()
        return DelayedJob(
            priority=job.priority,
            handler=encode_payload(job.serialize()),
            run_at=run_at or now,
            queue=job.queue_name,
            created_at=now,
            updated_at=now,
            job_id=job.job_id,
            job_class=registry.class_path(type(job)),
            max_attempts=type(job).max_attempts,
            max_run_time=max_run_time_seconds(type(job)),
        )


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
