"""Signals sent as jobs move through their life.

Every signal is sent with ``sender`` set to the job's class and ``job`` set
to the job instance. django_activejob's own log lines are written by
receivers of these signals, in ``django_activejob.log``.
"""

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("django_activejob")

#: A job was handed to its queue adapter. Extra: ``adapter``.
job_enqueued = Signal()

#: A job is about to perform.
job_started = Signal()

#: A job's perform returned. Extra: ``duration`` (seconds, float).
job_performed = Signal()

#: An exception left a job's perform_now: no handler took it, or retry_on
#: ran out of attempts without a handler. Extra: ``exception``, ``duration``.
job_failed = Signal()

#: A before or around callback stopped an enqueue or a perform. Extra:
#: ``event`` ("enqueue" or "perform").
job_halted = Signal()

#: retry_on enqueued the job again. Extra: ``exception``, ``wait`` (timedelta).
job_retry_scheduled = Signal()

#: retry_on used up its attempts. Extra: ``exception``.
job_retry_stopped = Signal()

#: discard_on dropped the job. Extra: ``exception``.
job_discarded = Signal()

#: perform_all_later handed jobs to one adapter. Sent with ``sender`` set to
#: Job and ``jobs`` (a list) instead of ``job``. Extra: ``adapter``.
jobs_enqueued_all = Signal()


def emit(signal: Signal, job: Any, **extra: Any) -> None:
    """Send a job signal with ``sender=type(job)``; log a receiver's exception instead of raising it.

    A receiver that fails (a metrics client that is down) must not turn a
    performed job into a failed one, which the worker would run again.
    """
    for receiver, response in signal.send_robust(type(job), job=job, **extra):
        if isinstance(response, Exception):
            logger.error(
                "Signal receiver %r failed for %s (Job ID: %s): %s: %s",
                receiver, type(job).__name__, job.job_id, type(response).__name__, response,
                exc_info=response,
            )
