"""Load one reserved row into a job and perform it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import log
from ..exceptions import InvalidPayloadError
from ..job import Job
from ..models import DelayedJob


@dataclass
class Execution:
    """What happened when a worker ran one row."""

    job: Job | None
    error: Exception | None = None
    #: True when the payload can never load, so retrying is pointless.
    permanent: bool = False


def execute(row: DelayedJob) -> Execution:
    """Perform the job stored in ``row``; return the job and any exception.

    Never raises an Exception: a bad payload, an argument that can't be
    loaded and an error from ``perform`` all come back in the result, so one
    row can't stop the worker.
    """
    try:
        payload = json.loads(row.handler)
    except ValueError as exc:
        error = InvalidPayloadError(f"The handler is not valid JSON ({exc}); it can't be deserialized.")
        log.job_unloadable(row.pk, row.job_id, error)
        return Execution(job=None, error=error, permanent=True)

    try:
        job = Job.instantiate(payload)
    except InvalidPayloadError as exc:
        log.job_unloadable(row.pk, row.job_id, exc)
        return Execution(job=None, error=exc, permanent=True)
    job.provider_job_id = row.pk
    job.adapter_name = "database"
    # Worker retries keep the stored payload, so count their executions here.
    job.executions += row.attempts

    try:
        job.perform_now()
    except Exception as exc:
        # A malformed argument in the payload will never load; a missing row
        # or a database error while loading a model may go away.
        return Execution(job=job, error=exc, permanent=isinstance(exc, InvalidPayloadError))
    return Execution(job=job)
