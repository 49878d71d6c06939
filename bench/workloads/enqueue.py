"""Enqueue throughput: JOBS no-op jobs, one at a time and all at once, with no worker running.

Three variants run against the same table, one process, in one run:

- ``perform_later``: ``NoopJob.perform_later(number)`` JOBS times, each in its
  own transaction (Django's autocommit), as a view that enqueues one job does.
- ``perform_all_later``: ``perform_all_later([NoopJob(number), ...])`` once,
  building the jobs included.
- ``orm_create``: ``DelayedJob.objects.create(...)`` JOBS times with the
  column values of an enqueued job, computed beforehand: the bare Django ORM
  insert that perform_later is measured against.

A run reports jobs per second. The ``perform_later`` row also reports its
share of the ``orm_create`` figure of the same run, so drift in the host's
speed between runs cancels out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import MeasurementError, Target

if TYPE_CHECKING:
    from bench.session import Session

TITLE = f"Enqueue: {10_000:,} no-op jobs with one int argument, one process, no worker running"
METRICS = [("jobs_s", "jobs/s"), ("share_of_orm_pct", "% of ORM insert")]
VARIANT_HEADER = "Call"
TARGETS = [
    Target(database="postgres", variant="perform_all_later", metric="jobs_s", above=50_000,
           description="perform_all_later at least 50,000 jobs/s on PostgreSQL"),
    Target(database="postgres", variant="perform_later", metric="share_of_orm_pct", above=90.0,
           description="perform_later within 10 % of a bare ORM insert on PostgreSQL"),
]

JOBS = 10_000


@dataclass(frozen=True)
class Variant:
    key: str
    label: str


VARIANTS = [
    Variant("perform_later", "NoopJob.perform_later(n), one at a time"),
    Variant("perform_all_later", "perform_all_later([NoopJob(n), ...]), one call"),
    Variant("orm_create", "DelayedJob.objects.create(...), one at a time (baseline)"),
]


def variants(vendor: str) -> list[Variant]:
    return VARIANTS


def measure(variant: Variant, session: Session) -> dict[str, Any]:
    from bench import databases

    databases.clear_queue()
    if variant.key == "orm_create":
        return {"jobs_s": orm_create_rate()}

    seconds = enqueue(variant.key)
    count_rows(JOBS)
    result: dict[str, Any] = {"jobs_s": JOBS / seconds}
    if variant.key == "perform_later":
        # The baseline right after, on a table of the same size, so both see the same host.
        databases.clear_queue()
        orm_rate = orm_create_rate()
        result["orm_jobs_s"] = orm_rate
        result["share_of_orm_pct"] = 100 * result["jobs_s"] / orm_rate
    return result


def enqueue(how: str) -> float:
    """Enqueue JOBS NoopJobs with perform_later or perform_all_later; return the seconds it took."""
    from bench.benchapp.jobs import NoopJob
    from django_activejob import perform_all_later

    started = time.perf_counter()
    if how == "perform_later":
        for number in range(JOBS):
            NoopJob.perform_later(number)
    else:
        perform_all_later([NoopJob(number) for number in range(JOBS)])
    return time.perf_counter() - started


def orm_create_rate() -> float:
    """Insert JOBS DelayedJob rows with objects.create(); return rows per second.

    The values are those of an enqueued NoopJob, computed before the clock
    starts, so only the ORM and the database are timed.
    """
    import uuid

    from django.utils import timezone

    from bench.benchapp.jobs import NoopJob
    from django_activejob.adapters.database import encode_payload
    from django_activejob.models import DelayedJob

    job = NoopJob(0)
    job._apply_options()
    handler = encode_payload(job.serialize())
    path = f"{NoopJob.__module__}.{NoopJob.__qualname__}"
    job_ids = [uuid.uuid4() for _ in range(JOBS)]

    started = time.perf_counter()
    for job_id in job_ids:
        now = timezone.now()
        DelayedJob.objects.create(
            priority=0, handler=handler, run_at=now, queue="default", created_at=now,
            updated_at=now, job_id=job_id, job_class=path,
        )
    seconds = time.perf_counter() - started
    count_rows(JOBS)
    return JOBS / seconds


def count_rows(expected: int) -> None:
    from django_activejob.models import DelayedJob

    stored = DelayedJob.objects.count()
    if stored != expected:
        raise MeasurementError(f"{stored} rows stored instead of {expected}.")
