"""Load one reserved row into a job and perform it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import log
from ..exceptions import InvalidPayloadError
from ..job import Job
from ..models import DelayedJob


class JobExitError(Exception):
    """The last_error of a job whose code called sys.exit()."""


@dataclass
class Execution:
    """The outcome of one row's run: the job, if it loaded, and the exception, if any."""

    job: Job | None
    error: Exception | None = None
    #: True when the payload can never load, so retrying is pointless.
    permanent: bool = False
    #: True when the job was interrupted from outside, so another worker may take it at once.
    retry_now: bool = False


def execute(row: DelayedJob) -> Execution:
    """Perform the job stored in ``row``; return the job and any exception.

    Raises no Exception subclass: a bad payload, an argument that can't be
    loaded, an error from ``perform`` and a call to sys.exit() all come back
    in the result, so one row can't stop the worker. Other BaseExceptions,
    such as a forced stop or KeyboardInterrupt, pass.
    """
    try:
        payload = json.loads(row.handler)
    except ValueError as exc:
        error = InvalidPayloadError(f"The handler is not valid JSON ({exc}); it can't be deserialized.")
        log.job_unloadable(row.pk, row.job_id, error)
        return Execution(job=None, error=error, permanent=True)

    try:
        job = Job.instantiate(payload)
    except Exception as exc:
        # Any error here comes from the payload's shape, which won't change.
        error = exc if isinstance(exc, InvalidPayloadError) else InvalidPayloadError(
            f"The payload can't be loaded: {type(exc).__name__}: {exc}"
        )
        log.job_unloadable(row.pk, row.job_id, error)
        return Execution(job=None, error=error, permanent=True)
    job.provider_job_id = row.pk
    job.adapter_name = "database"
    # Worker retries keep the stored payload, so count their executions here.
    job.executions += row.attempts

    try:
        job.perform_now()
    except SystemExit as exc:
        # sys.exit() in job code ends this job, not the worker.
        error = JobExitError(f"perform() called sys.exit({exc.code!r})")
        error.__cause__ = exc
        return Execution(job=job, error=error)
    except Exception as exc:
        # A malformed argument in the payload will never load; a missing row
        # or a database error while loading a model may go away.
        return Execution(job=job, error=exc, permanent=isinstance(exc, InvalidPayloadError))
    return Execution(job=job)
