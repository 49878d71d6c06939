"""Give jobs locked by a dead worker back to the queue, counting the lost attempt.

A worker is dead when its heartbeat is older than ``HEARTBEAT_TIMEOUT``, or
when it has no WorkerProcess row at all (its row was pruned, or it never had
one). Every running worker looks for such locks after each heartbeat, so a
job whose worker was killed with SIGKILL runs again within about
``HEARTBEAT_TIMEOUT`` seconds instead of after its max_run_time.

Each release counts as an attempt, so a job that kills its worker every time
ends up failed after its max_attempts instead of looping. Every write is
conditional on the lock it read, so two workers recovering at once count the
attempt once.
"""

from __future__ import annotations

import datetime

from django.db.models import Q

from .. import log
from ..models import DelayedJob, WorkerProcess

#: Rows recovered in one pass; the next heartbeat takes the rest.
RECOVERY_BATCH = 100


class WorkerLostError(Exception):
    """The last_error of a job whose worker died or lost its lock while the job ran."""


def lost_error(locked_by: str | None, locked_at: datetime.datetime | None, reason: str) -> str:
    """Return the last_error text for a job taken from a lost worker."""
    since = locked_at.isoformat() if locked_at else "an unknown time"
    return (
        f"django_activejob.worker.recovery.WorkerLostError: worker {locked_by!r} locked the job at "
        f"{since} and never recorded an outcome: {reason}."
    )


def recover_lost_jobs(*, using: str, now: datetime.datetime, heartbeat_timeout: datetime.timedelta,
                      max_attempts: int, destroy_failed_jobs: bool, recovered_by: str) -> int:
    """Release the locks of dead workers; return how many rows were released or failed."""
    dead_before = now - heartbeat_timeout
    alive = WorkerProcess.objects.using(using).filter(heartbeat_at__gte=dead_before).values("identifier")
    rows = list(
        DelayedJob.objects.using(using)
        .filter(failed_at__isnull=True, locked_at__lt=dead_before)
        .exclude(locked_by__in=alive)
        .only("pk", "job_id", "job_class", "attempts", "max_attempts", "locked_at", "locked_by")
        .order_by("locked_at")[:RECOVERY_BATCH]
    )
    released = 0
    for row in rows:
        reason = f"its heartbeat stopped for more than {heartbeat_timeout.total_seconds():g} s"
        if release_lost(row, using=using, now=now, max_attempts=max_attempts,
                        destroy_failed_jobs=destroy_failed_jobs, reason=reason, recovered_by=recovered_by):
            released += 1
    return released


def release_own_locks(*, using: str, identifier: str, now: datetime.datetime, max_attempts: int,
                      destroy_failed_jobs: bool) -> int:
    """Release rows locked under ``identifier`` by an earlier process that died; return the count.

    A worker calls this when it registers, so a supervisor that restarts a
    crashed worker under the same identifier frees its jobs at once.
    """
    rows = list(
        DelayedJob.objects.using(using)
        .filter(failed_at__isnull=True, locked_by=identifier)
        .only("pk", "job_id", "job_class", "attempts", "max_attempts", "locked_at", "locked_by")
    )
    released = 0
    for row in rows:
        if release_lost(row, using=using, now=now, max_attempts=max_attempts,
                        destroy_failed_jobs=destroy_failed_jobs,
                        reason="its process ended and a new worker started under the same identifier",
                        recovered_by=identifier):
            released += 1
    return released


def release_lost(row: DelayedJob, *, using: str, now: datetime.datetime, max_attempts: int,
                 destroy_failed_jobs: bool, reason: str, recovered_by: str) -> bool:
    """Count the lost attempt on ``row`` and make it ready again, or fail it when none are left.

    Returns False when the row changed since it was read (another worker
    recovered it first, or its worker recorded an outcome after all).
    """
    attempts = row.attempts + 1
    limit = row.max_attempts or max_attempts
    last_error = lost_error(row.locked_by, row.locked_at, reason)
    same_lock = DelayedJob.objects.using(using).filter(
        Q(pk=row.pk, locked_by=row.locked_by, locked_at=row.locked_at, failed_at__isnull=True)
    )
    exhausted = attempts >= limit
    if exhausted and destroy_failed_jobs:
        changed, _ = same_lock.delete()
    else:
        changed = same_lock.update(
            attempts=attempts, last_error=last_error,
            locked_at=None, locked_by=None, lock_expires_at=None,
            failed_at=now if exhausted else None, updated_at=now,
        )
    if changed:
        log.lost_job_released(row.pk, row.job_id, row.job_class, row.locked_by, attempts, limit,
                              exhausted, recovered_by)
    return bool(changed)
