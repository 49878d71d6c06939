"""perform_all_later: enqueue many jobs with one call per adapter."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone, translation

from . import signals
from .adapters import QueueAdapter
from .job import Job, current_zone_name
from .scheduling import check_scheduling, run_time
from .serialization import serialize_arguments


def perform_all_later(jobs: Iterable[Job]) -> int:
    """Enqueue many job instances at once and return how many were enqueued.

    Build each job with its arguments and, if needed, ``.set(...)``::

        perform_all_later([ResizeJob(image) for image in images])
        perform_all_later([ReminderJob(user).set(wait=3600) for user in users])

    Each adapter gets its jobs in one call; the database adapter writes them
    with one INSERT. As in Rails, enqueue callbacks don't run. Each job's
    ``successfully_enqueued`` and ``provider_job_id`` are set. Jobs for
    adapters that can't write through the default database's transaction
    wait for the commit, as with ``perform_later``.
    """
    jobs = list(jobs)
    groups: dict[int, tuple[QueueAdapter, list[Job]]] = {}
    # Read once for the whole call: they are the same for every job in it.
    locale = translation.get_language()
    zone = current_zone_name()
    adapters: dict[type[Job], QueueAdapter] = {}
    for job in jobs:
        if not isinstance(job, Job):
            raise TypeError(f"perform_all_later() takes Job instances, not {job!r}.")
        job._apply_options()
        no_delay = job._wait is None and job._wait_until is None
        job.scheduled_at = None if no_delay else run_time(job._wait, job._wait_until)
        job.locale = locale
        job.timezone = zone
        job_class = type(job)
        adapter = adapters.get(job_class)
        if adapter is None:
            adapter = adapters[job_class] = job.adapter()
        check_scheduling(adapter, job)
        groups.setdefault(id(adapter), (adapter, []))[1].append(job)

    for adapter, group in groups.values():
        if any(job.defers_enqueue(adapter) for job in group):
            for job in group:
                job._arguments_at_enqueue = serialize_arguments(job.arguments, job.kwargs)
            transaction.on_commit(lambda a=adapter, g=group: _hand_all_to(a, g), using=DEFAULT_DB_ALIAS)
        else:
            _hand_all_to(adapter, group)
    return len(jobs)


def _hand_all_to(adapter: QueueAdapter, jobs: list[Job]) -> None:
    now = timezone.now()
    for job in jobs:
        job.enqueued_at = now
    adapter.enqueue_all(jobs)
    for job in jobs:
        job.successfully_enqueued = True
        job._arguments_at_enqueue = None
    for receiver, response in signals.jobs_enqueued_all.send_robust(Job, jobs=jobs, adapter=adapter):
        if isinstance(response, Exception):
            signals.logger.error(
                "Signal receiver %r failed for perform_all_later: %s: %s",
                receiver, type(response).__name__, response, exc_info=response,
            )
